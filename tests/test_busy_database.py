"""A request that cannot take the lock it needs within DATABASE_LOCK_WAIT is answered 503 "busy, try
again" with nothing saved, well before gunicorn's worker timeout would kill it mid-way (the load bench's
race run found requests killed after 30 s of waiting, some just after their booking was saved, so the
patient never heard). On SQLite that is its one write lock; on PostgreSQL any lock, such as the one a
migration's ALTER TABLE holds on a table every booking reads."""

import runpy
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, make_url, select

from clinic.extensions import db
from clinic.models import Consultation, utcnow
from config import Config

from . import factories
from .conftest import GUNICORN_TIMEOUT, build_app, libpq_url, on_postgres, postgres_only
from .fakes.reminders import WorkerProcess
from .fakes.smtp import smtp_server  # noqa: F401 (a fixture)
from .test_api import booking_body, monday_after_next, wall
from .test_booking_pages import booking_form, clinic, next_week_at  # noqa: F401 (clinic: a fixture)
from .test_worker import assert_told_once, mails_due_in, wait_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app(database_url, tmp_path):
    """The usual test app, waiting only a quarter of a second for a lock."""
    app = build_app(database_url, str(tmp_path / "instance"), DATABASE_LOCK_WAIT=0.25)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@contextmanager
def write_lock_held(database_url: str, table: str = "consultation"):
    """Another process holding, until the block ends, the lock a booking needs: SQLite's write lock, or
    on PostgreSQL `table`'s, as a migration altering the table takes it."""
    if on_postgres():
        with psycopg.connect(libpq_url(database_url)) as holder:
            holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            yield
            holder.rollback()
        return
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def bookings(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(Consultation))


def test_a_booking_page_waiting_too_long_for_the_lock_is_told_to_try_again_and_nothing_is_saved(
    client,
    session,
    database_url,
    clinic,  # noqa: F811
):
    service, _ = clinic
    form = booking_form(service, next_week_at(11))

    with write_lock_held(database_url):
        busy = client.post("/book/confirm", data=form)
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "5"
    assert "Nothing was saved; please try again" in busy.get_data(as_text=True)
    assert 'href="tel:+442079460000"' in busy.get_data(as_text=True)  # to book by phone instead
    assert bookings(session) == 0

    again = client.post("/book/confirm", data=form)
    assert again.status_code in (200, 302, 303)
    assert bookings(session) == 1


def test_the_api_answers_a_busy_database_with_503_problem_json(client, session, database_url, clinic):  # noqa: F811
    service, _ = clinic
    body = booking_body(service.id, wall(monday_after_next(), 10))

    with write_lock_held(database_url):
        busy = client.post("/api/v1/bookings", json=body, headers={"Idempotency-Key": "busy-once"})
    assert busy.status_code == 503
    assert busy.mimetype == "application/problem+json"
    assert busy.get_json()["code"] == "busy"
    assert busy.headers["Retry-After"] == "5"
    assert bookings(session) == 0

    again = client.post("/api/v1/bookings", json=body, headers={"Idempotency-Key": "busy-once"})
    assert again.status_code == 201
    assert bookings(session) == 1


def test_the_lock_wait_leaves_a_request_time_to_answer_before_gunicorn_kills_its_worker():
    gunicorn_settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert Config.DATABASE_LOCK_WAIT * 2 <= gunicorn_settings["timeout"]


@postgres_only
def test_a_page_reading_a_table_a_migration_holds_is_told_to_try_again(app, session, database_url, clinic):  # noqa: F811
    service, _ = clinic
    query = {"service": service.id, "clinician": "any", "time_zone": "Europe/London"}
    session.rollback()  # the test's own reads: each request here has a session of its own
    patient = factories.browser(app)

    with write_lock_held(database_url):
        busy = patient.get("/book/time", query_string=query)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
    assert patient.get("/book/time", query_string=query).status_code == 200


