"""Whose records a subject access request is about: every record with the e-mail address or the phone
number the person gave, narrowed where other people gave it too.

An address matches in any case; a number however it was typed (`scheduling.patients.same_phone`). Either
is often shared: a parent books for her child with her own address, a care home or a family gives its
landline. So a record that carries a date of birth (a booking's patient record, a waitlist place) is the
asker's when it has theirs, and one that carries none (a walk-in caller's place and call, an invitation
to join someone's call) when it has their name. Until what the asker gave tells the people apart, nothing
is found: a contact given with several dates of birth needs the asker's, and one given under several
names, with records that carry no date of birth, needs their name.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from ..models import Companion, Patient, WaitlistEntry, WalkInEntry
from ..models.people import email_key
from ..scheduling.patients import dialled, same_phone

# What each kind of record's export reads besides the row itself.
_KINDS: tuple[tuple[type, tuple[Any, ...]], ...] = (
    (Patient, ()),
    (Companion, (Companion.consultation,)),
    (WalkInEntry, (WalkInEntry.queue,)),
    (WaitlistEntry, (WaitlistEntry.service, WaitlistEntry.clinician)),
)
# What a stored number holds besides digits (scheduling.patients checks it against the same characters).
_FORMATTING = " ()-.+"
# The last digits the database compares, before `same_phone` compares the candidates exactly.
_TAIL = 6


@dataclass(frozen=True)
class Asker:
    """The person asking: the e-mail address or the phone number they gave (one of them), and what tells
    them apart from others who gave it too."""

    email: str | None = None
    phone: str | None = None
    birth_date: date | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.email is None) == (self.phone is None):
            raise ValueError("an asker gives an e-mail address or a phone number, one of them")

    @property
    def contact(self) -> str:
        return "address" if self.email is not None else "number"


class SharedContact(Exception):
    """Several people gave the contact, and what the asker gave does not say which of them asks: `needs`
    names the field that would (birth_date or name)."""

    def __init__(self, message: str, needs: str) -> None:
        super().__init__(message)
        self.needs = needs


@dataclass(frozen=True)
class Records:
    patients: list[Patient]
    companions: list[Companion]
    walk_ins: list[WalkInEntry]
    waitlist_entries: list[WaitlistEntry]

    def by_kind(self) -> tuple[list[Any], ...]:
        return self.patients, self.companions, self.walk_ins, self.waitlist_entries


def find_records(session: Session, asker: Asker) -> Records:
    """The asker's records, each kind in the order it was made; SharedContact if they cannot be told
    apart from someone else's (see the module docstring)."""
    found = Records(*(_with_contact(session, asker, model, loads) for model, loads in _KINDS))
    theirs = Records(*([row for row in rows if _is_theirs(row, asker)] for rows in found.by_kind()))
    _check_one_person(theirs, asker)
    return theirs


def with_address(session: Session, email: str, model: type) -> list[Any]:
    """Every `model` record (Patient, WaitlistEntry, WalkInEntry, Companion) kept under the e-mail address,
    matched as a request by that address matches it, whoever's it is: not narrowed to one person."""
    return _with_contact(session, Asker(email=email), model, ())


def _with_contact(session: Session, asker: Asker, model: type, loads: tuple[Any, ...]) -> list[Any]:
    """Every `model` row with the asker's contact."""
    if asker.email is not None:
        # Only patient records keep a lower-cased key: elsewhere SQL lower(), which on SQLite lowers ASCII
        # letters only.
        column = model.email_key if model is Patient else func.lower(model.email)
        matches: ColumnElement[bool] = column == email_key(asker.email.strip())
    elif hasattr(model, "phone") and (tail := dialled(asker.phone or "")[1][-_TAIL:]):
        matches = (model.phone != "") & _digits(model.phone).like(f"%{tail}")
    else:
        return []  # invited companions give an address only; a number without digits is nobody's
    query = select(model).where(matches).options(*(selectinload(load) for load in loads))
    rows = session.scalars(query.order_by(model.id))
    return [row for row in rows if asker.phone is None or same_phone(row.phone, asker.phone)]


def _digits(column: ColumnElement[str]) -> ColumnElement[str]:
    for character in _FORMATTING:
        column = func.replace(column, character, "")
    return column


def _is_theirs(row: Any, asker: Asker) -> bool:
    """A record with a date of birth is theirs if it has the asker's, when they gave one; else if it has
    their name, when they gave it; with neither to compare, every record is but one without a date of
    birth when the asker gave theirs (nothing says whose it is)."""
    born = getattr(row, "birth_date", None)
    if born is not None and asker.birth_date is not None:
        return born == asker.birth_date
    if asker.name is not None:
        return _name_key(row.name) == _name_key(asker.name)
    return born is not None or asker.birth_date is None


def _check_one_person(records: Records, asker: Asker) -> None:
    rows = [row for rows in records.by_kind() for row in rows]
    births = {row.birth_date for row in rows if getattr(row, "birth_date", None) is not None}
    if asker.birth_date is None and len(births) > 1:
        raise SharedContact(
            f"Several people have booked with this {asker.contact}: "
            "enter the date of birth of the person asking.",
            "birth_date",
        )
    undated = any(getattr(row, "birth_date", None) is None for row in rows)
    if asker.name is None and undated and len({_name_key(row.name) for row in rows}) > 1:
        raise SharedContact(
            f"Several people have given this {asker.contact}, under different names: "
            "enter the name of the person asking.",
            "name",
        )


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()
