"""Worker heartbeats: each worker notes in the database that it is alive, so others can tell.

/readyz reports the live workers and how far the outbox is behind, so a hospital's monitoring
sees a stopped worker before patients miss their reminders. On SQLite a second worker refuses
to start while one is alive: the embedded database has one writer at a time, so a second worker
adds no throughput, only lock waits that end in "database is locked".
"""

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..models import OutboxKind, OutboxMessage, OutboxStatus, WorkerHeartbeat
from ..models.transactions import write_transaction

HEARTBEAT_INTERVAL = timedelta(seconds=10)
# Three missed beats: a worker busy with a long batch still beats, from its own thread.
ALIVE_WITHIN = 3 * HEARTBEAT_INTERVAL
# Rows of workers gone this long are only clutter.
FORGET_AFTER = timedelta(days=1)
MEETING_KINDS = tuple(kind for kind in OutboxKind if kind.startswith("meeting."))


class WorkerAlreadyRunning(RuntimeError):
    """Another worker is alive on this SQLite database."""


@dataclass(frozen=True)
class OutboxHealth:
    """What /readyz tells about the background work."""

    live_workers: int
    due_messages: int
    oldest_due_seconds: int | None
    dead_letters: int
    # Meeting calls that failed and wait for another attempt: the providers' health, as last seen.
    meeting_retries: int

    @property
    def worker_ok(self) -> bool:
        return self.live_workers > 0


def new_worker_id() -> str:
    """Host, pid and a random part: unique per start, so a restart never mistakes old claims for its own."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{os.urandom(4).hex()}"


def register(session: Session, worker_id: str, now: datetime) -> None:
    """Record a starting worker; on SQLite, raise WorkerAlreadyRunning if another one is alive."""
    with write_transaction(session):  # on SQLite, the write lock makes check-and-insert atomic
        if session.get_bind().dialect.name == "sqlite":
            others = [row for row in _alive(session, now) if row.worker_id != worker_id]
            alive = [row.worker_id for row in others if not _died_on_this_host(row.worker_id)]
            if alive:
                raise WorkerAlreadyRunning(
                    f"worker {alive[0]} is already running on this SQLite database; "
                    "run one worker with SQLite, or use PostgreSQL for several"
                )
        session.add(WorkerHeartbeat(worker_id=worker_id, started_at=now, beat_at=now))


def beat(session: Session, worker_id: str, now: datetime) -> None:
    """Note that the worker is alive, and forget workers long gone."""
    with write_transaction(session):
        session.execute(
            update(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id).values(beat_at=now)
        )
        session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < now - FORGET_AFTER))


def retire(session: Session, worker_id: str) -> None:
    """Remove a worker that stops cleanly, so a successor need not wait for its beat to go stale."""
    with write_transaction(session):
        session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id))


def outbox_health(session: Session, now: datetime) -> OutboxHealth:
    """Live workers, due messages and the oldest one's wait, dead letters waiting for an admin, and
    meeting calls waiting to be retried."""
    pending = OutboxMessage.status == OutboxStatus.PENDING
    due, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.due_at)).where(pending, OutboxMessage.due_at <= now)
    ).one()
    dead = session.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.DEAD))
    meetings = OutboxMessage.kind.in_(MEETING_KINDS)
    retries = select(func.count()).where(pending, meetings, OutboxMessage.attempts > 0)
    return OutboxHealth(
        live_workers=len(_alive(session, now)),
        due_messages=due,
        oldest_due_seconds=None if oldest is None else int((now - oldest).total_seconds()),
        dead_letters=dead,
        meeting_retries=session.scalar(retries),
    )


def _alive(session: Session, now: datetime) -> list[WorkerHeartbeat]:
    return list(session.scalars(select(WorkerHeartbeat).where(WorkerHeartbeat.beat_at >= now - ALIVE_WITHIN)))


def _died_on_this_host(worker_id: str) -> bool:
    # A worker killed without a chance to retire leaves a fresh beat; its pid tells whether it is gone.
    host, _, rest = worker_id.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:40] or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
