"""Writing to the outbox: the side effects of a change, added in the change's own transaction.

Each change to a consultation writes its side effects here before it commits, so a change and its
effects are saved together or not at all. Workers claim and run them later (see `claims` and
`dispatch`).
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..models import Consultation, OutboxKind, OutboxMessage, OutboxStatus
from ..notify.messages import Audience

REMINDER_KINDS = (OutboxKind.REMINDER, OutboxKind.PLAN_REMINDERS)


def enqueue_booked(session: Session, consultation: Consultation, now: datetime) -> None:
    """In the booking's transaction: create the meeting, confirm to both sides, plan the reminders."""
    _add(session, consultation, now, OutboxKind.MEETING_CREATE)
    _add_mails(session, consultation, now, OutboxKind.CONFIRMATION)
    _add(session, consultation, now, OutboxKind.PLAN_REMINDERS)


def enqueue_rescheduled(session: Session, consultation: Consultation, now: datetime) -> None:
    """In the reschedule's transaction: move the meeting, send updates, plan reminders for the new time."""
    _drop_pending_reminders(session, consultation, now)
    _add(session, consultation, now, OutboxKind.MEETING_UPDATE)
    _add_mails(session, consultation, now, OutboxKind.UPDATE)
    _add(session, consultation, now, OutboxKind.PLAN_REMINDERS)


def enqueue_cancelled(session: Session, consultation: Consultation, now: datetime) -> None:
    """In the cancellation's transaction: drop reminders, cancel the meeting, send cancellations."""
    _drop_pending_reminders(session, consultation, now)
    _add(session, consultation, now, OutboxKind.MEETING_CANCEL)
    _add_mails(session, consultation, now, OutboxKind.CANCELLATION)


def enqueue_retired_meeting(
    session: Session, consultation: Consultation, provider: str, external_id: str, now: datetime
) -> None:
    """Cancel, at its provider, a meeting the consultation no longer uses (a fallback replaced it)."""
    session.add(
        OutboxMessage(
            consultation_id=consultation.id,
            kind=OutboxKind.MEETING_CANCEL,
            payload={"retire": {"provider": provider, "external_id": external_id}},
            due_at=now,
            status=OutboxStatus.PENDING,
            attempts=0,
            idempotency_key=f"{consultation.uuid}:{OutboxKind.MEETING_CANCEL}:retire:{provider}:{external_id}"[
                :200
            ],
            created_at=now,
        )
    )


def plan_reminders(
    session: Session,
    consultation: Consultation,
    offsets: Sequence[timedelta],
    *,
    since: datetime,
    now: datetime,
) -> list[OutboxMessage]:
    """Add the patient's reminders due at start − each offset, skipping those already due at `since`.

    `since` is when the change was made: a reminder due after it but before `now` (the worker was
    down) is still planned and goes out late, as long as the consultation has not started.
    """
    planned = []
    for offset in offsets:
        due_at = consultation.starts_at - offset
        if due_at > since:
            seconds = int(offset.total_seconds())
            planned.append(
                _add(session, consultation, now, OutboxKind.REMINDER, Audience.PATIENT, due_at, seconds)
            )
    return planned


def _add_mails(session: Session, consultation: Consultation, now: datetime, kind: OutboxKind) -> None:
    for audience in (Audience.PATIENT, Audience.CLINICIAN):
        _add(session, consultation, now, kind, audience)


def _add(
    session: Session,
    consultation: Consultation,
    now: datetime,
    kind: OutboxKind,
    audience: Audience | None = None,
    due_at: datetime | None = None,
    offset_seconds: int | None = None,
) -> OutboxMessage:
    sequence = consultation.invite_sequence
    payload = {"sequence": sequence}
    key = f"{consultation.uuid}:{kind}:{audience or '-'}:{sequence}"
    if offset_seconds is not None:
        payload["offset_seconds"] = offset_seconds
        key += f":{offset_seconds}"
    message = OutboxMessage(
        consultation_id=consultation.id,
        kind=kind,
        audience=audience,
        payload=payload,
        due_at=due_at or now,
        status=OutboxStatus.PENDING,
        attempts=0,
        idempotency_key=key,
        created_at=now,
    )
    session.add(message)
    return message


def _drop_pending_reminders(session: Session, consultation: Consultation, now: datetime) -> None:
    # A reminder already running re-checks the consultation before it sends, so only pending ones go here.
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.consultation_id == consultation.id,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.kind.in_(REMINDER_KINDS),
        )
        .values(status=OutboxStatus.CANCELLED, outcome="superseded", done_at=now)
    )
