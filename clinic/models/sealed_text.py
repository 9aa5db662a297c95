"""Free text in which a patient may tell their health (the reason for a visit, or for cancelling it),
kept sealed in its column so that a database dump or backup shows none of it.

The sealing is the notes cipher's (clinic.notes.encryption), which the app registers for its database
engine at start-up: models and services reach it through their session, never through Flask.
"""

from typing import Protocol
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy.orm import Session, object_session

# Shown in place of a stored value that no key opens or that was sealed for another row or field.
UNREADABLE = "(This text cannot be read.)"


class TextSealer(Protocol):
    def seal_text(self, text: str, *, row: str, field: str) -> str: ...

    def open_text(self, stored: str, *, row: str, field: str) -> str | None:
        """The text, or None if no key opens it or it was sealed for another row or field."""


_sealers: WeakKeyDictionary[Engine, TextSealer] = WeakKeyDictionary()


def use_sealer(engine: Engine, sealer: TextSealer) -> None:
    """Seal the free text stored through `engine` with `sealer`."""
    _sealers[engine] = sealer


def sealed(session: Session, text: str, *, row: str, field: str) -> str:
    """`text` as stored in `field` ("table.column") of the row whose uuid is `row`; "" stays ""."""
    if not text:
        return ""  # nothing given: no token, so no key is needed (nor registered, for a bare session)
    return _sealer(session).seal_text(text, row=row, field=field)


def opened(instance: object, stored: str, *, row: str, field: str) -> str:
    """The plain text of a stored value of `instance` (which must belong to a session), or UNREADABLE."""
    if not stored:
        return ""
    session = object_session(instance)
    if session is None:
        raise RuntimeError(f"{field} is read through its session: {instance!r} has none")
    text = _sealer(session).open_text(stored, row=row, field=field)
    return UNREADABLE if text is None else text


def _sealer(session: Session) -> TextSealer:
    engine = session.get_bind()
    try:
        return _sealers[engine]
    except KeyError:
        raise RuntimeError(f"no sealer for {engine!r}: create_app registers the notes cipher") from None
