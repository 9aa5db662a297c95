"""A request's transaction that wrote nothing ends in COMMIT, so psycopg keeps what it prepared
(clinic.models.transactions.end_unwritten), and so does a read ended before a write (end_transaction,
begin_write); any transaction that wrote still ends in the rollback."""

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import DataError

from clinic.extensions import db
from clinic.models import Department
from clinic.models.driver import driver_cursor
from clinic.models.transactions import begin_write, end_transaction, end_unwritten
from clinic.scheduling.errors import SlotTaken

from . import factories
from .conftest import build_app, postgres_only, sqlite_only
from .factories import department as new_department

PREPARED = text("SELECT count(*) FROM pg_prepared_statements")
PREPARED_NAMES = text("SELECT name FROM pg_prepared_statements")


def _departments(session) -> list[tuple]:
    return [tuple(row) for row in session.execute(select(Department.name, Department.contact_phone))]


@postgres_only
def test_read_only_requests_keep_their_statements_prepared(database_url, tmp_path):
    """Each request ends its session; before, the rollback that ended it made psycopg forget every
    statement it had prepared, so none outlived its request."""
    # No app context held, as in production: each request ends its own session.
    app = build_app(database_url, str(tmp_path / "instance"))
    client = app.test_client()
    with app.app_context():
        new_department(db.session)
        db.session.commit()

    for _ in range(8):  # psycopg prepares a statement on its fifth run on a connection
        assert client.get("/api/v1/services").status_code == 200

    with app.app_context():
        assert db.session.scalar(PREPARED) > 0
        db.session.rollback()
        db.engine.dispose()


@postgres_only
def test_a_transaction_that_only_read_is_committed_and_keeps_what_was_prepared(session):
    new_department(session)
    session.commit()
    for _ in range(6):
        _departments(session)
    prepared = session.scalar(PREPARED)

    end_unwritten(session)

    assert not session().in_transaction()
    assert prepared > 0 and session.scalar(PREPARED) == prepared


@postgres_only
def test_a_booking_after_reads_keeps_what_the_reads_prepared(session, now):
    """The booking pages read the service and clinician, then book; the rollback that ended that read
    made psycopg forget what the connection had prepared, at every booking."""
    service = factories.service(session)
    factories.clinician(session, [service])
    session.commit()
    for _ in range(6):
        _departments(session)
    prepared = set(session.scalars(PREPARED_NAMES))

    factories.booking(session, service, datetime(2026, 3, 3, 10, tzinfo=UTC), now=now)

    assert prepared and prepared <= set(session.scalars(PREPARED_NAMES))


@postgres_only
def test_a_refused_booking_keeps_what_was_prepared(session, now):
    """A booking refused for a time just taken locked the clinicians' rows and wrote nothing; the
    rollback that ended it made psycopg forget what the connection had prepared."""
    service = factories.service(session)
    factories.clinician(session, [service])
    session.commit()
    taken = datetime(2026, 3, 3, 10, tzinfo=UTC)
    factories.booking(session, service, taken, now=now)
    for _ in range(6):
        _departments(session)
    prepared = set(session.scalars(PREPARED_NAMES))

    with pytest.raises(SlotTaken):
        factories.booking(session, service, taken, now=now)

    assert prepared and prepared <= set(session.scalars(PREPARED_NAMES))


@postgres_only
def test_a_failed_transaction_is_left_to_the_rollback(session):
    new_department(session)
    session.commit()
    with pytest.raises(DataError):
        session.execute(text("SELECT 1 / 0"))

    end_unwritten(session)  # its check fails too: no error of its own

    session.rollback()
    assert len(_departments(session)) == 1


@sqlite_only
def test_sqlite_transactions_are_left_alone(session):
    _departments(session)

    end_unwritten(session)

    assert session().in_transaction()


# Each a way a transaction can change the database, or hold changes it has not sent yet.
def _core_insert(session, n):
    session.execute(insert(Department).values(name=f"Core {n}"))


def _orm_pending(session, n):
    session.add(Department(name=f"Pending {n}"))


def _orm_flushed(session, n):
    session.add(Department(name=f"Flushed {n}"))
    session.flush()


def _driver_update(session, n):
    with driver_cursor(session) as cursor:
        cursor.execute("UPDATE department SET name = name || '!'")


def _core_update(session, n):
    session.execute(update(Department).values(contact_phone=f"0{n}"))


def _locked_read(session, n):
    session.execute(select(Department.id).with_for_update())


def _read(session, n):
    _departments(session)


def _count(session, n):
    session.scalar(select(func.count()).select_from(Department))


WRITES = [_core_insert, _orm_pending, _orm_flushed, _driver_update, _core_update, _locked_read]
READS = [_read, _count]


def _begin_write(session):
    """A write transaction begun after the steps, and then abandoned without a change of its own."""
    begin_write(session)
    session.rollback()


@postgres_only
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(st.sampled_from(WRITES + READS), max_size=5),
    write=st.sampled_from(WRITES),
    at=st.integers(0, 5),
    end=st.sampled_from([end_unwritten, end_transaction, _begin_write]),
)
def test_it_never_commits_a_change(session, steps, write, at, end):
    """Whatever a transaction did, once it changed something (or locked rows, or holds unsent objects)
    ending it leaves it to the rollback: nothing of it is stored."""
    if not _departments(session):
        new_department(session)
        session.commit()
    before = _departments(session)
    session.rollback()
    steps = [*steps[:at], write, *steps[at:]]

    for n, step in enumerate(steps):
        step(session, n)
    if end is _begin_write and (session.new or session.dirty):
        with pytest.raises(RuntimeError):  # it refuses unsent objects rather than drop them
            end(session)
    else:
        end(session)
    session.rollback()

    assert _departments(session) == before
    session.rollback()
