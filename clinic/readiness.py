"""What /readyz reports: whether this process can serve (its database answers), and the state of the
background work and of the request limits' storage that monitoring should page someone about.

Each check is ok or failing, or unknown when the database cannot be asked. The figures behind them
(counts, ages) are for the hospital's monitoring only: to anyone else they would tell how busy the
clinic is and whether its reminders are going out. The walk-in queues' lengths are figures only, never a
check: a long queue needs more staff, not a web process taken out of service.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .jobs.clock import database_time
from .jobs.heartbeat import OutboxHealth, outbox_health
from .walkin.duty import QueueWait, open_queue_waits

# A due message waiting longer than this means the workers are stopped or cannot keep up.
OUTBOX_LATE_AFTER = timedelta(minutes=5)
log = logging.getLogger(__name__)
CHECKS = ("database", "worker", "outbox", "dead_letters", "providers", "rate_limits")


@dataclass(frozen=True)
class Readiness:
    health: OutboxHealth | None  # None: the database did not answer
    limits_together: bool  # every process counts the request limits in one storage (Redis) that answers
    walk_ins: list[QueueWait] = field(default_factory=list)

    @property
    def serving(self) -> bool:
        """Whether this process can serve requests: a stopped worker alone must not take it out of service."""
        return self.health is not None

    def checks(self) -> dict[str, str]:
        """Each check as "ok", "failing" or "unknown"."""
        passed = {"database": self.health is not None, "rate_limits": self.limits_together}
        if self.health is not None:
            health = self.health
            passed |= {
                "worker": health.worker_ok,
                "outbox": (health.oldest_due_seconds or 0) <= OUTBOX_LATE_AFTER.total_seconds(),
                "dead_letters": health.dead_letters == 0,
                "providers": health.meeting_retries == 0,
            }
        return {name: _state(passed.get(name)) for name in CHECKS}

    def figures(self) -> dict[str, dict]:
        """The numbers behind the checks, for the hospital's own monitoring."""
        if self.health is None:
            return {}
        health = self.health
        return {
            "worker": {"live": health.live_workers},
            "outbox": {"due": health.due_messages, "oldest_due_seconds": health.oldest_due_seconds},
            "dead_letters": {"count": health.dead_letters},
            "providers": {"meeting_calls_retrying": health.meeting_retries},
            "walk_in": {
                queue.slug: {"waiting": queue.waiting, "oldest_wait_seconds": queue.oldest_wait_seconds}
                for queue in self.walk_ins
            },
        }


def readiness(session: Session, limits_together: bool) -> Readiness:
    """Ask the database for the state of the background work; a database that fails is itself the answer.

    By the database's time, which the workers keep for their heartbeats and claims (jobs/clock.py): this
    machine's clock, off by more than the 30 s a heartbeat has, took a working worker for gone, or one
    gone for working."""
    try:
        now = database_time(session)
        return Readiness(outbox_health(session, now), limits_together, open_queue_waits(session, now))
    except SQLAlchemyError as error:
        log.warning("the database does not answer: %s", type(error).__name__)
        session.rollback()
        return Readiness(None, limits_together)


def _state(passed: bool | None) -> str:
    """A check's state; None: it needs the database, which did not answer."""
    return "unknown" if passed is None else "ok" if passed else "failing"
