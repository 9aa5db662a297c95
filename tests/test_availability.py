"""Free times read from the database: what a search reads around its window, and which service it reads."""

from datetime import UTC, datetime, timedelta

import pytest

from clinic.scheduling.availability import find_slots, is_free

from . import factories


def at(hour: int, minute: int = 0) -> datetime:
    """Tuesday 3 March 2026 (London is on UTC) at hour:minute."""
    return datetime(2026, 3, 3, hour, minute, tzinfo=UTC)


@pytest.fixture
def buffered(session):
    """A 30-minute service, every quarter hour, with buffers of 15 minutes before and 45 after; a
    clinician booked 10:00-10:30 (blocked 09:45-11:15)."""
    service = factories.service(
        session, buffer_before_minutes=15, buffer_after_minutes=45, slot_interval_minutes=15
    )
    person = factories.clinician(session, [service])
    factories.consultation(session, service, person, at(10))
    return service, person


@pytest.mark.parametrize(
    ("start", "free"),
    [
        (at(9), False),  # ends 09:30, but its after-buffer runs to 10:15
        (at(9, 15), False),
        (at(10, 30), False),
        (at(11, 15), False),  # the blocked time has ended, but this one's before-buffer starts at 11:00
        (at(11, 30), True),  # blocked from 11:15, where the other's ends
    ],
)
def test_a_one_second_check_sees_a_booking_whose_buffers_reach_its_start(session, buffered, now, start, free):
    service, person = buffered

    assert is_free(session, service, start, now, person.id) is free


def test_a_one_second_check_sees_time_off_that_begins_before_the_consultation_ends(session, now):
    service = factories.service(session)
    person = factories.clinician(session, [service])
    factories.time_off(session, person, at(11, 20), at(12))
    session.commit()

    assert not is_free(session, service, at(11), now, person.id)
    assert is_free(session, service, at(10, 30), now, person.id)


def test_a_week_finds_the_same_slots_as_its_days_one_by_one(session, buffered, now):
    service, person = buffered
    factories.consultation(session, service, person, at(16, 30))  # blocked into the next day's buffers
    factories.time_off(session, person, at(13), at(14))
    session.commit()

    week = find_slots(session, service, at(0), at(0) + timedelta(days=7), now)
    days = [
        slot
        for day in range(7)
        for slot in find_slots(
            session, service, at(0) + timedelta(days=day), at(0) + timedelta(days=day + 1), now
        )
    ]

    assert week == days
    assert at(10) not in {slot.start for slot in week}
