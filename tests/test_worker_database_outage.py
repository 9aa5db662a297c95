"""The outbox worker through a database outage: PostgreSQL cut off, or gone silent, for a while. The
worker keeps running, delivers what fell due meanwhile once the database answers again, repeats nothing,
and its log says what happened in two lines, without a patient's details."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from clinic.models import utcnow

from . import factories
from .conftest import PG_URL, postgres_only
from .fakes.network_cable import network_cable
from .fakes.outbox import open_clinic
from .fakes.reminders import WorkerProcess
from .fakes.smtp import FakeSMTPServer, RecordingHandler, smtp_server  # noqa: F401 (fixture)
from .fakes.tcp_link import linked
from .test_closed_connections import end_backends
from .test_worker import assert_told_once, next_weekday_at_ten, wait_for

# Seconds the worker gives a silent connection, new or open: each fault is noticed within the test.
SILENCE = {"CLINIC_DATABASE_CONNECT_TIMEOUT": "2", "CLINIC_DATABASE_NETWORK_TIMEOUT": "2"}


@contextmanager
def outage(fault: str) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """PostgreSQL reached through a link that `fault` breaks: the URL, the fault, and its mend. "cut" and
    "stall" are a `TcpLink`'s, "pull" a `NetworkCable`'s: the host gone silent mid-connection."""
    if fault == "pull":
        with network_cable(PG_URL) as (url, cable):
            yield url, cable.pull, cable.plug
    else:
        with linked(PG_URL) as (url, link):
            yield url, getattr(link, fault), link.mend


@postgres_only
@pytest.mark.parametrize("fault", ["cut", "stall", "pull"])
def test_the_worker_rides_out_a_database_outage_and_delivers_what_fell_due(
    session, database_url, tmp_path, smtp_server, fault
):
    """Pulled, before DATABASE_NETWORK_TIMEOUT, the worker's statement hung unacknowledged, unnoticed and
    unlogged, for as long as Linux's retries last (about 15 minutes)."""
    service = open_clinic(session)
    start = next_weekday_at_ten()
    first = factories.booking(session, service, start, now=utcnow()).consultation
    with outage(fault) as (url, fail, mend):
        worker = WorkerProcess(url, smtp_server, tmp_path, lease_seconds=120, settings=SILENCE)
        try:
            assert wait_for(lambda: len(smtp_server.inbox(first.patient.email)) == 1), worker.log()
            fail()
            later = start + timedelta(hours=1)
            second = factories.booking(session, service, later, now=utcnow()).consultation
            assert wait_for(lambda: "the database is out of reach" in worker.log()), worker.log()
            time.sleep(1)  # ticks that find no database
            assert smtp_server.inbox(second.patient.email) == []
            mend()
            assert wait_for(lambda: len(smtp_server.inbox(second.patient.email)) == 1), worker.log()
        finally:
            worker.stop()
    log = worker.log()
    assert worker.process.returncode == 0, log
    assert len(smtp_server.inbox(first.patient.email)) == 1  # not sent again
    assert first.patient.email not in log and second.patient.email not in log
    # One line when it went and one when it was back, where each failed tick logged a traceback, and
    # APScheduler a line for each tick that came while a statement waited for the silent database.
    assert_told_once(log, "the database is out of reach", "the database answers again")


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


class ActsAt(RecordingHandler):
    """Accepts mail, and as it accepts the `nth` message does `act`: the worker sent it, and its record of
    that meets what `act` did."""

    def __init__(self, nth: int, act: Callable[[], object] | None = None) -> None:
        super().__init__()
        self.nth, self.act = nth, act

    async def handle_DATA(self, server, session, envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if len(self.received) == self.nth:
            self.act()
        return reply


@postgres_only
def test_an_outage_between_a_send_and_its_record_repeats_that_one_mail_and_loses_none(
    session, database_url, tmp_path
):
    service = open_clinic(session)
    start = next_weekday_at_ten()
    times = [start + timedelta(minutes=30 * n) for n in range(5)]
    for at in times:
        factories.booking(session, service, at, now=utcnow())
    mails = 2 * len(times)  # each booking's to the patient and to the clinician
    handler = ActsAt(nth=3)  # cuts the link, once there is one
    smtp = FakeSMTPServer(handler=handler)
    smtp.start()

    def sent() -> Counter:
        return Counter(str(received.message["Message-ID"]) for received in smtp.received)

    try:
        with linked(PG_URL) as (url, link):
            handler.act = link.cut
            worker = WorkerProcess(url, smtp, tmp_path, lease_seconds=2)
            try:
                assert wait_for(lambda: "the database is out of reach" in worker.log()), worker.log()
                time.sleep(1)
                link.mend()
                assert wait_for(lambda: len(sent()) == mails), worker.log()
                time.sleep(3)  # longer than the lease: anything left to repeat has been
            finally:
                worker.stop()
    finally:
        smtp.stop()

    assert len(sent()) == mails  # none lost
    assert sorted(sent().values(), reverse=True)[:2] == [2, 1]  # the one sent before the cut, again
    assert worker.process.returncode == 0, worker.log()


@postgres_only
def test_a_session_ended_while_a_mail_was_sent_is_replaced_and_the_mail_recorded_once(
    session, database_url, tmp_path
):
    """The worker holds two connections for a run's batches, unused while a mail is sent. One PostgreSQL
    closed meanwhile failed the result's record, and the mail went again once its lease expired."""
    service = open_clinic(session)
    start = next_weekday_at_ten()
    for n in range(5):
        factories.booking(session, service, start + timedelta(minutes=30 * n), now=utcnow())
    session.close()
    # As the first mail is accepted, every session of the database but the test's own ends, as a restart
    # (or a DBA's idle_session_timeout shorter than the send) ends them.
    ended = ActsAt(1, lambda: end_backends("datname = current_database() AND pid <> pg_backend_pid()"))
    smtp = FakeSMTPServer(handler=ended)
    smtp.start()
    try:
        worker = WorkerProcess(PG_URL, smtp, tmp_path, lease_seconds=2)
        try:
            assert wait_for(lambda: len(smtp.received) >= 10), worker.log()
            time.sleep(3)  # longer than the lease: anything left to repeat has been
        finally:
            worker.stop()
    finally:
        smtp.stop()

    sent = Counter(str(received.message["Message-ID"]) for received in smtp.received)
    assert len(sent) == 10 and set(sent.values()) == {1}, worker.log()
    assert "out of reach" not in worker.log()


@postgres_only
@pytest.mark.parametrize("then", ["answers", "stopped"])
def test_a_worker_started_while_the_database_is_away_waits_for_it(
    session, database_url, tmp_path, smtp_server, then
):
    """Before, its registration raised as it started: a traceback and exit status 1, again at each of
    systemd's restarts (every 5 s) for as long as the database stayed away."""
    open_clinic(session)
    with linked(PG_URL) as (url, link):
        link.cut()
        worker = WorkerProcess(url, smtp_server, tmp_path, lease_seconds=120)
        try:
            assert wait_for(lambda: "the database is out of reach" in worker.log()), worker.log()
            time.sleep(1)  # registrations tried again, in vain
            assert worker.process.poll() is None, worker.log()
            if then == "answers":
                link.mend()
                assert wait_for(lambda: "ticking every" in worker.log()), worker.log()
        finally:
            worker.stop()
    log = worker.log()
    assert worker.process.returncode == 0, log
    if then == "answers":
        assert_told_once(log, "the database is out of reach", "the database answers again")
    else:
        assert "Traceback" not in log and "ticking every" not in log, log
