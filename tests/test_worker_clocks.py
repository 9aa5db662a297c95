"""Workers on machines whose clocks disagree keep one time, the database's: a worker whose machine runs
ahead by more than the lease would otherwise take the claims another worker is sending as expired, and
send their mail again. A worker's clock is set off with libfaketime, as a machine's own would be: skipped
without it (Debian's package faketime, which .ci/run installs)."""

import asyncio
from datetime import timedelta

import pytest

from clinic.extensions import db
from clinic.jobs.clock import DatabaseClock
from clinic.models import utcnow

from .conftest import postgres_only
from .fakes.reminders import FAKETIME, WorkerProcess, seed_due_reminders, tally, unfinished
from .fakes.smtp import FakeSMTPServer, RecordingHandler
from .test_worker import wait_for

needs_faketime = pytest.mark.skipif(FAKETIME is None, reason="needs libfaketime (apt-get install faketime)")
# Seconds: a claim is held longer than a batch takes (below), and a worker on a machine AHEAD seconds
# ahead sees every claim of the other's as expired.
LEASE = 10
AHEAD = 30
REMINDERS = 40
MAIL_SECONDS = 0.25  # per mail: a batch of 20 takes the worker 5 s, longer than the other's start


class SlowHandler(RecordingHandler):
    """Takes MAIL_SECONDS per mail, so that a worker holds its batch while the other starts."""

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(MAIL_SECONDS)
        return await super().handle_DATA(server, session, envelope)


@postgres_only
@needs_faketime
def test_a_worker_whose_machine_runs_ahead_takes_no_claim_of_another_and_repeats_no_mail(
    app, database_url, tmp_path
):
    """The worker ahead starts while the other is sending its first batch: before, it took that batch
    at its first tick, and the mail then in flight was sent twice."""
    expected = seed_due_reminders(db.engine, REMINDERS, utcnow())
    smtp = FakeSMTPServer(handler=SlowHandler())
    smtp.start()
    workers = []
    try:
        workers.append(WorkerProcess(database_url, smtp, tmp_path / "on time", lease_seconds=LEASE))
        assert wait_for(lambda: len(smtp.received) >= 2), workers[0].log()
        workers.append(
            WorkerProcess(database_url, smtp, tmp_path / "ahead", lease_seconds=LEASE, clock_ahead=AHEAD)
        )
        assert wait_for(lambda: unfinished(db.engine) == 0, timeout=60), workers[1].log()
    finally:
        for worker in workers:
            worker.stop()
        smtp.stop()

    delivery = tally(expected, smtp.received)
    assert delivery.exactly_once, delivery  # before: 15-19 of the 40 sent twice, in 3 runs
    on_time, ahead = (worker.log() for worker in workers)
    assert "lease expired" not in on_time, on_time
    assert "s ahead of the database's" in ahead  # and so set by it


def test_a_worker_on_the_databases_machine_keeps_its_own_time_and_says_when_the_clocks_agree_again(
    session, caplog
):
    clock = DatabaseClock()
    clock.offset = timedelta(seconds=40)  # as measured before this machine's clock was set

    clock.set_by(session)

    assert abs(clock.offset) < timedelta(seconds=1)
    assert abs(clock() - utcnow()) < timedelta(seconds=1)
    assert "agrees with the database's again" in caplog.text
