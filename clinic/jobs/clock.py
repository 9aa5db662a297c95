"""The workers' clock: the database server's time, read off this machine's clock and the offset between
the two, measured as the worker starts and at each heartbeat (`database_time`).

A claim's lease expires by the clock of whichever worker looks at it. A worker on a machine whose clock
ran ahead of another's by more than the lease (OUTBOX_LEASE_SECONDS) would take the other's claims, its
batch in hand, for expired and send their mail again; one behind would hold its own past their lease as
the others see it. Keeping the database's time, they agree. SQLite's database is on this machine: its
clock is the database's.
"""

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import utcnow

log = logging.getLogger(__name__)
# An offset past this is a machine's clock that wants setting (NTP): worth a line in the log.
NOTEWORTHY = timedelta(seconds=2)


class DatabaseClock:
    """A worker's clock (called for the time, as `utcnow` is), kept to the database server's."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def set_by(self, session: Session) -> None:
        """Measure the offset from the database server's clock, read halfway through the round trip."""
        sent = utcnow()
        server_time = database_time(session)
        offset = server_time - (sent + (utcnow() - sent) / 2)
        if abs(offset) > NOTEWORTHY >= abs(self.offset):
            log.warning(
                "this machine's clock is %.1f s %s the database's: the worker keeps the database's time; "
                "set this machine's clock (NTP)",
                abs(offset.total_seconds()),
                "behind" if offset > timedelta(0) else "ahead of",
            )
        elif abs(self.offset) > NOTEWORTHY >= abs(offset):
            log.warning("this machine's clock agrees with the database's again")
        self.offset = offset


def database_time(session: Session) -> datetime:
    """The database server's time now: what the workers keep (`DatabaseClock`), so what to compare
    their heartbeats and leases with. SQLite's database is on this machine: its clock."""
    if session.get_bind().dialect.name == "sqlite":
        return utcnow()
    return session.scalar(select(func.clock_timestamp()))
