"""Subject access: everything the clinic holds about one person, found by e-mail address, as JSON.

Each booking keeps a patient record of its own, so one person is every record with their address
(in any case), narrowed by date of birth when given; an address booked with several dates of birth
(a parent and their child) is several people, and needs the asker's. Their bookings come with the
consent given, the mails sent to them (what and when, never the text), who joined them (by role
only: a third party) and the signed notes (drafts are not yet part of the record). The reasons given
and the notes' text go only to an exporter who may read the consultation's notes (notes.access),
the read recorded as the notes page records it; others get what exists and who can release it.
Besides: their invitations as a companion, their places in walk-in queues and on waitlists (with
the times offered to them). The export is an audit event naming the records by id.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session, selectinload

from .. import audit
from ..audit import SYSTEM, Actor
from ..models import (
    Companion,
    Consultation,
    NoteStatus,
    OutboxKind,
    OutboxMessage,
    Patient,
    WaitlistEntry,
    WaitlistOffer,
    WalkInEntry,
)
from ..models.people import email_key
from ..models.transactions import write_transaction
from ..notes.access import may_access
from ..notes.history import note_rows, record_notes_read
from ..notes.settings import NotesSettings
from ..notify.messages import Audience
from ..staff.members import StaffMember

_MAILS = [kind for kind in OutboxKind if kind.startswith("mail.")]


class SharedAddress(Exception):
    """Several people booked with the address, and no date of birth says which of them asks."""


@dataclass(frozen=True)
class _Exporter:
    """Who exports, and what of each consultation's clinical content they may read."""

    staff: StaffMember | None  # None: the command line's operator, who holds the notes key already
    notes: NotesSettings
    now: datetime

    @property
    def actor(self) -> Actor:
        return self.staff.actor if self.staff else SYSTEM

    def may_read(self, consultation: Consultation) -> bool:
        return self.staff is None or may_access(self.staff, consultation, self.notes.granted_roles)


def export_person(
    session: Session,
    email: str,
    *,
    notes: NotesSettings,
    now: datetime,
    exporter: StaffMember | None,
    birth_date: date | None = None,
) -> dict[str, Any]:
    """One person's data as a JSON-ready dict, audited as `patient.exported` in the same transaction, with
    each consultation's notes read as `note.read`. `exporter` None is the command line's operator (system).
    SharedAddress, exporting nothing, when several people booked with the address and no date of birth."""
    who = _Exporter(exporter, notes, now)
    with write_transaction(session):
        if birth_date is None and _people(session, email) > 1:
            raise SharedAddress(
                "Several people have booked with this address: enter the date of birth of the person asking."
            )
        patients = _patients(session, email, birth_date)
        # Walk-in callers and companions give no date of birth: a search narrowed by one cannot tell whose
        # they are (at an address several people share, they may be someone else's).
        companions = [] if birth_date else _companions(session, email)
        walk_ins = [] if birth_date else _walk_ins(session, email)
        waiting = _waitlist_entries(session, email, birth_date)
        export = {
            "exported_at": now.isoformat(),
            "email": email,
            "birth_date": birth_date.isoformat() if birth_date else None,
            "patients": [_patient(session, patient, who) for patient in patients],
            "companion_of": [_companion(session, companion) for companion in companions],
            "walk_in_queues": [_walk_in(entry) for entry in walk_ins],
            "waitlists": [_waitlist_entry(session, entry) for entry in waiting],
        }
        audit.record(
            session,
            who.actor,
            "patient.exported",
            entity_type="patient",
            entity_id=patients[0].id if patients else "none",
            now=now,
            details={
                "patient_ids": [patient.id for patient in patients],
                "companion_ids": [companion.id for companion in companions],
                "walk_in_entry_ids": [entry.id for entry in walk_ins],
                "waitlist_entry_ids": [entry.id for entry in waiting],
            },
        )
    return export


