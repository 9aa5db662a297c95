"""Statements run on the DB-API cursor (clinic.models.driver): bound by name whatever the driver's style,
in the session's own transaction, their values converted by their column types as SQLAlchemy's
execution would."""

import threading
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, event, func, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from clinic.models import Department, OutboxKind, OutboxMessage, OutboxStatus
from clinic.models.driver import driver_batch, driver_rows
from clinic.models.inserts import insert_returning, insert_rows
from clinic.models.transactions import begin_write
from clinic.scheduling.availability import find_slots

from . import factories
from .conftest import postgres_only, statements_run
from .factories import department as new_department
from .racing import wait_for_a_lock_wait
from .wire import round_trips, statements_sent, wire

_BY_NAME_AND_ID = select(Department.id, Department.name).where(
    Department.name == bindparam("name"), Department.id > bindparam("after")
)


def test_the_tests_driver_trace_counts_the_statements_no_engine_event_sees(session):
    """tests/wire.statements_sent, by which tests count what a page or a search sends."""
    engine = session.get_bind()
    by_name = {"after": 0, "name": "Cardiology"}

    def reads(times: int) -> list[str]:
        with statements_sent(engine) as sent, statements_run(engine) as executed:
            for _ in range(times):
                driver_rows(session, _BY_NAME_AND_ID, by_name)
            session.commit()
        assert not [statement for statement in executed if "FROM department" in statement]
        return sent

    assert len(reads(3)) == len(reads(1)) + 2


def test_parameters_are_bound_by_name_and_rows_come_as_the_driver_gives_them(session):
    department = new_department(session)
    session.commit()

    # Given in another order than the statement names them: SQLite's driver binds by position.
    found = driver_rows(session, _BY_NAME_AND_ID, {"after": 0, "name": department.name})
    missing = driver_rows(session, _BY_NAME_AND_ID, {"after": department.id, "name": department.name})

    assert [tuple(row) for row in found] == [(department.id, department.name)]
    assert missing == []


def test_they_run_in_the_sessions_transaction_and_see_its_uncommitted_writes(session):
    department = new_department(session)
    session.commit()
    begin_write(session)
    department.name = "Renamed, not committed"
    session.flush()

    seen = driver_rows(session, _BY_NAME_AND_ID, {"after": 0, "name": "Renamed, not committed"})
    session.rollback()

    assert [row[0] for row in seen] == [department.id]
    assert driver_rows(session, _BY_NAME_AND_ID, {"after": 0, "name": "Renamed, not committed"}) == []


# Typed values both ways: instants (UTCDateTime), enums stored by value, dates, JSON, and values the
# statement holds itself (an IN list of constants, a LIMIT), which SQLAlchemy spreads into parameters.
_OF_STATUS = (
    select(
        OutboxMessage.id,
        OutboxMessage.kind,
        OutboxMessage.status,
        OutboxMessage.due_at,
        OutboxMessage.payload,
    )
    .where(
        OutboxMessage.consultation_id == bindparam("consultation"),
        OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.DEAD]),
        OutboxMessage.due_at >= bindparam("due_from"),
    )
    .order_by(OutboxMessage.id)
    .limit(50)
)

_rows = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(OutboxKind),
            "status": st.sampled_from(OutboxStatus),
            "due_at": st.datetimes(
                min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
            ),
            "payload": st.dictionaries(st.text("abc", max_size=3), st.integers(-(2**31), 2**31), max_size=3),
        }
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_rows, due_from=st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.just(UTC)))
def test_typed_values_go_and_come_as_through_sqlalchemy(session, consultation, rows, due_from):
    begin_write(session)
    keyed = [{**row, "consultation_id": consultation, "idempotency_key": str(uuid.uuid4())} for row in rows]
    insert_rows(session, OutboxMessage, keyed)
    parameters = {"consultation": consultation, "due_from": due_from}

    by_driver = driver_rows(session, _OF_STATUS, parameters)
    by_sqlalchemy = [tuple(row) for row in session.execute(_OF_STATUS, parameters)]
    session.rollback()

    assert by_driver == by_sqlalchemy
    expected = [
        r
        for r in rows
        if r["status"] in (OutboxStatus.PENDING, OutboxStatus.DEAD) and r["due_at"] >= due_from
    ]
    assert [(kind, status, due, payload) for _, kind, status, due, payload in by_driver] == [
        (r["kind"], r["status"], r["due_at"], r["payload"]) for r in expected
    ]


