"""Subject access: everything the clinic holds about one person, found by e-mail address, as JSON.

Each booking keeps a patient record of its own, so one person is every record with their address
(in any case), narrowed by date of birth when given. Their bookings come with the consent given,
the mails sent to them (what and when, never the text), and the signed notes of each consultation,
decrypted. Drafts are left out: they are not yet part of the record. Besides their bookings: their
invitations as a companion, and their places in walk-in queues and on waitlists (with the times
offered to them). The export is an audit event naming the records by id.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from .. import audit
from ..audit import Actor
from ..models import (
    Companion,
    Consultation,
    ConsultationNote,
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
from ..notes.encryption import NoteCipher
from ..notify.messages import Audience

_MAILS = [kind for kind in OutboxKind if kind.startswith("mail.")]


def export_person(
    session: Session,
    email: str,
    *,
    cipher: NoteCipher,
    now: datetime,
    actor: Actor,
    birth_date: date | None = None,
) -> dict[str, Any]:
    """One person's data as a JSON-ready dict, audited as `patient.exported` in the same transaction."""
    with write_transaction(session):
        patients = _patients(session, email, birth_date)
        companions = _companions(session, email)
        # Walk-in callers give no date of birth: a search narrowed by one cannot tell whose they are.
        walk_ins = [] if birth_date else _walk_ins(session, email)
        waiting = _waitlist_entries(session, email, birth_date)
        export = {
            "exported_at": now.isoformat(),
            "email": email,
            "birth_date": birth_date.isoformat() if birth_date else None,
            "patients": [_patient(session, patient, cipher) for patient in patients],
            "companion_of": [_companion(session, companion) for companion in companions],
            "walk_in_queues": [_walk_in(entry) for entry in walk_ins],
            "waitlists": [_waitlist_entry(session, entry) for entry in waiting],
        }
        audit.record(
            session,
            actor,
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


def _patient(session: Session, patient: Patient, cipher: NoteCipher) -> dict[str, Any]:
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
        "bookings": [_booking(session, consultation, cipher) for consultation in consultations],
    }


def _booking(session: Session, consultation: Consultation, cipher: NoteCipher) -> dict[str, Any]:
    return {
        "reference": consultation.reference,
        "service": consultation.service.name,
        "department": consultation.service.department.name,
        "clinician": consultation.clinician.display_name,
        "starts_at": consultation.starts_at.isoformat(),
        "ends_at": consultation.ends_at.isoformat(),
        "time_zone": consultation.patient_time_zone,
        "status": consultation.status.value,
        "reason": consultation.reason,
        "cancel_reason": consultation.cancel_reason,
        "booked_at": consultation.created_at.isoformat(),
        "cancelled_at": _instant(consultation.cancelled_at),
        "consent": {
            "privacy_notice_version": consultation.consent_notice_version,
            "given_at": _instant(consultation.consent_given_at),
            "method": consultation.consent_method,
        },
        "companions": [
            {"name": c.name, "email": c.email, "role": c.role.value, "removed_at": _instant(c.removed_at)}
            for c in consultation.companions
        ],
        "mails": _mails(session, consultation.id, OutboxMessage.audience == Audience.PATIENT),
        "signed_notes": _signed_notes(session, consultation.id, cipher),
    }


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


def _signed_notes(session: Session, consultation_id: int, cipher: NoteCipher) -> list[dict[str, Any]]:
    query = select(ConsultationNote).where(
        ConsultationNote.consultation_id == consultation_id, ConsultationNote.status == NoteStatus.SIGNED
    )
    return [
        {
            "version": note.version,
            "signed_at": _instant(note.signed_at),
            "signed_by": note.signed_by.display_name,
            **cipher.read(note).as_dict(),
        }
        for note in session.scalars(query.order_by(ConsultationNote.version))
    ]


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