def _people(session: Session, email: str) -> int:
    """How many people booked or joined a waitlist with the address, told apart by their dates of birth
    (walk-in callers, who are not asked theirs, count for none)."""
    key = email_key(email.strip())
    dates = union(
        select(Patient.birth_date).where(Patient.email_key == key, Patient.birth_date.is_not(None)),
        select(WaitlistEntry.birth_date).where(func.lower(WaitlistEntry.email) == key),
    )
    return session.scalar(select(func.count()).select_from(dates.subquery()))


def _patients(session: Session, email: str, birth_date: date | None) -> list[Patient]:
    query = select(Patient).where(Patient.email_key == email_key(email.strip()))
    if birth_date is not None:
        query = query.where(Patient.birth_date == birth_date)
    return list(session.scalars(query.order_by(Patient.id)))


def _companions(session: Session, email: str) -> list[Companion]:
    # Companions keep no lower-cased key: SQL lower(), which on SQLite lowers ASCII letters only.
    query = select(Companion).where(func.lower(Companion.email) == email_key(email.strip()))
    return list(session.scalars(query.options(selectinload(Companion.consultation)).order_by(Companion.id)))


def _walk_ins(session: Session, email: str) -> list[WalkInEntry]:
    query = select(WalkInEntry).where(func.lower(WalkInEntry.email) == email_key(email.strip()))
    return list(session.scalars(query.options(selectinload(WalkInEntry.queue)).order_by(WalkInEntry.id)))


def _waitlist_entries(session: Session, email: str, birth_date: date | None) -> list[WaitlistEntry]:
    query = select(WaitlistEntry).where(func.lower(WaitlistEntry.email) == email_key(email.strip()))
    if birth_date is not None:
        query = query.where(WaitlistEntry.birth_date == birth_date)
    options = (selectinload(WaitlistEntry.service), selectinload(WaitlistEntry.clinician))
    return list(session.scalars(query.options(*options).order_by(WaitlistEntry.id)))


def _waitlist_entry(session: Session, entry: WaitlistEntry) -> dict[str, Any]:
    """A place on a service's waitlist: what they gave, the dates they wait for, the times offered."""
    offers = session.scalars(
        select(WaitlistOffer).where(WaitlistOffer.entry_id == entry.id).order_by(WaitlistOffer.id)
    )
    return {
        "service": entry.service.name,
        "clinician": entry.clinician.display_name if entry.clinician else None,
        "from": entry.window_starts_at.isoformat(),
        "until": entry.window_ends_at.isoformat(),
        "name": entry.name,
        "email": entry.email,
        "phone": entry.phone,
        "birth_date": entry.birth_date.isoformat(),
        "time_zone": entry.time_zone,
        "consent": {
            "privacy_notice": entry.consent_notice_version,
            "given_at": entry.consent_given_at.isoformat(),
            "how": entry.consent_method.value,
        },
        "status": entry.status.value,
        "joined_at": entry.created_at.isoformat(),
        "ended_at": _instant(entry.ended_at),
        "offers": [
            {"starts_at": offer.starts_at.isoformat(), "status": offer.status.value} for offer in offers
        ],
    }


def _walk_in(entry: WalkInEntry) -> dict[str, Any]:
    """A place in a walk-in queue: what they gave, and what became of it (the call itself, if they were
    taken, is among their patient records' bookings)."""
    return {
        "queue": entry.queue.name,
        "name": entry.name,
        "email": entry.email,
        "phone": entry.phone,
        "needs_interpreter": entry.needs_interpreter,
        "consent": {
            "privacy_notice": entry.consent_notice_version,
            "given_at": entry.consent_given_at.isoformat(),
        },
        "status": entry.status.value,
        "joined_at": entry.joined_at.isoformat(),
        "taken_at": _instant(entry.taken_at),
        "ended_at": _instant(entry.ended_at),
    }


def _patient(session: Session, patient: Patient, who: _Exporter) -> dict[str, Any]:
    consultations = session.scalars(
        select(Consultation)
        .where(Consultation.patient_id == patient.id)
        .options(selectinload(Consultation.companions))
        .order_by(Consultation.starts_at)
    )
    return {
        "id": patient.id,
        "name": patient.name,
        "email": patient.email,
        "phone": patient.phone,
        "birth_date": patient.birth_date.isoformat() if patient.birth_date else None,
        "time_zone": patient.time_zone,
        "language": patient.language,
        "created_at": patient.created_at.isoformat(),
        "anonymised_at": _instant(patient.anonymised_at),
        "bookings": [_booking(session, consultation, who) for consultation in consultations],
    }


