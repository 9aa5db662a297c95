"""A request's reads on PostgreSQL run outside any transaction: each SELECT is its own round trip, with no
BEGIN, no check that nothing was written and no COMMIT around it (clinic.models.transactions,
read_without_transaction); a write still opens its transaction by begin_write, and any other write is
refused rather than committed statement by statement."""

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import pq
from sqlalchemy import bindparam, event, insert, select, text, update

from clinic.extensions import db
from clinic.models import Department
from clinic.models.driver import driver_rows
from clinic.models.inserts import insert_loaded, insert_returning, insert_rows
from clinic.models.transactions import begin_write, read_without_transaction, stop_reading

from . import factories
from .conftest import postgres_only, sqlite_only
from .factories import department as new_department
from .test_api import booking_body, monday_after_next, wall
from .test_unwritten_transactions import _departments

ENDS_OF_A_TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "txid_current_if_assigned")


@contextmanager
def wire(engine, *, from_connect: bool = False) -> Iterator[list[str]]:
    """What the client sent PostgreSQL on the pool's connections in the block, as libpq traces it: one
    line per message (`Query "BEGIN"`, `Parse … "SELECT …"`, `Sync`), filled in when the block ends.
    Traced from each checkout to its checkin; `from_connect`: from each connection's opening to the
    block's end, the pool's own messages at checkout included."""
    sent: list[str] = []
    traced = []
    with tempfile.TemporaryFile() as log:

        def trace(dbapi_connection, *_record_and_proxy):
            dbapi_connection.pgconn.trace(log.fileno())
            dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            traced.append(dbapi_connection)

        def untrace(dbapi_connection, _record=None):
            dbapi_connection.pgconn.untrace()  # flushes libpq's buffer to the file

        listened = [("connect", trace)] if from_connect else [("checkout", trace), ("checkin", untrace)]
        for name, listener in listened:
            event.listen(engine, name, listener)
        try:
            yield sent
        finally:
            for name, listener in listened:
                event.remove(engine, name, listener)
            if from_connect:
                for dbapi_connection in traced:
                    if not dbapi_connection.closed:
                        untrace(dbapi_connection)
            log.seek(0)
            sent += _frontend_messages(log.read().decode())


def _frontend_messages(trace: str) -> list[str]:
    """The client's messages in a libpq trace: lines "F<tab>length<tab>message", a statement's own line
    breaks continuing its message on the lines after."""
    messages: list[tuple[str, str]] = []
    for line in trace.splitlines():
        if start := re.match(r"([FB])\t\d+\t", line):
            messages.append((start[1], line[start.end() :]))
        elif messages:
            messages[-1] = (messages[-1][0], f"{messages[-1][1]}\n{line}")
    return [message for direction, message in messages if direction == "F"]


def round_trips(sent: list[str]) -> int:
    """Each simple Query, and each Sync that ends an extended-protocol statement, waits for an answer."""
    return sum(message.startswith(("Query", "Sync")) for message in sent)


def statements(sent: list[str], *words: str) -> list[str]:
    return [message for message in sent if any(word in message for word in words)]


@pytest.fixture
def clinic(session):
    """One bookable service's id, with the session left holding no transaction into the requests."""
    service = factories.service(session, horizon_days=400)
    factories.clinician(session, [service])
    session.commit()
    service_id = service.id
    session.rollback()  # reading the id began one
    return service_id


@postgres_only
def test_a_page_sends_its_selects_alone(client, session, clinic):
    """Traced on the first requests of the connection: psycopg sends a statement's text until it has
    prepared it, at its fifth run."""
    day = monday_after_next()
    query = {"service": clinic, "tz": "Europe/London", "start": day, "end": day}

    with wire(db.engine) as sent:
        assert client.get("/api/v1/slots", query_string=query).status_code == 200

    selects = statements(sent, "SELECT")
    assert selects and len(selects) == len(statements(sent, "Parse"))  # every statement sent reads
    assert statements(sent, *ENDS_OF_A_TRANSACTION) == []
    # One round trip per SELECT, and no other.
    assert statements(sent, "Query") == []
    assert round_trips(sent) == len(selects)


