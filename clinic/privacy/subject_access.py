"""Subject access: everything the clinic holds about one person, found by e-mail address or phone number,
as JSON.

Each booking keeps a patient record of its own, so one person is every record with their address or
number, narrowed where others gave it too by the asker's date of birth and name (subject_lookup). Their
bookings come with the consent given, the mails sent to them (what, to which address and when, never the
text), who joined them (by role only: a third party) and the signed notes (drafts are not yet part of
the record). The reasons given and the notes' text go only to an exporter who may read the
consultation's notes (notes.access), the read recorded as the notes page records it; others get what
exists and who can release it. Besides: their invitations as a companion, their places in walk-in
queues and on waitlists (with the times offered to them). Each record comes with what the person did on
it themselves, as the audit trail holds it: the action, when, and the network address it came from,
which the trail keeps as long as the event (their own; never a staff member's, nor another person's).
The export is an audit event naming the records by id.

Every mail the clinic sent the person is listed with the record it concerns, wherever its outbox message
hangs: a booking's on its consultation (those to the patient, or to the one companion), the confirmation
of joining a waitlist on the waitlist entry, and an offer's mails (the offer, or that it has gone) on the
consultation whose cancellation or move freed the time: someone else's, so they are found by the offer,
and each names the offer it was about.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, selectinload

from .. import audit
from ..audit import SYSTEM, Actor
from ..models import (
    AuditEvent,
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
from ..models.transactions import write_transaction
from ..notes.access import may_access
from ..notes.encryption import UNREADABLE_VERSION, NoteCipher
from ..notes.history import note_rows, reason_erased_after_days, record_notes_read
from ..notes.settings import NotesSettings
from ..notify.notices import Audience
from ..staff.members import StaffMember
from .subject_lookup import Asker, find_records

_MAILS = [kind for kind in OutboxKind if kind.startswith("mail.")]
_OFFER_MAILS = (OutboxKind.WAITLIST_OFFER_MAIL, OutboxKind.WAITLIST_GONE_MAIL)


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
    asker: Asker,
    *,
    notes: NotesSettings,
    now: datetime,
    exporter: StaffMember | None,
) -> dict[str, Any]:
    """One person's data as a JSON-ready dict, audited as `patient.exported` in the same transaction, with
    each consultation's notes read as `note.read`. `exporter` None is the command line's operator (system).
    SharedContact, exporting nothing, when the asker's records cannot be told from someone else's."""
    who = _Exporter(exporter, notes, now)
    with write_transaction(session):
        found = find_records(session, asker)
        export = {
            "exported_at": now.isoformat(),
            "email": asker.email,
            "phone": asker.phone,
            "birth_date": asker.birth_date.isoformat() if asker.birth_date else None,
            "name": asker.name,
            "patients": [_patient(session, patient, who) for patient in found.patients],
            "companion_of": [_companion(session, companion) for companion in found.companions],
            "walk_in_queues": [_walk_in(session, entry) for entry in found.walk_ins],
            "waitlists": [_waitlist_entry(session, entry) for entry in found.waitlist_entries],
        }
        audit.record(
            session,
            who.actor,
            "patient.exported",
            entity_type="patient",
            entity_id=found.patients[0].id if found.patients else "none",
            now=now,
            details={
                "patient_ids": [patient.id for patient in found.patients],
                "companion_ids": [companion.id for companion in found.companions],
                "walk_in_entry_ids": [entry.id for entry in found.walk_ins],
                "waitlist_entry_ids": [entry.id for entry in found.waitlist_entries],
            },
        )
    return export


def _waitlist_entry(session: Session, entry: WaitlistEntry) -> dict[str, Any]:
    """A place on a service's waitlist: what they gave, the dates they wait for, the mails about it, the
    times offered and the mails about each."""
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
        "language": entry.language,
        "consent": {
            "privacy_notice": entry.consent_notice_version,
            "given_at": entry.consent_given_at.isoformat(),
            "how": entry.consent_method.value,
        },
        "status": entry.status.value,
        "joined_at": entry.created_at.isoformat(),
        "ended_at": _instant(entry.ended_at),
        "mails": _mails(session, entry.email, OutboxMessage.waitlist_entry_id == entry.id),
        "actions": _actions(session, "patient", "waitlist_entry", entry.id),
        "offers": [_offer(session, offer) for offer in offers],
    }


def _offer(session: Session, offer: WaitlistOffer) -> dict[str, Any]:
    """A time offered from the waitlist, and its mails, each naming the offer it was about (the mail says
    the time; the reference is the offer's)."""
    about = {"reference": offer.reference, "starts_at": offer.starts_at.isoformat()}
    mails = _mails(
        session,
        offer.entry.email,
        OutboxMessage.consultation_id == offer.freed_by_id,
        OutboxMessage.kind.in_(_OFFER_MAILS),
        OutboxMessage.payload["offer_id"].as_integer() == offer.id,
    )
    return {
        **about,
        "status": offer.status.value,
        "mails": [{**mail, "offer": about} for mail in mails],
        "actions": _actions(session, "patient", "waitlist_offer", offer.id),
    }


def _walk_in(session: Session, entry: WalkInEntry) -> dict[str, Any]:
    """A place in a walk-in queue: what they gave, and what became of it (the call itself, if they were
    taken, is among their patient records' bookings)."""
    return {
        "queue": entry.queue.name,
        "name": entry.name,
        "email": entry.email,
        "phone": entry.phone,
        "needs_interpreter": entry.needs_interpreter,
        "interpreter_language": entry.interpreter_language,
        "consent": {
            "privacy_notice": entry.consent_notice_version,
            "given_at": entry.consent_given_at.isoformat(),
            "how": entry.consent_method.value,
        },
        "status": entry.status.value,
        "joined_at": entry.joined_at.isoformat(),
        "taken_at": _instant(entry.taken_at),
        "answered_at": _instant(entry.answered_at),  # when they pressed join
        "ended_at": _instant(entry.ended_at),
        "actions": _actions(session, "patient", "walk_in_entry", entry.id),
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
        # When they came to the waiting room, and when the call began and ended.
        "arrived_at": _instant(consultation.arrived_at),
        "call_started_at": _instant(consultation.started_at),
        "call_ended_at": _instant(consultation.ended_at),
        "consent": {
            "privacy_notice_version": consultation.consent_notice_version,
            "given_at": _instant(consultation.consent_given_at),
            "method": consultation.consent_method,
        },
        # Whoever joined is a third party: their part in the call, never their name or address.
        "companions": [{"role": companion.role.value} for companion in consultation.companions],
        "mails": _mails(
            session,
            consultation.patient.email,
            OutboxMessage.consultation_id == consultation.id,
            OutboxMessage.audience == Audience.PATIENT,
        ),
        "actions": _actions(session, "patient", "consultation", consultation.id),
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
    erased_after = reason_erased_after_days(consultation, who.notes, who.now)
    return {
        "reason": consultation.reason_text if readable else None,
        "reason_given": _given(consultation.reason, erased_after),
        "cancel_reason": consultation.cancel_reason_text if readable else None,
        "cancel_reason_given": _given(consultation.cancel_reason, erased_after),
        "reasons_erased_after_days": erased_after,
        "clinical_content": {"included": readable, "who_can_release": _releasers(consultation)},
        "signed_notes": [
            {
                "version": note.version,
                "author": note.author.display_name,
                "signed_at": _instant(note.signed_at),
                "signed_by": note.signed_by.display_name,
                "corrects_version": versions.get(note.amends_id),
                **(_note_text(note, who.notes.cipher) if readable else {}),
            }
            for note in signed
        ],
    }


def _note_text(note: ConsultationNote, cipher: NoteCipher) -> dict[str, str]:
    """A signed version's four parts; if no key opens it, that it cannot be read, as the notes page says."""
    text = cipher.read_if_readable(note)
    return {"unreadable": UNREADABLE_VERSION} if text is None else text.as_dict()


def _given(sealed: str, erased_after: int | None) -> bool | None:
    """Whether a reason was given; None (not known) for one not held once the reasons' period is over, as
    retention erases them: an empty one is then no sign that none was."""
    return True if sealed else None if erased_after else False


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
            companion.email,
            OutboxMessage.consultation_id == consultation.id,
            OutboxMessage.audience == Audience.COMPANION,
            OutboxMessage.payload["companion_id"].as_integer() == companion.id,
        ),
        # The patient's booking holds the patient's actions: a companion's are told apart by their id.
        "actions": _actions(
            session,
            "companion",
            "consultation",
            consultation.id,
            AuditEvent.details["companion_id"].as_integer() == companion.id,
        ),
    }