def _booking(session: Session, consultation: Consultation, who: _Exporter) -> dict[str, Any]:
    return {
        "reference": consultation.reference,
        "service": consultation.service.name,
        "department": consultation.service.department.name,
        "clinician": consultation.clinician.display_name,
        "starts_at": consultation.starts_at.isoformat(),
        "ends_at": consultation.ends_at.isoformat(),
        "time_zone": consultation.patient_time_zone,
        "status": consultation.status.value,
        "booked_at": consultation.created_at.isoformat(),
        "cancelled_at": _instant(consultation.cancelled_at),
        "consent": {
            "privacy_notice_version": consultation.consent_notice_version,
            "given_at": _instant(consultation.consent_given_at),
            "method": consultation.consent_method,
        },
        # Whoever joined is a third party: their part in the call, never their name or address.
        "companions": [{"role": companion.role.value} for companion in consultation.companions],
        "mails": _mails(session, consultation.id, OutboxMessage.audience == Audience.PATIENT),
        **_clinical_content(session, consultation, who),
    }


def _clinical_content(session: Session, consultation: Consultation, who: _Exporter) -> dict[str, Any]:
    """The reasons given and the signed notes: their text if the exporter may read the notes, a read then
    recorded as the notes page records its own (it shows the reason too); else only that they exist."""
    readable = who.may_read(consultation)
    signed = [note for note in note_rows(session, consultation.id) if note.status is NoteStatus.SIGNED]
    if readable and (signed or consultation.reason or consultation.cancel_reason):
        record_notes_read(session, who.actor, consultation.id, [note.id for note in signed], who.now)
    versions = {note.id: note.version for note in signed}
    return {
        "reason": consultation.reason if readable else None,
        "reason_given": bool(consultation.reason),
        "cancel_reason": consultation.cancel_reason if readable else None,
        "cancel_reason_given": bool(consultation.cancel_reason),
        "clinical_content": {"included": readable, "who_can_release": _releasers(consultation)},
        "signed_notes": [
            {
                "version": note.version,
                "author": note.author.display_name,
                "signed_at": _instant(note.signed_at),
                "signed_by": note.signed_by.display_name,
                "corrects_version": versions.get(note.amends_id),
                **(who.notes.cipher.read(note).as_dict() if readable else {}),
            }
            for note in signed
        ],
    }


def _releasers(consultation: Consultation) -> str:
    return (
        f"Only {consultation.clinician.display_name}, the consultation's clinician, or staff whose role is "
        "given every consultation's notes (the CLINIC_NOTES_ROLES setting) can release the reason for the "
        "visit, the reason for cancelling and the notes' text."
    )


def _companion(session: Session, companion: Companion) -> dict[str, Any]:
    consultation = companion.consultation
    return {
        "name": companion.name,
        "email": companion.email,
        "role": companion.role.value,
        "reference": consultation.reference,
        "starts_at": consultation.starts_at.isoformat(),
        "invited_at": companion.created_at.isoformat(),
        "removed_at": _instant(companion.removed_at),
        "mails": _mails(
            session,
            consultation.id,
            OutboxMessage.audience == Audience.COMPANION,
            OutboxMessage.payload["companion_id"].as_integer() == companion.id,
        ),
    }


def _mails(session: Session, consultation_id: int, *to_whom) -> list[dict[str, Any]]:
    """What was mailed and when: kinds, times and outcomes, never the text."""
    query = select(OutboxMessage).where(
        OutboxMessage.consultation_id == consultation_id,
        OutboxMessage.kind.in_(_MAILS),
        *to_whom,
    )
    return [
        {
            "kind": message.kind.value,
            "due_at": message.due_at.isoformat(),
            "status": message.status.value,
            "done_at": _instant(message.done_at),
        }
        for message in session.scalars(query.order_by(OutboxMessage.due_at, OutboxMessage.id))
    ]


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
