"""Writing notes: save a draft (and sign it), start an amendment of the signed note, discard a draft that
no notes key opens.

Each is one write transaction that locks the consultation (so two saves of one note take turns),
checks the access rule first, and records its audit events with ids, versions and field names only.
A save names the draft it was made from (`ExpectedDraft`): if that draft has changed or been signed
since, the save is refused (StaleDraft) rather than silently replacing someone's text; unless it is that
change itself, sent again (a double click), which is answered as done and writes nothing more.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from .. import audit
from ..models import Consultation, ConsultationNote, NoteStatus
from ..models.transactions import write_transaction
from ..staff.members import StaffMember
from .access import consultation_for, keeps_draft
from .content import FIELDS, InvalidNote, SoapNote
from .encryption import ASK_IT
from .errors import (
    DraftAlreadyOpen,
    DraftReadable,
    NotDraftAuthor,
    NothingToAmend,
    StaleDraft,
    UnreadableVersion,
)
from .history import note_rows
from .settings import NotesSettings


@dataclass(frozen=True)
class ExpectedDraft:
    """The draft a form was filled in from: its id and revision; (None, 0) for a note not yet started."""

    note_id: int | None = None
    revision: int = 0


@dataclass(frozen=True)
class Saved:
    note_id: int
    version: int


def save_note(
    session: Session,
    consultation_id: int,
    content: SoapNote,
    expected: ExpectedDraft,
    *,
    sign: bool = False,
    requester: StaffMember,
    settings: NotesSettings,
    now: datetime,
) -> Saved:
    """Save `content` as the consultation's draft (starting the note if there is none yet) and, with
    `sign`, sign it: from then on it is locked. An empty note is not signed."""
    with write_transaction(session):
        consultation = consultation_for(
            session, consultation_id, requester, settings.granted_roles, lock=True
        )
        if sign and content.is_empty:
            raise InvalidNote({FIELDS[0]: "Write at least one of the four parts before signing the note."})
        rows = note_rows(session, consultation.id)
        if (done := _repeated(rows, content, expected, sign, requester, settings)) is not None:
            return Saved(done.id, done.version)
        draft = _write_draft(session, consultation, rows, content, expected, requester, settings, now)
        if sign:
            draft.status = NoteStatus.SIGNED
            draft.signed_at = now
            draft.signed_by_id = requester.id
            session.flush()
            _record(session, requester, "note.signed", draft, now, amends_id=draft.amends_id)
        return Saved(draft.id, draft.version)


def start_amendment(
    session: Session,
    consultation_id: int,
    *,
    requester: StaffMember,
    settings: NotesSettings,
    now: datetime,
    afresh_if_unreadable: bool = False,
) -> Saved:
    """Open a draft that corrects the latest signed version, starting from its text; with
    `afresh_if_unreadable`, from an empty note if no key opens that text (the version stays as it is).
    Asked again (a double click) once the requester's amendment of that version is open, that amendment
    is the answer."""
    with write_transaction(session):
        consultation = consultation_for(
            session, consultation_id, requester, settings.granted_roles, lock=True
        )
        rows = note_rows(session, consultation.id)
        open_draft = next((row for row in rows if row.status is NoteStatus.DRAFT), None)
        latest_signed = next((row for row in reversed(rows) if row.status is NoteStatus.SIGNED), None)
        if (
            open_draft is not None
            and latest_signed is not None
            and open_draft.amends_id == latest_signed.id
            and open_draft.author_id == requester.id
        ):
            return Saved(open_draft.id, open_draft.version)
        if open_draft is not None:
            raise DraftAlreadyOpen("A draft of this note is already open: sign it before starting another.")
        if latest_signed is None:
            raise NothingToAmend("There is no signed note to amend yet.")
        latest = latest_signed
        unread = {}
        if afresh_if_unreadable and settings.cipher.read_if_readable(latest) is None:
            text, unread = SoapNote(), {"unread": True}  # the corrector never saw what they correct
        else:
            text = _text_of(
                latest,
                settings,
                f"Version {latest.version}, the current note, cannot be read with the notes keys this server "
                "has, so it cannot be amended from its text: write an amendment from an empty note instead.",
            )
        amendment = _new_version(consultation, rows, requester, now, amends_id=latest.id)
        settings.cipher.write(amendment, text)
        session.add(amendment)
        session.flush()
        _record(session, requester, "note.amended", amendment, now, amends_id=latest.id, **unread)
        return Saved(amendment.id, amendment.version)


def discard_unreadable_draft(
    session: Session,
    consultation_id: int,
    draft_id: int | None,
    *,
    requester: StaffMember,
    settings: NotesSettings,
    now: datetime,
) -> Saved:
    """Set aside the open draft `draft_id` that no notes key opens, so the note can go on: it stays stored
    as it is (should its key be found) but never joins the record. Only who keeps the draft may, and only
    while no key opens it; a signed version is never touched."""
    with write_transaction(session):
        consultation = consultation_for(
            session, consultation_id, requester, settings.granted_roles, lock=True
        )
        draft = next(
            (row for row in note_rows(session, consultation.id) if row.status is NoteStatus.DRAFT), None
        )
        if draft is None or draft.id != draft_id:
            raise StaleDraft(
                "That draft is no longer open (it was signed or discarded): nothing was changed."
            )
        if not keeps_draft(requester, draft.author, consultation, settings.granted_roles):
            raise NotDraftAuthor(f"Only {draft.author.display_name}, who started this draft, may discard it.")
        if settings.cipher.read_if_readable(draft) is not None:
            raise DraftReadable("This draft can be read: change it and sign it. Nothing was changed.")
        taken_over = {} if draft.author_id == requester.id else {"taken_over_from": draft.author_id}
        draft.author_id = requester.id  # who discarded it, as the page says
        draft.status = NoteStatus.DISCARDED
        draft.updated_at = now
        session.flush()
        _record(session, requester, "note.draft_discarded", draft, now, **taken_over)
        return Saved(draft.id, draft.version)


def _repeated(
    rows: list[ConsultationNote],
    content: SoapNote,
    expected: ExpectedDraft,
    sign: bool,
    requester: StaffMember,
    settings: NotesSettings,
) -> ConsultationNote | None:
    """The version this very save (or sign) already made, if it is a form sent again (a double click): the
    draft it was filled in from saved once since, by the requester, with this text (and signed by them, for
    a sign). None for anything else, which is written or refused as stale."""
    if expected.note_id is None:  # the note's first version, not counting a draft discarded before it
        made = next((r for r in rows if r.status is not NoteStatus.DISCARDED and r.amends_id is None), None)
    else:
        made = next((row for row in rows if row.id == expected.note_id), None)
    if made is None or made.revision != expected.revision + 1 or made.author_id != requester.id:
        return None
    wanted = NoteStatus.SIGNED if sign else NoteStatus.DRAFT
    if made.status is not wanted or (sign and made.signed_by_id != requester.id):
        return None
    return made if settings.cipher.read_if_readable(made) == content else None


def _write_draft(
    session: Session,
    consultation: Consultation,
    rows: list[ConsultationNote],
    content: SoapNote,
    expected: ExpectedDraft,
    requester: StaffMember,
    settings: NotesSettings,
    now: datetime,
) -> ConsultationNote:
    """Write `content` into the open draft (made first if the note is not yet started) and audit it;
    `rows`: every version of the note, as `note_rows` reads them."""
    draft = next((row for row in rows if row.status is NoteStatus.DRAFT), None)
    _check_expected(draft, any(row.status is NoteStatus.SIGNED for row in rows), expected)
    if draft is None:
        draft = _new_version(consultation, rows, requester, now)
        session.add(draft)
        before = None
    elif not keeps_draft(requester, draft.author, consultation, settings.granted_roles):
        raise NotDraftAuthor(
            f"Only {draft.author.display_name}, who started this draft, may change or sign it."
        )
    else:
        before = _text_of(
            draft,
            settings,
            f"This draft (version {draft.version}) cannot be read with the notes keys this server has, so "
            "your text was not saved over it: copy what you need from the form below.",
        )
        draft.revision += 1
    taken_over = {}
    if draft.author_id != requester.id:  # its author may no longer open these notes: the requester's now
        taken_over = {"taken_over_from": draft.author_id}
        draft.author_id = requester.id
    settings.cipher.write(draft, content)
    draft.updated_at = now
    session.flush()
    fields = content.changed_fields(before)
    _record(session, requester, "note.saved", draft, now, fields=fields, **taken_over)
    return draft


def _text_of(note: ConsultationNote, settings: NotesSettings, refusal: str) -> SoapNote:
    """The text of the version a change starts from or writes over; UnreadableVersion saying `refusal` if no
    key opens it, as the change would lose it (the key may yet be found and put back)."""
    text = settings.cipher.read_if_readable(note)
    if text is None:
        raise UnreadableVersion(f"{refusal} {ASK_IT}")
    return text


def _check_expected(draft: ConsultationNote | None, signed: bool, expected: ExpectedDraft) -> None:
    if draft is None and signed:
        raise StaleDraft(
            "This note was signed after you opened the page, so your text was not saved. Copy what you "
            "need from the form below, then open the latest notes and amend the signed note."
        )
    current = ExpectedDraft(draft.id, draft.revision) if draft else ExpectedDraft()
    if expected != current:
        raise StaleDraft(
            "This draft was saved again (in another tab or window) after you opened it, so your text "
            "was not saved. Copy what you need from the form below, then open the latest draft."
        )


def _new_version(
    consultation: Consultation,
    rows: list[ConsultationNote],
    requester: StaffMember,
    now: datetime,
    amends_id: int | None = None,
) -> ConsultationNote:
    """The note's next version (after every one in `rows`, discarded drafts too), a draft."""
    return ConsultationNote(
        consultation_id=consultation.id,
        version=rows[-1].version + 1 if rows else 1,
        amends_id=amends_id,
        author_id=requester.id,
        status=NoteStatus.DRAFT,
        revision=1,
        created_at=now,
        updated_at=now,
    )


def _record(
    session: Session, requester: StaffMember, action: str, note: ConsultationNote, now: datetime, **details
) -> None:
    audit.record(
        session,
        requester.actor,
        action,
        entity_type="consultation_note",
        entity_id=note.id,
        now=now,
        details={"consultation_id": note.consultation_id, "version": note.version, **details},
    )