def test_an_insert_fills_the_columns_defaults_and_returns_what_it_was_not_given(session, consultation):
    begin_write(session)
    statement = insert(OutboxMessage).returning(
        OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.created_at
    )
    due = datetime(2030, 3, 31, 1, 30, tzinfo=UTC)
    values = {
        "consultation_id": consultation,
        "kind": OutboxKind.REMINDER,
        "due_at": due,
        "idempotency_key": "k",
    }

    status, attempts, created_at = insert_returning(session, statement, values)
    stored = session.execute(
        select(
            OutboxMessage.payload, OutboxMessage.due_at, OutboxMessage.kind, OutboxMessage.created_at
        ).where(OutboxMessage.idempotency_key == "k")
    ).one()
    session.rollback()

    assert (status, attempts) == (OutboxStatus.PENDING, 0)
    assert created_at.tzinfo is not None
    assert tuple(stored) == ({}, due, OutboxKind.REMINDER, created_at)


def test_an_in_list_the_caller_gives_goes_through_sqlalchemy(session):
    departments = [new_department(session), new_department(session)]
    session.commit()
    listed = (
        select(Department.name)
        .where(Department.id.in_(bindparam("ids", expanding=True)))
        .order_by(Department.id)
    )

    rows = driver_rows(session, listed, {"ids": [d.id for d in departments]})

    assert rows == [(d.name,) for d in departments]


@pytest.fixture
def consultation(session) -> int:
    svc = factories.service(session)
    person = factories.clinician(session, [svc])
    return factories.consultation(session, svc, person, datetime(2030, 1, 7, 9, tzinfo=UTC)).id


@postgres_only
def test_rows_inserted_together_ask_for_nothing_back(session, consultation):
    rows = [
        {"consultation_id": consultation, "kind": kind, "due_at": datetime(2030, 1, 1, tzinfo=UTC)}
        | {"idempotency_key": f"together-{kind}"}
        for kind in (OutboxKind.REMINDER, OutboxKind.CONFIRMATION)
    ]
    with wire(session.get_bind()) as sent:  # traced from the checkout: begin inside
        begin_write(session)
        insert_rows(session, OutboxMessage, rows)
        session.rollback()

    inserts = [message for message in sent if "INSERT INTO outbox_message" in message]
    assert inserts and not any("RETURNING" in message for message in inserts)


def test_a_slot_search_and_a_bookings_writes_run_past_sqlalchemys_execution(session):
    """The statements every page and booking runs stay on the driver's path: one that fell back to
    SQLAlchemy's execution (a value it must render, an IN list) would still work, only slower."""
    svc = factories.service(session)
    person = factories.clinician(session, [svc])
    session.commit()
    now = datetime(2030, 1, 1, 8, tzinfo=UTC)
    executed: list[str] = []

    def record(_connection, _cursor, statement, *_rest) -> None:
        executed.append(statement)

    event.listen(session.get_bind(), "before_cursor_execute", record)
    try:
        slots = find_slots(
            session, svc, datetime(2030, 1, 7, tzinfo=UTC), datetime(2030, 1, 8, tzinfo=UTC), now
        )
        session.rollback()
        factories.booking(session, svc, slots[0].start, now=now, clinician_id=person.id, key="past")
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", record)

    assert slots
    assert not [s for s in executed if "aggregate_strings" in s or s.lstrip().upper().startswith("INSERT")]


