"""Claiming outbox messages and finishing them: leases, retries, dead letters, requeues.

Workers claim due rows under a lease and run them (see `dispatch`); only the worker holding a claim
may finish it. Delivery is at least once, and the window in which a repeat can happen is one send
that succeeded just before its worker died, which then repeats with the same Message-ID.
"""

from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from ..models import OutboxKind, OutboxMessage, OutboxStatus
from ..models.outbox import UNFINISHED
from ..models.transactions import write_transaction
from ..notify.notices import Audience

# Messages that make or change the meeting link: everything after them needs their result.
LINK_CHANGES = (OutboxKind.MEETING_CREATE, OutboxKind.MEETING_UPDATE)
CHANGE_MAILS = (
    OutboxKind.CONFIRMATION,
    OutboxKind.UPDATE,
    OutboxKind.NEW_ROOM,
    OutboxKind.CANCELLATION,
    OutboxKind.HANDED_OVER,
)
# Messages that wait for nothing of their consultation's: planning, and the waitlist's, which are about
# the time it freed (an offer must not wait for the provider to move the meeting away from it).
INDEPENDENT = (
    OutboxKind.PLAN_REMINDERS,
    OutboxKind.WAITLIST_OFFERS,
    OutboxKind.WAITLIST_OFFER_MAIL,
    OutboxKind.WAITLIST_GONE_MAIL,
)
# A finished message keeps `claimed_by` (who ran it, for the admin); one put back to wait loses it.
_RELEASED = {"lease_until": None, "claimed_by": None}


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
    parameters = {
        "claim_now": now,
        "claim_limit": limit,
        "claim_lease": now + lease,
        "claim_worker": worker_id,
    }
    with write_transaction(session):
        claimed = session.scalars(_CLAIM, parameters).all()
    if not claimed:
        return []
    return list(session.scalars(_CLAIMED, {"claimed_ids": claimed}))


def _claimable():
    due, earlier = aliased(OutboxMessage), aliased(OutboxMessage)
    # Companions are told apart by id: a replaced one's invites, retried while their server refuses, must
    # not hold up the next one's invitation and reminders.
    same_recipient = and_(
        earlier.audience == due.audience,
        or_(
            due.audience != Audience.COMPANION,
            earlier.payload["companion_id"].as_integer() == due.payload["companion_id"].as_integer(),
        ),
    )
    goes_first = or_(earlier.kind.in_(LINK_CHANGES), and_(earlier.kind.in_(CHANGE_MAILS), same_recipient))
    waiting = exists().where(
        earlier.consultation_id == due.consultation_id,
        earlier.id < due.id,
        # In the SQL text, as the partial index ix_outbox_message_unfinished names them: a plan must see
        # they match to use it, and a prepared statement's generic plan does not see bound values.
        earlier.status.in_(bindparam("unfinished", list(UNFINISHED), expanding=True, literal_execute=True)),
        goes_first,
    )
    return (
        select(due.id)
        .where(
            due.status == OutboxStatus.PENDING,
            due.due_at <= bindparam("claim_now"),
            or_(due.kind.in_(INDEPENDENT), ~waiting),
        )
        .order_by(due.due_at, due.id)
        .limit(bindparam("claim_limit"))
        .with_for_update(skip_locked=True)
    )


# Built once, like _TRANSITION below: building them per batch cost more than running them.
_CLAIM = (
    update(OutboxMessage)
    .where(OutboxMessage.id.in_(_claimable()))
    .values(
        status=OutboxStatus.RUNNING,
        attempts=OutboxMessage.attempts + 1,
        lease_until=bindparam("claim_lease", type_=OutboxMessage.lease_until.type),
        claimed_by=bindparam("claim_worker", type_=OutboxMessage.claimed_by.type),
    )
    .returning(OutboxMessage.id)
    .execution_options(synchronize_session=False)
)
_CLAIMED = (
    select(OutboxMessage)
    .where(OutboxMessage.id.in_(bindparam("claimed_ids", expanding=True)))
    .order_by(OutboxMessage.due_at, OutboxMessage.id)
    .execution_options(populate_existing=True)
)


def hold(
    connection: Connection, message: OutboxMessage, worker_id: str, now: datetime, lease: timedelta
) -> bool:
    """Renew our lease before running `message`, in a transaction of the serialising `connection` (see
    `serialising`); False if it expired and the message was taken back."""
    if message.lease_until is not None and message.lease_until - now > lease / 2:
        return True  # nobody can have reclaimed a lease that still has half its time left
    with connection.begin():
        return _transition(connection, message.id, worker_id, lease_until=now + lease)


def complete(
    connection: Connection,
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
    return _transition(connection, message_id, worker_id, **values)


def retry(
    connection: Connection, message_id: int, worker_id: str, now: datetime, delay: timedelta, error: str
) -> bool:
    """Put our claimed message back to run again after `delay`, in the caller's transaction."""
    return _transition(
        connection,
        message_id,
        worker_id,
        status=OutboxStatus.PENDING,
        due_at=now + delay,
        last_error=error,
        **_RELEASED,
    )


def postpone(
    connection: Connection, message_id: int, worker_id: str, due_at: datetime, attempts: int, outcome: str
) -> bool:
    """Put our claimed message back to run at `due_at` with the `attempts` it had before this claim: it
    was held, not tried (see `Result.again_at`). In the caller's transaction."""
    return _transition(
        connection,
        message_id,
        worker_id,
        status=OutboxStatus.PENDING,
        due_at=due_at,
        outcome=outcome,
        attempts=attempts,
        **_RELEASED,
    )


def dead_letter(connection: Connection, message_id: int, worker_id: str, now: datetime, error: str) -> bool:
    """Give up on our claimed message: an admin sees it and may `requeue` it, in the caller's transaction."""
    return _transition(
        connection,
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


# Built once: compiling the statement per message cost more than running it. The SET clause comes from
# the names of the values given (SQLAlchemy's Core); the WHERE clause's parameters are named apart.
_TRANSITION = update(OutboxMessage.__table__).where(
    OutboxMessage.__table__.c.id == bindparam("claimed_id"),
    OutboxMessage.__table__.c.status == OutboxStatus.RUNNING,
    OutboxMessage.__table__.c.claimed_by == bindparam("claimed_worker"),
)


def _transition(connection: Connection, message_id: int, worker_id: str, **values) -> bool:
    # Only the worker that holds the claim may move a message on; anyone else's result is dropped.
    parameters = {"claimed_id": message_id, "claimed_worker": worker_id, **values}
    return connection.execute(_TRANSITION, parameters).rowcount == 1
