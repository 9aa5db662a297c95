"""The outbox worker through a database outage: PostgreSQL cut off, or gone silent, for a while. The
worker keeps running, delivers what fell due meanwhile once the database answers again, repeats nothing,
and its log says what happened in two lines, without a patient's details."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import time
from datetime import timedelta

import pytest

from clinic.models import utcnow

from . import factories
from .conftest import PG_URL, postgres_only
from .fakes.outbox import open_clinic
from .fakes.reminders import WorkerProcess
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .fakes.tcp_link import linked
from .test_worker import next_weekday_at_ten, wait_for


@postgres_only
@pytest.mark.parametrize("fault", ["cut", "stall"])
def test_the_worker_rides_out_a_database_outage_and_delivers_what_fell_due(
    session, database_url, tmp_path, smtp_server, fault
):
    service = open_clinic(session)
    start = next_weekday_at_ten()
    first = factories.booking(session, service, start, now=utcnow()).consultation
    with linked(PG_URL) as (url, link):
        worker = WorkerProcess(url, smtp_server, tmp_path, lease_seconds=120)
        try:
            assert wait_for(lambda: len(smtp_server.inbox(first.patient.email)) == 1), worker.log()
            getattr(link, fault)()
            later = start + timedelta(hours=1)
            second = factories.booking(session, service, later, now=utcnow()).consultation
            time.sleep(3)  # ticks that find no database
            assert smtp_server.inbox(second.patient.email) == []
            link.mend()
            assert wait_for(lambda: len(smtp_server.inbox(second.patient.email)) == 1), worker.log()
        finally:
            worker.stop()
    log = worker.log()
    assert worker.process.returncode == 0, log
    assert len(smtp_server.inbox(first.patient.email)) == 1  # not sent again
    assert first.patient.email not in log and second.patient.email not in log
    # One line when it went and one when it was back, where each failed tick logged a traceback.
    assert log.count("the database is out of reach") == 1 and log.count("the database answers again") == 1
    assert "Traceback" not in log, log


@postgres_only
def test_a_worker_stopped_during_an_outage_exits_cleanly(session, database_url, tmp_path, smtp_server):
    """Its heartbeat row cannot be removed; it expires as a killed worker's does."""
    open_clinic(session)
    with linked(PG_URL) as (url, link):
        worker = WorkerProcess(url, smtp_server, tmp_path, lease_seconds=120)
        assert wait_for(lambda: "ticking every" in worker.log()), worker.log()
        link.cut()
        assert wait_for(lambda: "the database is out of reach" in worker.log()), worker.log()
        worker.stop()
    assert worker.process.returncode == 0, worker.log()
