"""Finding audit events for the admin viewer: by who, action, consultation, patient and date; paged; as CSV.

A consultation's events are those about it and about its note versions; a patient's, those about
every record kept under their e-mail address, as a subject access request finds them (each booking's
patient record, each waitlist place with its offers, each walk-in place), and those records' bookings and
calls. Not an invitation to join someone's call: its events are about the other patient's consultation.
A search by patient is itself an audit event, naming what it found by id, never the address.

Pages run newest first and continue below the last id seen (keyset paging), so a page deep into a
million events costs what the first one does; each filter has an index ending in the id.
"""

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from ..models import (
    AuditEvent,
    Consultation,
    ConsultationNote,
    Patient,
    WaitlistEntry,
    WaitlistOffer,
    WalkInEntry,
)
from ..models.transactions import write_transaction
from ..privacy.subject_lookup import with_address
from ..scheduling.timezones import day_start
from ..spreadsheets import BYTE_ORDER_MARK, inert
from ..staff.accounts import staff_by_email
from .chain import record
from .events import Actor

PER_PAGE = 50
EVENT_COLUMNS = ("id", "occurred_at", "actor", "action", "entity_type", "entity_id", "remote_addr", "details")
# The chain, so that an export can be checked on its own: each prev_hash is the hash of the event numbered
# seq - 1; the hash itself needs the key named by key_id (README: "The audit trail").
CHAIN_COLUMNS = ("seq", "prev_hash", "hash_version", "key_id", "hash")
CSV_COLUMNS = EVENT_COLUMNS + CHAIN_COLUMNS
PATIENT_SEARCHED = "audit.patient_searched"
# Who events name besides staff members (see events.Actor), and a staff member by their account's id.
OTHER_ACTORS = ("patient", "companion", "system", "anonymous")
_STAFF_ACTOR = re.compile(r"staff:([0-9]{1,10})")
NOBODY = (
    "Type a staff member's e-mail address, staff: and their number (staff:12), or one of "
    + ", ".join(OTHER_ACTORS)
    + "."
)


UTC_DAYS = ZoneInfo("UTC")
# Records an event may be about: (entity type, ids) pairs, as AuditEvent names them.
Records = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class AuditFilter:
    """What to look for; None matches anything. Dates are whole days in `days_in` (the hospital's zone, as
    its staff read a day: midnight to midnight on its clock, 23 or 25 hours on a day the clocks change),
    `until` included."""

    actor: str | None = None
    action: str | None = None
    consultation: "Records" = ()  # the events about one consultation
    patient: "Records" = ()  # the events about one patient's records and bookings
    since: date | None = None
    until: date | None = None
    days_in: ZoneInfo = UTC_DAYS

    def used(self) -> list[str]:
        """The names of the filters in use: what an export's own audit event records (not their values)."""
        return [name for name, value in vars(self).items() if value and name != "days_in"]

    def found_for_patient(self) -> dict[str, list[int]]:
        """The ids of the records a search by patient found, by kind: what its audit event names."""
        return {f"{kind}_ids": [int(record_id) for record_id in ids] for kind, ids in self.patient}


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    older_than: int | None  # the id to continue below for the next page, None on the last page