@postgres_only
def test_a_booking_writes_in_one_transaction_of_its_own(client, session, clinic):
    body = booking_body(clinic, wall(monday_after_next(), 10))

    with wire(db.engine) as sent:
        response = client.post("/api/v1/bookings", json=body)

    assert response.status_code == 201, response.get_json()
    assert len(statements(sent, "BEGIN")) == 1
    assert statements(sent, '"COMMIT"') == ['Query\t "COMMIT"']
    assert statements(sent, "ROLLBACK", "txid_current_if_assigned") == []
    # Everything the booking wrote lies between its BEGIN and COMMIT.
    begin, commit = sent.index(statements(sent, "BEGIN")[0]), sent.index(statements(sent, '"COMMIT"')[0])
    writes = [n for n, message in enumerate(sent) if "INSERT" in message or "UPDATE" in message]
    assert writes and all(begin < n < commit for n in writes)


# Each a way to write outside begin_write: through SQLAlchemy (the ORM, Core, SQL written out) and on the
# DB-API cursor past its execution (clinic.models.inserts), which no engine event sees.
def _orm_flush(session, n):
    session.add(Department(name=f"Flushed {n}"))
    session.flush()


def _core_insert(session, n):
    session.execute(insert(Department).values(name=f"Core {n}"))


def _core_update(session, n):
    session.execute(update(Department).values(contact_phone=f"0{n}"))


def _text_update(session, n):
    session.execute(text("  update department SET name = name || '!'"))


def _driver_sql_delete(session, n):
    session.connection().exec_driver_sql("DELETE FROM department")


def _loaded_insert(session, n):
    insert_loaded(session, Department(name=f"Loaded {n}"))


def _rows_insert(session, n):
    insert_rows(session, Department, [{"name": f"Row {n}"}, {"name": f"Row {n + 1}"}])


def _driver_update(session, n):
    driver_rows(session, update(Department).values(contact_phone=bindparam("phone")), {"phone": f"0{n}"})


def _returning_insert(session, n):
    insert_returning(session, insert(Department).returning(Department.id), {"name": f"Returning {n}"})


@postgres_only
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    write=st.sampled_from(
        [
            _orm_flush,
            _core_insert,
            _core_update,
            _text_update,
            _driver_sql_delete,
            _loaded_insert,
            _rows_insert,
            _returning_insert,
            _driver_update,
        ]
    ),
    reads=st.integers(0, 2),
)
def test_a_write_outside_begin_write_is_refused_and_stores_nothing(session, write, reads):
    if not _departments(session):
        new_department(session)
        session.commit()
    before = _departments(session)
    session.rollback()
    read_without_transaction(session)

    for _ in range(reads):
        _departments(session)
    with pytest.raises(RuntimeError, match="begin_write"):
        write(session, reads)
    stop_reading(session, failed=True)

    assert _departments(session) == before
    session.rollback()


@postgres_only
def test_begin_write_on_a_reading_session_writes_atomically(session):
    new_department(session)
    session.commit()
    read_without_transaction(session)
    _departments(session)

    begin_write(session)
    session.execute(update(Department).values(name="Changed"))
    session.rollback()  # as a failure after the first of a write's statements would

    assert [name for name, _ in _departments(session)] != ["Changed"]
    begin_write(session)
    session.execute(update(Department).values(name="Changed"))
    session.commit()
    stop_reading(session)

    assert [name for name, _ in _departments(session)] == ["Changed"]
    session.rollback()


@postgres_only
@pytest.mark.parametrize("failed", [False, True])
def test_stop_reading_leaves_the_session_as_it_found_it(session, failed):
    """A test's app context outlives its requests, and its session with them: after a request (even
    one that failed) the session begins transactions again."""
    new_department(session)
    session.commit()
    read_without_transaction(session)
    _departments(session)

    stop_reading(session, failed=failed)

    assert not session().in_transaction()
    session.add(Department(name="Written as before"))
    session.commit()
    assert len(_departments(session)) == 2
    session.rollback()


@postgres_only
def test_a_session_already_in_a_transaction_keeps_it(session):
    new_department(session)
    session.flush()  # a transaction that wrote, not yet committed

    read_without_transaction(session)
    session.add(Department(name="Second"))
    session.flush()  # not refused: this transaction is not one that reads alone
    session.rollback()

    assert _departments(session) == []


@sqlite_only
def test_sqlite_sessions_keep_their_transactions(session):
    read_without_transaction(session)
    session.scalar(select(Department.id))

    assert session().in_transaction()
    assert not session.connection().get_execution_options().get("isolation_level")
    stop_reading(session)