@contextmanager
def statement_timeout(database_url: str, timeout: str) -> Iterator[None]:
    """A statement_timeout set for the database, as a DBA sets one for an application's role or database:
    for the sessions that start in the block."""
    name = make_url(database_url).database
    with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE \"{name}\" SET statement_timeout = '{timeout}'")
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" RESET statement_timeout')


def lock_waiters(database_url: str, what: str = "pid") -> list:
    """`what` of each statement of the database waiting for a lock, once there is one (within 10 s)."""
    waiting = f"""SELECT {what} FROM pg_stat_activity
                  WHERE wait_event_type = 'Lock' AND datname = current_database()"""
    deadline = time.monotonic() + 10
    with psycopg.connect(libpq_url(database_url), autocommit=True) as watcher:
        while not (found := watcher.execute(waiting).fetchall()):
            assert time.monotonic() < deadline, "no statement waits for the lock"
            time.sleep(0.02)
    return found


@postgres_only
@pytest.mark.parametrize("ended_by", ["pg_cancel_backend", "statement_timeout"])
def test_a_statement_the_database_cancels_is_told_to_try_again_and_nothing_is_saved(
    database_url,
    tmp_path,
    session,
    clinic,  # noqa: F811
    ended_by,
):
    """PostgreSQL ended the booking's statement (SQLSTATE 57014): a DBA's pg_cancel_backend, or a
    statement_timeout set for Clinic's database or role. The transaction was rolled back, as for a lock
    not taken in time; it was answered 500, and logged as an unhandled error."""
    service, _ = clinic
    form = booking_form(service, next_week_at(11))
    session.commit()
    timeout = statement_timeout(database_url, "300ms") if ended_by == "statement_timeout" else nullcontext()
    with timeout:
        app = build_app(database_url, str(tmp_path / "waiting"), DATABASE_LOCK_WAIT=20)
        patient = factories.browser(app)
        answers = []
        booking = threading.Thread(target=lambda: answers.append(patient.post("/book/confirm", data=form)))
        with write_lock_held(database_url):
            booking.start()
            if ended_by == "pg_cancel_backend":
                lock_waiters(database_url, "pg_cancel_backend(pid)")  # as a DBA ends a long statement
            booking.join(GUNICORN_TIMEOUT)
    (busy,) = answers
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
    assert "Nothing was saved; please try again" in busy.get_data(as_text=True)
    assert bookings(session) == 0
    assert patient.post("/book/confirm", data=form).status_code == 303
    assert bookings(session) == 1
    with app.app_context():
        db.engine.dispose()


# Seconds from now when the worker's mails fall due: after it has started and the lock is taken.
DUE_IN = 6


def test_the_worker_rides_out_a_lock_held_past_its_wait_and_delivers_what_fell_due_once(
    session,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811 (the fixture imported above)
):
    """A write (SQLite) or a migration (PostgreSQL: the consultation table) holding a lock past the
    worker's DATABASE_LOCK_WAIT: each tick logged an ERROR with a traceback while it lasted."""
    email, due = mails_due_in(session, DUE_IN)
    settings = {"CLINIC_DATABASE_LOCK_WAIT": "0.5"}
    worker = WorkerProcess(database_url, smtp_server, tmp_path, lease_seconds=2, settings=settings)
    try:
        assert wait_for(lambda: "ticking every" in worker.log()), worker.log()
        with write_lock_held(database_url):
            assert utcnow() < due, "the lock was taken too late: the mails were due before"
            # Ticks that find the mails due wait for the lock and give up (housekeeping may have before).
            assert wait_for(lambda: utcnow() > due + timedelta(seconds=1), timeout=2 * DUE_IN)
            assert "the database is busy" in worker.log() and smtp_server.inbox(email) == []
        assert wait_for(lambda: len(smtp_server.inbox(email)) == 1), worker.log()
        time.sleep(3)  # longer than the lease: anything left to repeat has been
    finally:
        worker.stop()
    log = worker.log()
    assert worker.process.returncode == 0, log
    assert len(smtp_server.inbox(email)) == 1
    assert_told_once(log, "the database is busy", "the database is free again")
