"""A request's reads on PostgreSQL run outside any transaction: each SELECT is its own round trip, with no
BEGIN, no check that nothing was written and no COMMIT around it (clinic.models.transactions,
read_without_transaction); a write still opens its transaction by begin_write, and any other write is
refused rather than committed statement by statement."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, delete, func, insert, literal_column, select, text, update
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session

from clinic.extensions import db
from clinic.models import Department
from clinic.models.driver import driver_rows
from clinic.models.inserts import insert_loaded, insert_returning, insert_rows
from clinic.models.transactions import begin_write, read_without_transaction, stop_reading

from . import factories
from .conftest import listening, postgres_only, sqlite_only
from .factories import department as new_department
from .test_api import booking_body, monday_after_next, wall
from .test_unwritten_transactions import _departments
from .wire import round_trips, statements, wire

ENDS_OF_A_TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "txid_current_if_assigned")


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
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
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


# The driver's reads (clinic.models.driver.read_cursor): a session that reads without a transaction and
# holds no connection lends each statement a connection of the pool's, for that statement alone.
_NAMES = select(Department.name).order_by(Department.name)
_BACKEND = select(func.pg_backend_pid())


def _names(session) -> list[str]:
    return [name for (name,) in driver_rows(session, _NAMES, {})]


@postgres_only
def test_a_pages_reads_begin_nothing_on_the_session(client, session, clinic):
    """Each read takes the pool's connection for its statement and gives it back: the session begins no
    transaction for them (one it would have to roll back), and holds no connection between them."""
    session.remove()
    day = monday_after_next()
    pages = [
        ("/api/v1/slots", {"service": clinic, "tz": "Europe/London", "start": day, "end": day}),
        ("/book/time", {"service": clinic, "clinician": "any", "time_zone": "Europe/London"}),
    ]

    begun: list[tuple] = []
    with (
        listening(Session, "after_begin", lambda *transaction: begun.append(transaction)),
        wire(db.engine) as sent,
    ):
        for path, query in pages:
            assert client.get(path, query_string=query).status_code == 200

    assert begun == []
    assert statements(sent, "SELECT") and statements(sent, *ENDS_OF_A_TRANSACTION) == []
    assert db.engine.pool.checkedout() == 0


def _rolled_back_write_on(session) -> int:
    """A write in an ordinary transaction (none of read_without_transaction's options), rolled back: on a
    connection left in autocommit it would have been stored at once. Its connection's backend."""
    (backend,) = session.execute(_BACKEND).one()
    session.execute(insert(Department).values(name="Rolled back"))
    session.rollback()
    return backend


@postgres_only
def test_a_connection_lent_for_reads_comes_back_out_of_autocommit(session):
    """The pool hands the same connection to whoever asks next, whose statements must make one
    transaction again."""
    new_department(session, name="Kept")
    session.commit()
    session.remove()
    read_without_transaction(session)
    (reader,) = driver_rows(session, _BACKEND, {})[0]
    stop_reading(session)

    assert _rolled_back_write_on(session) == reader  # the pool's one connection, as the read left it
    assert _names(session) == ["Kept"]
    session.rollback()


@postgres_only
def test_a_failed_read_raises_as_sqlalchemy_does_and_spoils_no_connection(session):
    read_without_transaction(session)
    (reader,) = driver_rows(session, _BACKEND, {})[0]

    with pytest.raises(DataError):
        driver_rows(session, select(literal_column("1") / bindparam("zero")), {"zero": 0})

    assert _names(session) == []
    stop_reading(session)
    assert _rolled_back_write_on(session) == reader
    assert _names(session) == []
    session.rollback()


@postgres_only
def test_a_connection_lost_under_a_read_is_not_lent_again(session):
    read_without_transaction(session)
    (pid,) = driver_rows(session, _BACKEND, {})[0]

    with pytest.raises(OperationalError) as caught:
        driver_rows(session, select(func.pg_terminate_backend(func.pg_backend_pid())), {})

    assert caught.value.connection_invalidated
    assert driver_rows(session, _BACKEND, {})[0][0] != pid
    stop_reading(session)


# What a request may do on a session that reads without a transaction, in any order.
_STEPS = st.lists(
    st.sampled_from(["read", "read through the ORM", "write and commit", "write and roll back"]),
    max_size=8,
)


@postgres_only
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_STEPS)
def test_reads_see_what_was_committed_and_a_write_its_own_rows(session, steps):
    """Whichever connection serves a read, a read sees every committed write and nothing rolled back;
    inside a write's transaction, the driver's read sees that transaction's own uncommitted row."""
    session.execute(delete(Department))
    session.commit()
    session.remove()
    read_without_transaction(session)
    committed: list[str] = []

    for n, step in enumerate(steps):
        if step == "read":
            assert _names(session) == sorted(committed)
        elif step == "read through the ORM":
            assert list(session.scalars(_NAMES)) == sorted(committed)
        else:
            begin_write(session)
            name = f"Written {n}"
            session.execute(insert(Department).values(name=name))
            assert _names(session) == sorted([*committed, name])
            if step == "write and commit":
                session.commit()
                committed.append(name)
            else:
                session.rollback()
    stop_reading(session)

    assert _names(session) == sorted(committed)
    session.rollback()
