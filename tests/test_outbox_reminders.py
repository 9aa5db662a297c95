"""Reminders: due at start − each offset, re-planned on reschedule, dropped on cancel, never sent late
for a consultation that has started."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic.audit import Actor
from clinic.extensions import db
from clinic.jobs.claims import claim_due_messages
from clinic.jobs.dispatch import connections, load_consultations, run_message
from clinic.models import OutboxKind, OutboxStatus
from clinic.scheduling.companions import add_companion
from clinic.scheduling.hours import remove_time_off
from clinic.scheduling.lifecycle import cancel, reschedule

from . import factories
from .conftest import TEST_KEYS
from .fakes.outbox import open_clinic, outbox  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
WEDNESDAY_11 = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)
STAFF = {"actor": Actor("staff:1"), "keys": TEST_KEYS}


def book(session, now, start=TUESDAY_10):
    return factories.booking(session, open_clinic(session), start, now=now).consultation


def reminder_times(outbox, consultation, status=OutboxStatus.PENDING) -> list[datetime]:
    return [m.due_at for m in outbox.messages(consultation, OutboxKind.REMINDER) if m.status is status]


def test_reminders_are_due_at_the_start_minus_each_offset(session, now, outbox):
    consultation = book(session, now)
    outbox.drain()

    assert reminder_times(outbox, consultation) == [
        TUESDAY_10 - timedelta(hours=24),
        TUESDAY_10 - timedelta(hours=1),
    ]
    assert {m.audience for m in outbox.messages(consultation, OutboxKind.REMINDER)} == {"patient"}


def test_offsets_come_from_the_config_and_those_already_past_are_skipped(session, now, outbox):
    outbox.configure(REMINDER_OFFSETS="30m, 48h, 2h")
    consultation = book(session, now)  # 26 hours ahead: 48 h before was in the past
    outbox.drain()

    assert reminder_times(outbox, consultation) == [
        TUESDAY_10 - timedelta(hours=2),
        TUESDAY_10 - timedelta(minutes=30),
    ]


def test_a_reschedule_drops_the_pending_reminders_and_plans_new_ones(session, now, outbox):
    consultation = book(session, now)
    outbox.drain()
    reschedule(session, consultation.id, WEDNESDAY_11, now=now, actor=Actor())
    outbox.drain()

    assert reminder_times(outbox, consultation, OutboxStatus.CANCELLED) == [
        TUESDAY_10 - timedelta(hours=24),
        TUESDAY_10 - timedelta(hours=1),
    ]
    assert reminder_times(outbox, consultation) == [
        WEDNESDAY_11 - timedelta(hours=24),
        WEDNESDAY_11 - timedelta(hours=1),
    ]


def test_cancelling_before_the_worker_ran_plans_no_reminders(session, now, outbox):
    consultation = book(session, now)
    cancel(session, consultation.id, now=now, actor=Actor())
    outbox.drain()

    assert outbox.statuses(consultation, OutboxKind.PLAN_REMINDERS) == [OutboxStatus.CANCELLED]
    assert outbox.messages(consultation, OutboxKind.REMINDER) == []


def test_a_reminder_goes_out_when_due_and_not_before(session, now, outbox, smtp_server):
    consultation = book(session, now)
    outbox.drain(until=TUESDAY_10 - timedelta(hours=24, seconds=1))
    assert len(smtp_server.inbox(consultation.patient.email)) == 1  # the confirmation

    outbox.drain(until=TUESDAY_10 - timedelta(hours=24))
    _confirmation, reminder = smtp_server.inbox(consultation.patient.email)
    assert reminder["Subject"].startswith("Reminder")
    assert reminder.get_body(("calendar",)) is None
    assert outbox.statuses(consultation, OutboxKind.REMINDER) == [OutboxStatus.DONE, OutboxStatus.PENDING]


def test_after_downtime_a_late_reminder_is_still_sent_but_one_for_a_started_consultation_expires(
    session, now, outbox, smtp_server
):
    consultation = book(session, now)
    outbox.drain()
    outbox.clock.now = TUESDAY_10 - timedelta(hours=2)  # the worker was down from Monday 08:00
    outbox.drain()
    assert outbox.statuses(consultation, OutboxKind.REMINDER) == [OutboxStatus.DONE, OutboxStatus.PENDING]
    assert len(smtp_server.inbox(consultation.patient.email)) == 2

    later = book(session, outbox.clock.now, start=TUESDAY_10 + timedelta(hours=2))
    outbox.drain()
    outbox.clock.now = TUESDAY_10 + timedelta(hours=2, minutes=5)  # down again, until after its start
    outbox.drain()
    assert [(m.status, m.outcome) for m in outbox.messages(later, OutboxKind.REMINDER)] == [
        (OutboxStatus.DONE, "expired")
    ]
    assert len(smtp_server.inbox(later.patient.email)) == 1


def test_a_reminder_claimed_before_a_reschedule_is_dropped_rather_than_sent(
    session, now, outbox, smtp_server
):
    consultation = book(session, now)
    outbox.drain()
    reminder_time = TUESDAY_10 - timedelta(hours=24)
    (claimed,) = claim_due_messages(db.session, "worker-a", reminder_time, 10, lease=LEASE)
    reschedule(session, consultation.id, WEDNESDAY_11, now=reminder_time, actor=Actor())

    with connections(db.session) as held:
        status = run_message(held, outbox.context(), claimed, "worker-a", reminder_time)

    assert status is OutboxStatus.CANCELLED
    db.session.commit()  # the test's own transaction ends: the row is read again as the worker left it
    assert claimed.outcome == "superseded"
    sent = [m["Subject"] for m in smtp_server.inbox(consultation.patient.email)]
    assert not any(subject.startswith("Reminder") for subject in sent)


def test_a_reminder_whose_consultation_was_loaded_with_its_batch_sees_a_later_reschedule(
    session, now, outbox, smtp_server
):
    consultation = book(session, now)
    outbox.drain()
    reminder_time = TUESDAY_10 - timedelta(hours=24)
    (claimed,) = claim_due_messages(db.session, "worker-a", reminder_time, 10, lease=LEASE)
    loaded = load_consultations(db.engine, {consultation.id})[consultation.id]  # as the dispatcher does
    reschedule(session, consultation.id, WEDNESDAY_11, now=reminder_time, actor=Actor())

    with connections(db.session) as held:
        status = run_message(held, outbox.context(), claimed, "worker-a", reminder_time, loaded)

    assert status is OutboxStatus.CANCELLED
    sent = [m["Subject"] for m in smtp_server.inbox(consultation.patient.email)]
    assert not any(subject.startswith("Reminder") for subject in sent)


def reminders_sent(smtp_server, consultation) -> list[str]:
    sent = [m["Subject"] for m in smtp_server.inbox(consultation.patient.email)]
    return [subject for subject in sent if subject.startswith("Reminder")]


def away_on_tuesday(session, consultation):
    """The clinician phones in sick: time off over the booking, added after its reminders were planned."""
    off = factories.time_off(
        session, consultation.clinician, TUESDAY_10 - timedelta(hours=2), TUESDAY_10 + timedelta(hours=8)
    )
    session.commit()
    return off


def held_at_first_reminder(session, now, outbox):
    """A booking whose clinician is away since its reminders were planned, the first one now due."""
    consultation = book(session, now)
    outbox.drain()
    off = away_on_tuesday(session, consultation)
    outbox.drain(until=TUESDAY_10 - timedelta(hours=24))
    return consultation, off


def test_a_reminder_due_while_the_booking_is_in_its_clinicians_time_off_is_held_not_sent(
    session, now, outbox, smtp_server
):
    consultation, _ = held_at_first_reminder(session, now, outbox)

    assert reminders_sent(smtp_server, consultation) == []
    held = outbox.messages(consultation, OutboxKind.REMINDER)[0]
    assert (held.status, held.outcome) == (OutboxStatus.PENDING, "held: time off")
    assert held.due_at > TUESDAY_10 - timedelta(hours=24)  # looked at again later, not lost
    assert held.attempts == 0  # holding is no failed attempt: a mail failure later still gets its retries


def test_a_held_reminder_goes_out_once_the_time_off_is_removed(session, now, outbox, smtp_server):
    consultation, off = held_at_first_reminder(session, now, outbox)

    remove_time_off(session, consultation.clinician_id, off.id, now=outbox.clock.now, actor=Actor())
    outbox.drain(until=TUESDAY_10 - timedelta(hours=23))

    assert len(reminders_sent(smtp_server, consultation)) == 1
    assert outbox.statuses(consultation, OutboxKind.REMINDER) == [OutboxStatus.DONE, OutboxStatus.PENDING]


def test_a_held_reminder_gives_way_to_those_of_the_booking_moved_out_of_the_time_off(
    session, now, outbox, smtp_server
):
    consultation, _ = held_at_first_reminder(session, now, outbox)

    reschedule(session, consultation.id, WEDNESDAY_11, now=outbox.clock.now, actor=Actor())
    outbox.drain(until=WEDNESDAY_11 - timedelta(hours=1))

    held, planned, *moved = outbox.messages(consultation, OutboxKind.REMINDER)
    assert [(m.status, m.outcome) for m in (held, planned)] == [(OutboxStatus.CANCELLED, "superseded")] * 2
    assert [(m.due_at, m.status) for m in moved] == [
        (WEDNESDAY_11 - timedelta(hours=24), OutboxStatus.DONE),
        (WEDNESDAY_11 - timedelta(hours=1), OutboxStatus.DONE),
    ]
    assert len(reminders_sent(smtp_server, consultation)) == 2


def test_reminders_held_until_the_booking_starts_in_the_time_off_expire_unsent(
    session, now, outbox, smtp_server
):
    consultation = book(session, now)
    outbox.drain()
    away_on_tuesday(session, consultation)

    outbox.drain(until=TUESDAY_10 + timedelta(hours=1))

    assert reminders_sent(smtp_server, consultation) == []
    assert [(m.status, m.outcome) for m in outbox.messages(consultation, OutboxKind.REMINDER)] == [
        (OutboxStatus.DONE, "expired"),
        (OutboxStatus.DONE, "expired"),
    ]


def test_an_offset_written_twice_plans_its_reminder_once_and_loses_none(session, now, outbox, smtp_server):
    # "1d" and "24h" are one offset: both were planned under the same idempotency key, the plan failed on
    # the outbox's unique key at every attempt, and no reminder of any booking went out.
    outbox.configure(REMINDER_OFFSETS="1d, 24h, 1h, 60m")
    consultation = book(session, now)
    outbox.drain()

    assert outbox.only(consultation, OutboxKind.PLAN_REMINDERS).status is OutboxStatus.DONE
    assert reminder_times(outbox, consultation) == [
        TUESDAY_10 - timedelta(hours=24),
        TUESDAY_10 - timedelta(hours=1),
    ]


def test_after_downtime_reminders_due_together_go_out_as_one(session, now, outbox, smtp_server):
    # The worker was down past both reminders' times: the patient was sent "Reminder: your video
    # consultation" twice in the same second. The one nearer the time says all.
    consultation = book(session, now)
    outbox.drain()
    outbox.clock.now = TUESDAY_10 - timedelta(minutes=30)
    outbox.drain()

    reminders = outbox.messages(consultation, OutboxKind.REMINDER)
    assert [(m.status, m.outcome) for m in reminders] == [
        (OutboxStatus.CANCELLED, "superseded"),
        (OutboxStatus.DONE, None),
    ]
    sent = [m for m in smtp_server.inbox(consultation.patient.email) if m["Subject"].startswith("Reminder")]
    assert len(sent) == 1


def sent_offsets(outbox, consultation) -> list[tuple[timedelta, datetime]]:
    """Each reminder that went out, as its offset before the start and when it went."""
    reminders = outbox.messages(consultation, OutboxKind.REMINDER)
    sent = [m for m in reminders if m.status is OutboxStatus.DONE and m.outcome is None]
    return sorted((timedelta(seconds=m.payload["offset_seconds"]), m.done_at) for m in sent)


def test_after_a_restart_with_new_offsets_reminders_planned_before_follow_them(
    session, now, outbox, smtp_server
):
    """A hospital changed CLINIC_REMINDER_OFFSETS from 24h,1h to 24h,2h and restarted the worker: those
    booked before were still reminded an hour before the start, and never two hours before."""
    consultation = book(session, now)
    outbox.drain()

    outbox.configure(REMINDER_OFFSETS="24h, 2h")
    outbox.drain(until=TUESDAY_10 + timedelta(hours=1))

    assert sent_offsets(outbox, consultation) == [
        (timedelta(hours=2), TUESDAY_10 - timedelta(hours=2)),
        (timedelta(hours=24), TUESDAY_10 - timedelta(hours=24)),
    ]
    assert len(reminders_sent(smtp_server, consultation)) == 2


def test_with_the_worker_down_across_a_change_of_offsets_the_reminder_in_force_goes_out_once(
    session, now, outbox, smtp_server
):
    """24h,1h became 2h while the worker was down past the day-before reminder: it went out late at the
    restart, a reminder the hospital no longer sends, and the hour-before one after it."""
    consultation = book(session, now)
    outbox.drain()

    outbox.configure(REMINDER_OFFSETS="2h")
    outbox.clock.now = restart = TUESDAY_10 - timedelta(minutes=90)
    outbox.drain(until=TUESDAY_10 + timedelta(hours=1))

    assert sent_offsets(outbox, consultation) == [(timedelta(hours=2), restart)]
    assert len(reminders_sent(smtp_server, consultation)) == 1


def test_an_offset_removed_and_then_restored_is_reminded_once(session, now, outbox, smtp_server):
    consultation = book(session, now)
    outbox.drain()
    outbox.configure(REMINDER_OFFSETS="24h")
    outbox.drain()

    outbox.configure(REMINDER_OFFSETS="24h, 1h")
    outbox.drain(until=TUESDAY_10 + timedelta(hours=1))

    assert sent_offsets(outbox, consultation) == [
        (timedelta(hours=1), TUESDAY_10 - timedelta(hours=1)),
        (timedelta(hours=24), TUESDAY_10 - timedelta(hours=24)),
    ]
    assert len(reminders_sent(smtp_server, consultation)) == 2


OFFSET_CHOICES = {"30m": 30, "1h": 60, "2h": 120, "6h": 360, "24h": 1440, "25h": 1500}
BOOKED_AHEAD = 26 * 60  # minutes from booking (now) to TUESDAY_10


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.sets(st.sampled_from(sorted(OFFSET_CHOICES))),
    changes=st.lists(
        st.tuples(
            st.integers(0, BOOKED_AHEAD - 1),  # minutes after booking
            st.sets(st.sampled_from(sorted(OFFSET_CHOICES))),
            st.booleans(),  # whether the worker ran until then, else it was down
        ),
        max_size=3,
        unique_by=lambda change: change[0],  # one setting at a time: a send is told by the one then
    ),
)
def test_whatever_the_offsets_do_no_reminder_is_sent_twice_or_lost(
    session, now, outbox, smtp_server, first, changes
):
    """Each reminder sent is at an offset in force then, none twice, none due before the last one went;
    and for every offset in force at the end, the patient is reminded at or after its time."""
    outbox.clock.now = now
    outbox.configure(REMINDER_OFFSETS=",".join(first))
    consultation = book(session, now)
    outbox.drain()
    in_force = [(now, first)]
    for minutes, offsets, ran in sorted(changes, key=lambda change: change[0]):
        at = now + timedelta(minutes=minutes)
        if ran and at > outbox.clock.now:
            outbox.drain(until=at)
        outbox.clock.now = max(outbox.clock.now, at)
        outbox.configure(REMINDER_OFFSETS=",".join(offsets))
        in_force.append((outbox.clock.now, offsets))
        outbox.drain()  # the worker started again with them
    outbox.drain(until=TUESDAY_10 + timedelta(hours=1))

    sent = sorted(((sent_at, offset) for offset, sent_at in sent_offsets(outbox, consultation)))
    assert len({offset for _, offset in sent}) == len({sent_at for sent_at, _ in sent}) == len(sent), sent
    for sent_at, offset in sent:
        then = [offsets for changed, offsets in in_force if changed <= sent_at][-1]
        assert offset in {timedelta(minutes=OFFSET_CHOICES[o]) for o in then}, (sent_at, offset)
    for (went, _), (_, offset) in pairwise(sent):
        assert TUESDAY_10 - offset > went, sent  # reminded since its time: a repeat
    for name in in_force[-1][1]:
        due = TUESDAY_10 - timedelta(minutes=OFFSET_CHOICES[name])
        assert due <= now or any(sent_at >= due for sent_at, _ in sent), (name, sent)
    assert len(reminders_sent(smtp_server, consultation)) == len(sent)


def test_a_companion_invited_later_is_reminded_at_the_new_offsets_from_their_invitation_on(
    session, now, outbox, smtp_server
):
    """The patient, booked at 08:00 on Monday, is sent the reminder 25 hours before (09:00) at the restart,
    as if the offset had been in force at booking; the companion, invited at 09:30, was not invited then."""
    consultation = book(session, now)
    outbox.drain()
    outbox.clock.now = invited = now + timedelta(minutes=90)
    guest = add_companion(session, consultation.id, factories.companion_details(), now=invited, **STAFF)
    outbox.drain()

    outbox.configure(REMINDER_OFFSETS="25h, 2h")
    outbox.drain(until=TUESDAY_10 + timedelta(hours=1))

    by_recipient = {}
    for m in outbox.messages(consultation, OutboxKind.REMINDER):
        if m.status is OutboxStatus.DONE and m.outcome is None:
            by_recipient.setdefault(m.audience, []).append((m.payload["offset_seconds"] // 3600, m.done_at))
    assert by_recipient == {
        "patient": [(25, invited), (2, TUESDAY_10 - timedelta(hours=2))],
        "companion": [(2, TUESDAY_10 - timedelta(hours=2))],
    }
    assert len([m for m in smtp_server.inbox(guest.email) if m["Subject"].startswith("Reminder")]) == 1
