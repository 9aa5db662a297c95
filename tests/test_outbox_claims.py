"""Claims: one worker per message, in dependency order, and a dead worker's claims come back."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from clinic.audit import Actor
from clinic.extensions import db
from clinic.jobs.claims import _claimable, claim_due_messages, reclaim_expired
from clinic.jobs.context import message_id_for
from clinic.jobs.dispatch import connections, load_consultations, retry_delay, run_message
from clinic.jobs.effects import perform
from clinic.models import OutboxKind, OutboxMessage, OutboxStatus
from clinic.scheduling.lifecycle import reschedule

from . import factories
from .conftest import postgres_only
from .fakes.outbox import invite, open_clinic, outbox  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.reminders import seed_due_reminders
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def book(session, now, start=TUESDAY_10):
    return factories.booking(session, open_clinic(session), start, now=now).consultation


def test_mails_are_not_claimed_while_their_meeting_is_unfinished(session, now, outbox):
    book(session, now)

    claimed = claim_due_messages(db.session, "worker-a", now, 10, lease=LEASE)
    assert [m.kind for m in claimed] == [OutboxKind.MEETING_CREATE, OutboxKind.PLAN_REMINDERS]
    assert {(m.status, m.claimed_by, m.attempts) for m in claimed} == {(OutboxStatus.RUNNING, "worker-a", 1)}
    assert claimed[0].lease_until == now + LEASE
    assert claim_due_messages(db.session, "worker-b", now, 10, lease=LEASE) == []


def test_a_recipients_invites_arrive_in_the_order_of_the_changes(session, now, outbox, smtp_server):
    smtp_server.reply_to_next_data("451 4.3.0 Try again later")  # holds up the patient's confirmation
    consultation = book(session, now)
    outbox.drain()
    reschedule(session, consultation.id, TUESDAY_10 + timedelta(hours=1), now=now, actor=Actor())
    outbox.drain()
    assert smtp_server.inbox(consultation.patient.email) == []  # the update waits for the confirmation

    outbox.drain(until=now + timedelta(hours=1))
    sequences = [invite(mail)[1]["SEQUENCE"] for mail in smtp_server.inbox(consultation.patient.email)]
    assert sequences == [0, 1]


def test_a_dead_workers_claim_expires_and_the_message_is_sent_once(session, now, outbox, smtp_server):
    consultation = book(session, now)
    outbox.drain()  # the meeting exists; reminders are planned
    reminder_time = TUESDAY_10 - timedelta(hours=24)
    claim_due_messages(db.session, "dead-worker", reminder_time, 10, lease=LEASE)  # ...and it dies here

    outbox.clock.now = reminder_time + LEASE / 2
    outbox.drain()
    assert len(smtp_server.inbox(consultation.patient.email)) == 1  # still claimed: nobody sends

    outbox.clock.now = reminder_time + LEASE + timedelta(seconds=1)
    outbox.drain()
    _confirmation, reminder = smtp_server.inbox(consultation.patient.email)
    row = outbox.messages(consultation, OutboxKind.REMINDER)[0]
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.DONE, 2, "LeaseExpired")
    assert reminder["Message-ID"] == message_id_for(row, "clinic.example")


def test_a_send_whose_worker_died_before_recording_it_repeats_with_the_same_message_id(
    session, now, outbox, smtp_server
):
    consultation = book(session, now)
    outbox.drain()
    reminder_time = TUESDAY_10 - timedelta(hours=24)
    (claimed,) = claim_due_messages(db.session, "doomed-worker", reminder_time, 10, lease=LEASE)
    perform(outbox.context(), claimed, outbox.refreshed(consultation), reminder_time)  # sent, then killed

    outbox.clock.now = reminder_time + LEASE + timedelta(seconds=1)
    outbox.drain()
    _, first, second = smtp_server.inbox(consultation.patient.email)
    assert first["Message-ID"] == second["Message-ID"]  # the recipient's mail system can tell it is a repeat


def test_a_worker_that_lost_its_lease_neither_runs_nor_records_the_message(session, now, outbox, smtp_server):
    consultation = book(session, now)
    outbox.drain()
    reminder_time = TUESDAY_10 - timedelta(hours=24)
    (slow,) = claim_due_messages(db.session, "slow-worker", reminder_time, 10, lease=LEASE)
    outbox.clock.now = reminder_time + LEASE + timedelta(seconds=1)
    outbox.drain()  # another worker takes it back and sends it

    with connections(db.session) as held:
        assert run_message(held, outbox.context(), slow, "slow-worker", outbox.clock.now) is None
    assert len(smtp_server.inbox(consultation.patient.email)) == 2
    assert outbox.messages(consultation, OutboxKind.REMINDER)[0].status is OutboxStatus.DONE


@postgres_only
def test_the_check_before_each_send_stays_prepared_on_postgres(session, now, outbox, smtp_server):
    """psycopg forgets every statement it prepared when a transaction rolls back, and each check of a
    consultation before its message ran ended in one: PostgreSQL parsed and planned it for every mail."""
    for day in range(4):
        book(session, now, TUESDAY_10 + timedelta(days=day))
    with connections(db.session) as held:
        batch = claim_due_messages(db.session, "worker-a", now, 100, lease=LEASE)
        loaded = load_consultations(held.reader, {message.consultation_id for message in batch})
        ran = [  # the meetings to create and the reminders to plan: 8 checks
            run_message(held, outbox.context(), message, "worker-a", now, loaded[message.consultation_id])
            for message in batch
        ]
        prepared = held.reader.scalars(text("SELECT statement FROM pg_prepared_statements")).all()

    assert ran == [OutboxStatus.DONE] * 8
    assert any("invite_sequence" in statement for statement in prepared), prepared


def test_a_message_whose_claims_keep_expiring_ends_as_a_dead_letter(session, now, outbox):
    outbox.configure(OUTBOX_MAX_ATTEMPTS=2)
    book(session, now)
    for attempt in range(2):
        at = now + attempt * (LEASE + timedelta(seconds=1))
        claim_due_messages(db.session, f"crashing-worker-{attempt}", at, 1, lease=LEASE)
        reclaim_expired(db.session, at + LEASE + timedelta(seconds=1), max_attempts=2)

    (create,) = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.MEETING_CREATE)
    )
    assert (create.status, create.attempts, create.last_error) == (OutboxStatus.DEAD, 2, "LeaseExpired")


def test_workers_claiming_at_the_same_time_never_claim_the_same_message(session, now, outbox, app):
    consultation = book(session, now)
    outbox.drain()
    db.session.add_all(
        OutboxMessage(
            consultation_id=consultation.id,
            kind=OutboxKind.REMINDER,
            audience="patient",
            payload={"sequence": 0},
            due_at=now,
            idempotency_key=f"load-{n}",
            created_at=now,
        )
        for n in range(300)
    )
    db.session.commit()
    claims: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def work(worker_id: str) -> None:
        with app.app_context(), Session(db.engine) as own:
            barrier.wait()
            while batch := claim_due_messages(own, worker_id, now, 7, lease=LEASE):
                claims.setdefault(worker_id, []).extend(m.id for m in batch)
                # A real worker runs its batch before it claims again; without that pause one thread
                # can win SQLite's write lock every time on a loaded machine and claim everything.
                time.sleep(0.005)

    threads = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    claimed = [message_id for ids in claims.values() for message_id in ids]
    assert len(claimed) == len(set(claimed)) == 300
    assert len(claims) > 1  # they really did run side by side


def test_the_postgres_claim_skips_rows_that_other_workers_are_claiming():
    sql = str(_claimable().compile(dialect=postgresql.dialect()))
    assert sql.rstrip().endswith("FOR UPDATE SKIP LOCKED")


@pytest.mark.parametrize(
    ("attempts", "rand", "retry_after", "expected"),
    [
        (1, 0.5, None, timedelta(seconds=7.5)),  # half of the 15 s base
        (3, 1.0, None, timedelta(seconds=60)),  # 15 s doubled twice
        (9, 1.0, None, timedelta(seconds=900)),  # capped
        (400, 1.0, None, timedelta(seconds=900)),  # still capped, no overflow
        (1, 0.0, None, timedelta(seconds=1)),  # never a hot loop
        (1, 0.5, 120.0, timedelta(seconds=120)),  # Retry-After is a floor
    ],
)
def test_retry_delay_is_capped_exponential_backoff_with_full_jitter(attempts, rand, retry_after, expected):
    base, cap = timedelta(seconds=15), timedelta(seconds=900)
    assert retry_delay(attempts, base, cap, retry_after, rand=lambda: rand) == expected


def test_a_claim_reads_its_batch_off_the_index_however_many_are_due_or_just_done(session):
    """A backlog (every reminder of 08:00 due at once) must not make each claim sort all of it: the due
    index ends with the claim's tie-break, so the batch comes off it in order, and the claim stops there.
    Nor may the many just finished slow the check of what a due message waits for: it probes the
    consultation's unfinished messages only."""
    now = datetime.now(UTC)
    seed_due_reminders(session.get_bind(), 300, now)
    with session.begin():
        session.execute(update(OutboxMessage).values(status=OutboxStatus.DONE))
    seed_due_reminders(session.get_bind(), 300, now)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("ANALYZE outbox_message")
        # As a worker's prepared claim runs after its first five: planned without the values bound.
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    explain = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN (FORMAT JSON) "

    def explained(_conn, _cursor, statement, parameters, _context, _many):
        return explain + statement, parameters

    event.listen(connection, "before_cursor_execute", explained, retval=True)
    try:
        rows = connection.execute(_claimable(), {"claim_now": now, "claim_limit": 20}).all()
    finally:
        event.remove(connection, "before_cursor_execute", explained)
    session.rollback()

    plan = json.dumps([list(row) for row in rows], default=str)
    assert "ix_outbox_message_status_due" in plan and "ix_outbox_message_unfinished" in plan
    # No sort of the due rows, full or incremental (PostgreSQL's, over rows due at the same time).
    assert "TEMP B-TREE" not in plan and 'Sort"' not in plan and "Seq Scan" not in plan
