"""What /readyz reports: whether this process can serve (its database answers, with the schema this code
needs), and the state of the background work and of the request limits' storage that monitoring should
page someone about.

Each check is ok or failing, or unknown when the database cannot be asked. The figures behind them
(counts, ages) are for the hospital's monitoring only: to anyone else they would tell how busy the
clinic is and whether its reminders are going out. The walk-in queues' lengths are figures only, never a
check: a long queue needs more staff, not a web process taken out of service.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from .jobs.clock import database_time
from .jobs.heartbeat import OutboxHealth, outbox_health
from .models.schema_revision import SchemaBehind, SchemaCheck
from .models.transactions import driver_reason
from .walkin.duty import QueueWait, open_queue_waits

# A due message waiting longer than this means the workers are stopped or cannot keep up.
OUTBOX_LATE_AFTER = timedelta(minutes=5)
log = logging.getLogger(__name__)
CHECKS = ("database", "schema", "worker", "outbox", "dead_letters", "providers", "rate_limits")


@dataclass(frozen=True)
class Readiness:
    health: OutboxHealth | None  # None: the database did not answer, or its schema is not this code's
    limits_together: bool  # every process counts the request limits in one storage (Redis) that answers
    walk_ins: list[QueueWait] = field(default_factory=list)
    schema: bool | None = None  # whether its schema is this code's; None: the database did not answer
    # Why the process cannot serve, with revisions or the driver's words: for the monitor only.
    reason: str = ""

    @property
    def serving(self) -> bool:
        """Whether this process can serve requests: a stopped worker alone must not take it out of service."""
        return self.health is not None

    def checks(self) -> dict[str, str]:
        """Each check as "ok", "failing" or "unknown"."""
        passed = {
            "database": self.health is not None or self.schema is False,  # it answered, without our tables
            "schema": self.schema,
            "rate_limits": self.limits_together,
        }
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


def readiness(
    session: Session, limits_together: bool, schema: SchemaCheck, password: str | None
) -> Readiness:
    """Ask the database for the state of the background work; a database that fails, or has no schema or an
    older one than this code needs (`schema`), is itself the answer. The driver's words for a failure leave
    out the database URL's `password`.

    By the database's time, which the workers keep for their heartbeats and claims (jobs/clock.py): this
    machine's clock, off by more than the 30 s a heartbeat has, took a working worker for gone, or one
    gone for working."""
    try:
        schema.require_current(session.connection())
        now = database_time(session)
        health = outbox_health(session, now)
        return Readiness(health, limits_together, open_queue_waits(session, now), schema=True)
    except SchemaBehind as behind:
        log.warning("%s", behind)
        session.rollback()
        return Readiness(None, limits_together, schema=False, reason=str(behind))
    except SQLAlchemyError as error:
        said = driver_reason(error, password) if isinstance(error, DBAPIError) else type(error).__name__
        log.warning("the database does not answer: %s", said)
        session.rollback()
        return Readiness(None, limits_together, reason=f"the database does not answer: {said}")


def _state(passed: bool | None) -> str:
    """A check's state; None: it needs the database, which did not answer."""
    return "unknown" if passed is None else "ok" if passed else "failing"
