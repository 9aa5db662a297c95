"""Requests the notes services refuse; each message is safe to show to the staff member who asked."""


class NoteError(Exception):
    """A notes request that cannot be done as asked; `status` is the HTTP answer the pages give."""

    status = 409


class NoteNotFound(NoteError):
    """No such consultation or note, or one the requester may not see: the same answer for both."""

    status = 404


class StaleDraft(NoteError):
    """The draft changed (or was signed) after the form was opened: saving would lose someone's text."""


class DraftAlreadyOpen(NoteError):
    """An amendment was asked for while a draft is still open."""


class NothingToAmend(NoteError):
    """An amendment was asked for before any version was signed."""


class NotDraftAuthor(NoteError):
    """Only a draft's author may change or sign it."""

    status = 403


class UnreadableVersion(NoteError):
    """The version a change starts from, or writes over, cannot be read: the change would lose its text."""


class DraftReadable(NoteError):
    """A draft that a key opens was asked to be discarded: only one no key opens may be."""