def test_the_drivers_errors_come_as_sqlalchemys(session):
    """A caller catches one family of errors whichever path ran its statement: `book()` turns an
    IntegrityError into "that time was just taken"."""
    department = new_department(session)
    session.commit()
    begin_write(session)

    with pytest.raises(IntegrityError) as caught:
        insert_returning(session, _DEPARTMENT_BY_ID, {"id": department.id, "name": "Taken id"})
    session.rollback()

    assert isinstance(caught.value.orig, session.get_bind().dialect.loaded_dbapi.IntegrityError)
    assert "Taken id" not in str(caught.value)  # no parameters in the text: they may be patients' details


_DEPARTMENT_BY_ID = insert(Department).returning(Department.id)


@postgres_only
def test_a_connection_lost_under_a_statement_is_not_handed_out_again(session):
    begin_write(session)
    (pid,) = driver_rows(session, select(func.pg_backend_pid()), {})[0]
    with session.get_bind().connect() as other:
        other.execute(select(func.pg_terminate_backend(pid)))

    with pytest.raises(OperationalError) as caught:
        driver_rows(session, _BY_NAME_AND_ID, {"after": 0, "name": "anyone"})
    session.rollback()

    assert caught.value.connection_invalidated
    assert driver_rows(session, select(func.pg_backend_pid()), {})[0][0] != pid


_LOCK_FIVE = text("SELECT pg_advisory_xact_lock(5)")
_DEPARTMENTS = select(func.count()).select_from(Department)


def test_a_batch_gives_each_statements_rows_as_one_by_one(session):
    department = new_department(session)
    session.commit()
    begin_write(session)
    statements = [
        (_BY_NAME_AND_ID, {"after": 0, "name": department.name}),
        (_DEPARTMENT_BY_ID, {"name": "Added in the batch"}),
        (_DEPARTMENTS, {}),
    ]

    batched = driver_batch(session, *statements)
    session.rollback()
    begin_write(session)
    one_by_one = [driver_rows(session, statement, parameters) for statement, parameters in statements]
    session.rollback()

    assert [len(rows) for rows in batched] == [1, 1, 1]
    assert batched[0] == one_by_one[0] == [(department.id, department.name)]
    assert batched[2] == one_by_one[2] == [(2,)]  # the second sees the first's INSERT


@postgres_only
def test_a_batch_goes_in_one_round_trip_with_its_transactions_begin(session):
    with wire(session.get_bind()) as sent:
        begin_write(session)
        driver_batch(
            session, (_LOCK_FIVE, {}), (_BY_NAME_AND_ID, {"after": 0, "name": "x"}), (_DEPARTMENTS, {})
        )
        session.rollback()

    # psycopg waits for its BEGIN's answer, pipeline or not: from the lock on, the batch and the ROLLBACK.
    batch = next(i for i, message in enumerate(sent) if "pg_advisory_xact_lock" in message)
    assert round_trips(sent[batch:]) == 2


@postgres_only
def test_a_read_batched_after_a_lock_sees_what_the_locks_holder_committed(app, session):
    """As if sent once the lock was taken: the guarantee a booking's checks rest on."""
    own = session()  # the scoped session's own: the batch runs in another thread
    begin_write(own)
    seen: list[list[tuple]] = []

    def batch() -> None:
        with app.app_context():
            seen.extend(driver_batch(own, (_LOCK_FIVE, {}), (_DEPARTMENTS, {})))

    with session.get_bind().connect() as holder:
        holder.execute(_LOCK_FIVE)
        holder.execute(insert(Department).values(name="Committed by the lock's holder"))
        batching = threading.Thread(target=batch)
        batching.start()
        wait_for_a_lock_wait(holder)
        holder.commit()
        batching.join(20)
    own.rollback()

    assert seen[1] == [(1,)]
