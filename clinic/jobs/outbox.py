"""The outbox queue: rows written in the transaction of each change, claimed by workers, then finished.

Each change to a consultation writes its side effects here before it commits, so a change and its
effects are saved together or not at all. Workers claim due rows under a lease and run them (see
`dispatch`); delivery is at least once, and the window in which a repeat can happen is one send
that succeeded just before its worker died, which then repeats with the same Message-ID.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from ..models import Consultation, OutboxKind, OutboxMessage, OutboxStatus
from ..models.transactions import write_transaction
from ..notify.messages import Audience

# Messages that make or change the meeting link: everything after them needs their result.
LINK_CHANGES = (OutboxKind.MEETING_CREATE, OutboxKind.MEETING_UPDATE)
CHANGE_MAILS = (OutboxKind.CONFIRMATION, OutboxKind.UPDATE, OutboxKind.CANCELLATION)
UNFINISHED = (OutboxStatus.PENDING, OutboxStatus.RUNNING)
REMINDER_KINDS = (OutboxKind.REMINDER, OutboxKind.PLAN_REMINDERS)
# A finished message keeps `claimed_by` (who ran it, for the admin); one put back to wait loses it.
_RELEASED = {"lease_until": None, "claimed_by": None}


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


def claim_due_messages(
    session: Session, worker_id: str, now: datetime, limit: int, *, lease: timedelta
) -> list[OutboxMessage]:
    """Claim up to `limit` due messages for `worker_id` until `now + lease`, oldest first.

    A message waits while an earlier one of its consultation that must go first is unfinished: the
    creation or move of the meeting (whose link it needs), and for a mail the earlier invites to the
    same recipient, so invites arrive in the order of the changes. Nothing waits for a meeting to be
    cancelled at the provider: the cancellation mail goes out even while the provider is down.
    PostgreSQL skips rows another worker is claiming (SKIP LOCKED); SQLite claims under its write lock.
    """
    with write_transaction(session):
        claimed = session.scalars(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(_claimable(now, limit)))
            .values(
                status=OutboxStatus.RUNNING,
                attempts=OutboxMessage.attempts + 1,
                lease_until=now + lease,
                claimed_by=worker_id,
            )
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        ).all()
    if not claimed:
        return []
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(claimed))
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
    )
    return list(session.scalars(query.execution_options(populate_existing=True)))


def _claimable(now: datetime, limit: int):
    due, earlier = aliased(OutboxMessage), aliased(OutboxMessage)
    goes_first = or_(
        earlier.kind.in_(LINK_CHANGES),
        and_(earlier.kind.in_(CHANGE_MAILS), earlier.audience == due.audience),
    )
    waiting = exists().where(
        earlier.consultation_id == due.consultation_id,
        earlier.id < due.id,
        earlier.status.in_(UNFINISHED),
        goes_first,
    )
    return (
        select(due.id)
        .where(
            due.status == OutboxStatus.PENDING,
            due.due_at <= now,
            or_(due.kind == OutboxKind.PLAN_REMINDERS, ~waiting),
        )
        .order_by(due.due_at, due.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def hold(session: Session, message: OutboxMessage, worker_id: str, now: datetime, lease: timedelta) -> bool:
    """Renew our lease before running `message`; False if it expired and the message was taken back."""
    if message.lease_until is not None and message.lease_until - now > lease / 2:
        return True  # nobody can have reclaimed a lease that still has half its time left
    with write_transaction(session):
        return _transition(session, message.id, worker_id, lease_until=now + lease)


def complete(
    session: Session,
    message_id: int,
    worker_id: str,
    now: datetime,
    *,
    status: OutboxStatus = OutboxStatus.DONE,
    outcome: str | None = None,
    error: str | None = None,
) -> bool:
    """Mark our claimed message finished (done, or cancelled when it turned out to be moot).

    In the caller's transaction; False, changing nothing, if our claim was lost meanwhile. An earlier
    attempt's `last_error` stays unless `error` (what led to `outcome`) replaces it.
    """
    values = {"status": status, "outcome": outcome, "done_at": now, "lease_until": None}
    if error is not None:
        values["last_error"] = error
    return _transition(session, message_id, worker_id, **values)


def retry(
    session: Session, message_id: int, worker_id: str, now: datetime, delay: timedelta, error: str
) -> bool:
    """Put our claimed message back to run again after `delay`, in the caller's transaction."""
    return _transition(
        session,
        message_id,
        worker_id,
        status=OutboxStatus.PENDING,
        due_at=now + delay,
        last_error=error,
        **_RELEASED,
    )


def dead_letter(session: Session, message_id: int, worker_id: str, now: datetime, error: str) -> bool:
    """Give up on our claimed message: an admin sees it and may `requeue` it, in the caller's transaction."""
    return _transition(
        session,
        message_id,
        worker_id,
        status=OutboxStatus.DEAD,
        last_error=error,
        done_at=now,
        lease_until=None,
    )


def reclaim_expired(session: Session, now: datetime, max_attempts: int) -> int:
    """Take back claims whose lease ran out (their worker died or hung); returns how many.

    A message that has used all its attempts this way is a dead letter: it may be what kills workers.
    """
    expired = and_(OutboxMessage.status == OutboxStatus.RUNNING, OutboxMessage.lease_until < now)
    with write_transaction(session):
        dead = session.execute(
            update(OutboxMessage)
            .where(expired, OutboxMessage.attempts >= max_attempts)
            .values(status=OutboxStatus.DEAD, last_error="LeaseExpired", done_at=now, **_RELEASED)
        ).rowcount
        back = session.execute(
            update(OutboxMessage)
            .where(expired)
            .values(status=OutboxStatus.PENDING, last_error="LeaseExpired", **_RELEASED)
        ).rowcount
    return dead + back


def requeue(session: Session, message_id: int, now: datetime) -> bool:
    """Run a dead letter again from its first attempt (the admin's "retry" button); commits."""
    with write_transaction(session):
        requeued = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.DEAD)
            .values(
                status=OutboxStatus.PENDING,
                attempts=0,
                due_at=now,
                done_at=None,
                outcome=None,
                claimed_by=None,
            )
        ).rowcount
    return requeued == 1


def _transition(session: Session, message_id: int, worker_id: str, **values) -> bool:
    # Only the worker that holds the claim may move a message on; anyone else's result is dropped.
    changed = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == OutboxStatus.RUNNING,
            OutboxMessage.claimed_by == worker_id,
        )
        .values(**values)
        .execution_options(synchronize_session=False)  # the commit that follows expires the row anyway
    ).rowcount
    return changed == 1


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