def _mails(session: Session, to: str | None, *which: ColumnElement[bool]) -> list[dict[str, Any]]:
    """What was mailed, to which address and when: kinds, times and outcomes, never the text. `which` names
    the record the messages hang on, and whom of those it concerns they were sent to; `to` is that
    record's address, the one the worker sends them to (a record's address changes only when it is
    anonymised)."""
    query = select(OutboxMessage).where(OutboxMessage.kind.in_(_MAILS), *which)
    return [
        {
            "kind": message.kind.value,
            "to": to,
            "due_at": message.due_at.isoformat(),
            "status": message.status.value,
            "done_at": _instant(message.done_at),
        }
        for message in session.scalars(query.order_by(OutboxMessage.due_at, OutboxMessage.id))
    ]


def _actions(
    session: Session, actor: str, entity_type: str, entity_id: int, *which: ColumnElement[bool]
) -> list[dict[str, Any]]:
    """What `actor` (the person, as the trail names them) did on a record, in the order done: the
    action, when, and the network address it came from (None where the trail has none)."""
    query = select(AuditEvent.action, AuditEvent.occurred_at, AuditEvent.remote_addr).where(
        AuditEvent.actor == actor,
        AuditEvent.entity_type == entity_type,
        AuditEvent.entity_id == str(entity_id),
        *which,
    )
    return [
        {"action": action, "at": at.isoformat(), "from_address": address}
        for action, at, address in session.execute(query.order_by(AuditEvent.seq))
    ]


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