class UnknownFilter(ValueError):
    """A filter names someone or something that does not exist; `field` says which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def audit_filter(
    session: Session,
    *,
    who: str | None = None,
    action: str | None = None,
    reference: str | None = None,
    patient: str | None = None,
    since: date | None = None,
    until: date | None = None,
    days_in: ZoneInfo = UTC_DAYS,
) -> AuditFilter:
    """The filter for what an admin typed: a staff e-mail address as "who" becomes "staff:<id>", a
    consultation reference or a patient's e-mail address the records they name, days those of `days_in`;
    UnknownFilter if one names nobody."""
    consultation: Records = ()
    if reference:
        consultation = _reference_records(session, reference)
    return AuditFilter(
        _actor(session, who),
        _action(session, action),
        consultation,
        _patient_records(session, patient),
        since,
        until,
        days_in,
    )


def _action(session: Session, action: str | None) -> str | None:
    """The action as events record it (in lower case); UnknownFilter if no event has it, so that a typo is
    not read as something that never happened. One lookup in the (action, id) index."""
    if not action:
        return None
    typed = action.strip().lower()
    if session.scalar(select(AuditEvent.id).where(AuditEvent.action == typed).limit(1)) is None:
        raise UnknownFilter("action", "No event has this action. Actions read like consultation.booked.")
    return typed


def _actor(session: Session, who: str | None) -> str | None:
    """The actor "who" names, as events record it, in whatever case it was typed; UnknownFilter if it can
    name nobody (a name, a typo), which an auditor would otherwise read as someone who did nothing."""
    if not who:
        return None
    if "@" in who:
        user = staff_by_email(session, who)
        if user is None:
            raise UnknownFilter("who", "No staff account has this e-mail address.")
        return f"staff:{user.id}"
    typed = who.strip().lower()
    if typed in OTHER_ACTORS:
        return typed
    if staff := _STAFF_ACTOR.fullmatch(typed):
        return f"staff:{int(staff[1])}"
    raise UnknownFilter("who", NOBODY)


def _patient_records(session: Session, email: str | None) -> Records:
    if not email:
        return ()
    patient_ids = [patient.id for patient in with_address(session, email, Patient)]
    places = [entry.id for entry in with_address(session, email, WaitlistEntry)]
    calls = with_address(session, email, WalkInEntry)
    if not (patient_ids or places or calls):
        raise UnknownFilter("patient", "No patient has this e-mail address (or it was anonymised).")
    offers = session.scalars(
        select(WaitlistOffer.id).where(WaitlistOffer.entry_id.in_(places)).order_by(WaitlistOffer.id)
    )
    bookings = session.scalars(
        select(Consultation.id).where(Consultation.patient_id.in_(patient_ids)).order_by(Consultation.id)
    )
    call_places = [call.id for call in calls]
    own = (
        ("patient", _texts(patient_ids)),
        ("waitlist_entry", _texts(places)),
        ("waitlist_offer", _texts(offers)),
        ("walk_in_entry", _texts(call_places)),
    )
    taken = _named_in_events(session, "walk_in_entry", call_places, "consultation_id")
    return (*own, *_consultation_records(session, sorted({*bookings, *taken})))


def _reference_records(session: Session, reference: str) -> Records:
    """A consultation's reference names it; a walk-in place's (in the caller's link) names the place. A
    walk-in call goes with its caller's place and the place's other calls (one sent back is taken again), as
    each names the other in its audit events: the place keeps only its latest call."""
    calls = set(session.scalars(select(Consultation.id).where(Consultation.reference == reference)))
    places = set(session.scalars(select(WalkInEntry.id).where(WalkInEntry.reference == reference)))
    if not (calls or places):
        raise UnknownFilter("reference", "No consultation or walk-in call has this reference.")
    places |= _named_in_events(session, "consultation", calls, "walk_in_entry")
    calls |= _named_in_events(session, "walk_in_entry", places, "consultation_id")
    return (("walk_in_entry", _texts(sorted(places))), *_consultation_records(session, sorted(calls)))


def _named_in_events(session: Session, kind: str, ids: Iterable[int], key: str) -> set[int]:
    """The ids `key` names in the events about the records `kind` `ids`: by the key, whatever the action
    (takes were audited as consultation.booked before consultation.taken)."""
    about = (AuditEvent.entity_type == kind, AuditEvent.entity_id.in_(_texts(ids)))
    named = session.scalars(select(AuditEvent.details).where(*about))
    return {details[key] for details in named if details.get(key) is not None}


def _consultation_records(session: Session, consultation_ids: list[int]) -> Records:
    notes = session.scalars(
        select(ConsultationNote.id)
        .where(ConsultationNote.consultation_id.in_(consultation_ids))
        .order_by(ConsultationNote.id)
    )
    return (("consultation", _texts(consultation_ids)), ("consultation_note", _texts(notes)))


def _texts(ids) -> tuple[str, ...]:
    return tuple(str(row_id) for row_id in ids)


def audit_page(
    session: Session, wanted: AuditFilter, *, older_than: int | None = None, per_page: int = PER_PAGE
) -> AuditPage:
    """One page of matching events, newest first, below the id `older_than` when given."""
    query = _matching(wanted)
    if older_than is not None:
        query = query.where(AuditEvent.id < older_than)
    found = list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(per_page + 1)))
    events = found[:per_page]
    return AuditPage(events, events[-1].id if len(found) > per_page else None)


def searched_page(
    session: Session, wanted: AuditFilter, *, actor: Actor, now: datetime, older_than: int | None = None
) -> AuditPage:
    """The page an admin asked for, a search by patient recorded first: who looked up whom."""
    if wanted.patient:
        with write_transaction(session):
            _record_patient_search(session, wanted, actor, now)
    return audit_page(session, wanted, older_than=older_than)


def export_csv(session: Session, wanted: AuditFilter, *, actor: Actor, now: datetime) -> Iterator[str]:
    """Record who exported what (the filters' names, and a search by patient), then every matching event
    as CSV, newest first."""
    with write_transaction(session):
        if wanted.patient:
            _record_patient_search(session, wanted, actor, now)
        record(
            session,
            actor,
            "audit.exported",
            entity_type="audit_event",
            entity_id="*",
            now=now,
            details={"filters": wanted.used()},
        )
    return _csv_chunks(session, wanted)


def _record_patient_search(session: Session, wanted: AuditFilter, actor: Actor, now: datetime) -> None:
    # The event is about one of the person's own records (a patient record if they have one), so a later
    # search for them finds it.
    kind, first = next((kind, ids[0]) for kind, ids in wanted.patient if ids)
    found = wanted.found_for_patient()
    record(session, actor, PATIENT_SEARCHED, entity_type=kind, entity_id=first, now=now, details=found)


def _csv_chunks(session: Session, wanted: AuditFilter) -> Iterator[str]:
    """CSV text in chunks of about 64 kB, streamed: the table may hold millions of events."""
    buffer = io.StringIO()
    buffer.write(BYTE_ORDER_MARK)  # Excel then reads the file as UTF-8
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    query = _matching(wanted).order_by(AuditEvent.id.desc()).execution_options(yield_per=1000)
    for event in session.scalars(query):
        writer.writerow(_csv_row(event))
        if buffer.tell() > 64 * 1024:
            yield _drain(buffer)
    yield _drain(buffer)


def _matching(wanted: AuditFilter) -> Select:
    query = select(AuditEvent)
    if wanted.actor:
        query = query.where(AuditEvent.actor == wanted.actor)
    if wanted.action:
        query = query.where(AuditEvent.action == wanted.action)
    for records in (wanted.consultation, wanted.patient):
        if records:
            query = query.where(_about(records))
    if wanted.since:
        query = query.where(AuditEvent.occurred_at >= day_start(wanted.since, wanted.days_in))
    if wanted.until and wanted.until < date.max:  # the last day there is ends after every event
        query = query.where(
            AuditEvent.occurred_at < day_start(wanted.until + timedelta(days=1), wanted.days_in)
        )
    return query


def _about(records: Records) -> ColumnElement[bool]:
    """Events about any of `records`: each pair a lookup in the (entity_type, entity_id) index."""
    return or_(
        *(and_(AuditEvent.entity_type == kind, AuditEvent.entity_id.in_(ids)) for kind, ids in records if ids)
    )


def _csv_row(event: AuditEvent) -> list[str]:
    values = [
        str(event.id),
        event.occurred_at.isoformat(),
        event.actor,
        event.action,
        event.entity_type,
        event.entity_id,
        event.remote_addr or "",
        json.dumps(event.details, sort_keys=True),
        str(event.seq),
        event.prev_hash,
        str(event.hash_version),
        event.key_id or "",
        event.hash,
    ]
    return [inert(value) for value in values]


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
