"""A pooled connection that PostgreSQL has closed (a restart, pg_terminate_backend, an idle timeout) is
replaced before a request uses it, so the request is served rather than failing; and checking for that
costs no round trip (clinic.models.connections)."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import event

from clinic.extensions import db
from clinic.models import Service, utcnow

from . import factories
from .conftest import PG_URL, libpq_url, postgres_only
from .fakes.outbox import open_clinic
from .fakes.reminders import WorkerProcess
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .test_reads_without_transaction import clinic
from .test_worker import next_weekday_at_ten, wait_for
from .wire import round_trips, statements, wire

__all__ = ["clinic"]  # a fixture shared with test_reads_without_transaction.py


def _end_other_sessions() -> None:
    """What a restart of PostgreSQL does to the app's pooled connections: each backend of this database
    but ours is told to end, sends its client the reason and closes the socket. Returns once all have:
    those backends, not every one, since a client may open a new connection meanwhile (the worker ticks)."""
    others = "datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    assert end_backends(others)  # the app's pooled connection, at least


def end_backends(which: str, parameters: Sequence[Any] = ()) -> list[int]:
    """Tell the backends of pg_stat_activity `which` selects to end, as a restart does (each sends its
    client the reason, 57P01, and closes the socket); returns their pids once all have ended."""
    with psycopg.connect(libpq_url(PG_URL), autocommit=True) as admin:
        ended = admin.execute(
            f"SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE {which}", parameters
        )
        pids = [pid for pid, _ in ended]
        remaining = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)"
        deadline = time.monotonic() + 10
        while admin.execute(remaining, [pids]).fetchone()[0]:
            assert time.monotonic() < deadline, "PostgreSQL did not end the sessions"
            time.sleep(0.02)
    return pids


@postgres_only
@pytest.mark.parametrize("path", ["/api/v1/slots", "/book"])
def test_a_request_after_postgresql_closed_the_pooled_connection_is_served(client, session, clinic, path):
    query = {"service": clinic, "tz": "Europe/London", "start": "2030-01-07", "end": "2030-01-07"}
    assert client.get(path, query_string=query).status_code == 200
    session.remove()  # the test's own session gives its connection back to the pool too

    _end_other_sessions()

    again = client.get(path, query_string=query)
    assert again.status_code == 200
    assert client.get(path, query_string=query).get_data() == again.get_data()


@postgres_only
def test_a_request_on_a_pooled_connection_sends_its_statements_alone(client, session, clinic):
    """No ping ahead of them: the check that the connection is open reads its socket without writing.
    Traced from the connection's opening, so the pool's own messages at checkout are seen too."""
    query = {"service": clinic, "tz": "Europe/London", "start": "2030-01-07", "end": "2030-01-07"}
    session.remove()
    db.engine.dispose()  # the next request opens the connection that the one after it reuses
    traced = []
    event.listen(db.engine, "connect", lambda dbapi_connection, _record: traced.append(dbapi_connection))

    with wire(db.engine, from_connect=True) as sent:
        for _ in range(3):
            assert client.get("/api/v1/slots", query_string=query).status_code == 200

    assert len(traced) == 1  # one connection served all three
    # A round trip per statement, and no other. Each runs three times: psycopg sends a statement's text,
    # which `statements` finds, until it prepares the statement at its fifth run.
    assert round_trips(sent) == len(statements(sent, "SELECT"))


@postgres_only
def test_the_worker_keeps_delivering_after_postgresql_closed_its_connections(
    session, database_url, tmp_path, smtp_server
):
    """As after a restart of PostgreSQL: the worker process's next ticks run on new connections, and no
    mail is lost or sent twice. (This test's own pool is emptied, so it shows the worker alone.)"""
    service = open_clinic(session)
    service_id, start = service.id, next_weekday_at_ten()
    first = factories.booking(session, service, start, now=utcnow()).consultation
    first_patient = first.patient.email
    worker = WorkerProcess(database_url, smtp_server, tmp_path, lease_seconds=120)
    try:
        assert wait_for(lambda: len(smtp_server.inbox(first_patient)) == 1), worker.log()
        session.remove()

        _end_other_sessions()  # the worker's pooled connections among them
        db.engine.dispose()

        service = session.get(Service, service_id)
        second = factories.booking(session, service, start + timedelta(hours=1), now=utcnow()).consultation
        assert wait_for(lambda: len(smtp_server.inbox(second.patient.email)) == 1), worker.log()
    finally:
        worker.stop()
    assert worker.process.returncode == 0, worker.log()
    assert len(smtp_server.inbox(first_patient)) == 1  # not sent again
