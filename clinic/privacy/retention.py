"""Retention: personal data erased or anonymised once it is older than the configured periods.

What goes, and when (each period a RETENTION_*_DAYS setting):
- a patient record's name, e-mail, phone and date of birth, its bookings' companions' names and
  addresses and their join links, once every consultation of the record ended more than `patient`
  ago: replaced with placeholders. The rows stay, so consultations, their signed notes and the
  audit events that name them by id keep what they point at;
- a walk-in caller's name, e-mail and phone in the queue, and what their join form left (its key and
  fingerprint), `patient` after they left it if their call was held (the patient record of that call
  goes with its consultation, as above); `walk_in` after they left it if they were never seen (they
  left, were closed out or dropped), and so do the patient records of calls made for them and called
  off (a caller taken who does not answer has one for each take);
- reasons for visit and cancel reasons, `reason` after the consultation's end;
- booking requests' idempotency keys, `idempotency` after the request;
- finished outbox messages (sent, dead or cancelled), `outbox` after they were due;
- waitlist entries that ended (booked, left, expired or closed), with their offers, `waitlist` after they
  ended.

Kept: signed notes, part of the health record the law requires kept, and the audit trail, which
holds ids and field names, never values, so nothing in it needs erasing and its chain still verifies.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Executable, Select, case, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from .. import audit
from ..audit import SYSTEM
from ..models import (
    Companion,
    Consultation,
    ConsultationStatus,
    EntryStatus,
    IdempotencyKey,
    OutboxMessage,
    OutboxStatus,
    Patient,
    WaitlistEntry,
    WalkInEntry,
)
from ..models.transactions import write_transaction

ANONYMISED_NAME = "Anonymised"
ANONYMISED_BIRTH_DATE = date(1900, 1, 1)  # for a booking's patient; `anonymised_at` says it is no date
_FINISHED = (OutboxStatus.DONE, OutboxStatus.DEAD, OutboxStatus.CANCELLED)


@dataclass(frozen=True)
class RetentionPeriods:
    """How long each kind of personal data is kept (see the module docstring)."""

    patient: timedelta
    reason: timedelta
    idempotency: timedelta
    outbox: timedelta
    waitlist: timedelta
    walk_in: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "RetentionPeriods":
        """The RETENTION_*_DAYS settings; ValueError naming one that is not a whole number of days ≥ 1."""
        periods = {}
        for field in fields(cls):
            name = f"RETENTION_{field.name.upper()}_DAYS"
            days = int(config[name])
            if days < 1:
                raise ValueError(f"CLINIC_{name} must be at least 1 (days), not {days}")
            periods[field.name] = timedelta(days=days)
        return cls(**periods)


def apply_retention(session: Session, periods: RetentionPeriods, *, now: datetime) -> dict[str, int]:
    """Erase or anonymise what is past its period, in one transaction; returns how many rows of each kind.

    A run that changed anything is an audit event with those counts. Safe in several workers at once:
    each statement skips rows already done, so a second run counts nothing twice.
    """
    with write_transaction(session):
        counts = {
            "patients": _anonymise_patients(session, _due_patients(now - periods.patient), now)
            + _anonymise_patients(session, _unseen_callers(now - periods.walk_in), now),
            "walk_in_callers": _anonymise_walk_ins(session, periods, now),
            "reasons": _erase_reasons(session, periods, now),
            "idempotency_keys": _rows(
                session, delete(IdempotencyKey).where(IdempotencyKey.created_at < now - periods.idempotency)
            ),
            "outbox_messages": _rows(
                session,
                delete(OutboxMessage).where(
                    OutboxMessage.status.in_(_FINISHED), OutboxMessage.due_at < now - periods.outbox
                ),
            ),
            "waitlist_entries": _rows(
                session, delete(WaitlistEntry).where(WaitlistEntry.ended_at < now - periods.waitlist)
            ),
        }
        if any(counts.values()):
            audit.record(
                session,
                SYSTEM,
                "retention.applied",
                entity_type="retention",
                entity_id=now.date().isoformat(),
                now=now,
                details=counts,
            )
    return counts


def _due_patients(cutoff: datetime) -> Select:
    """Ids of patient records not yet anonymised whose every consultation ended before `cutoff`."""
    recent = exists().where(Consultation.patient_id == Patient.id, Consultation.ends_at >= cutoff)
    return select(Patient.id).where(Patient.anonymised_at.is_(None), Patient.created_at < cutoff, ~recent)


def _unseen_callers(cutoff: datetime) -> Select:
    """Ids of walk-in callers' patient records (they have no date of birth) not yet anonymised whose call
    ended before `cutoff` called off (a walk-in call begins checked in: it is held, or it is cancelled)."""
    held = exists().where(
        Consultation.patient_id == Patient.id, Consultation.status != ConsultationStatus.CANCELLED
    )
    return _due_patients(cutoff).where(Patient.birth_date.is_(None), ~held)


def _anonymise_patients(session: Session, due: Select, now: datetime) -> int:
    their_consultations = select(Consultation.id).where(Consultation.patient_id.in_(due))
    _rows(
        session,
        update(Companion)
        .where(Companion.consultation_id.in_(their_consultations))
        .values(name=ANONYMISED_NAME, email=""),
    )
    _rows(
        session,
        update(Consultation)
        .where(Consultation.patient_id.in_(due))
        .values(meeting_join_url=None, meeting_host_url=None),
    )
    # Last: the statements above find the records by `anonymised_at` still being empty.
    return _rows(
        session,
        update(Patient)
        .where(Patient.id.in_(due))
        .values(
            name=ANONYMISED_NAME,
            email=None,
            email_key=None,
            phone="",
            # A walk-in caller's stays absent: it marks their calls as walk-in calls, not bookings.
            birth_date=case((Patient.birth_date.is_not(None), ANONYMISED_BIRTH_DATE)),
            anonymised_at=now,
        ),
    )


def _anonymise_walk_ins(session: Session, periods: RetentionPeriods, now: datetime) -> int:
    """Callers whose call was held go after the patient period, those never seen after their own."""
    seen = WalkInEntry.status == EntryStatus.COMPLETED
    return _rows(
        session,
        update(WalkInEntry)
        .where(
            or_(
                seen & (WalkInEntry.ended_at < now - periods.patient),
                ~seen & (WalkInEntry.ended_at < now - periods.walk_in),
            ),
            or_(
                WalkInEntry.name != ANONYMISED_NAME,
                WalkInEntry.email.is_not(None),
                WalkInEntry.phone != "",
                WalkInEntry.join_key.is_not(None),
                WalkInEntry.join_hash.is_not(None),
                WalkInEntry.interpreter_language.is_not(None),
            ),
        )
        .values(
            name=ANONYMISED_NAME,
            email=None,
            phone="",
            join_key=None,
            join_hash=None,
            interpreter_language=None,
        ),
    )


def reasons_erased(ends_at: Any, kept_for: timedelta, now: datetime) -> Any:
    """Whether a consultation that ended at `ends_at` is past its reasons' period `kept_for`, so that they
    are erased (or will be at the next run): then an empty reason does not mean that none was given. One
    rule for the pages (a datetime: a bool) and the erasure (a column: its SQL condition)."""
    return ends_at < now - kept_for


def _erase_reasons(session: Session, periods: RetentionPeriods, now: datetime) -> int:
    return _rows(
        session,
        update(Consultation)
        .where(
            reasons_erased(Consultation.ends_at, periods.reason, now),
            or_(Consultation.reason != "", Consultation.cancel_reason != ""),
        )
        .values(reason="", cancel_reason=""),
    )


def _rows(session: Session, statement: Executable) -> int:
    """How many rows a bulk UPDATE or DELETE touched (objects in the session are left as they were)."""
    return session.execute(statement, execution_options={"synchronize_session": False}).rowcount
