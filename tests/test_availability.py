"""Free times read from the database: what a search reads around its window, and which service it reads."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import literal, select

from clinic.models.base import UTCDateTime
from clinic.scheduling.availability import find_slots, is_free
from clinic.scheduling.calendar_texts import SpansOf, stored_span
from clinic.scheduling.errors import NotFound
from clinic.scheduling.offered import active_service, offered_service

from . import factories


def at(hour: int, minute: int = 0) -> datetime:
    """Tuesday 3 March 2026 (London is on UTC) at hour:minute."""
    return datetime(2026, 3, 3, hour, minute, tzinfo=UTC)


UNIX_EPOCH, SECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(seconds=1)


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


def test_the_offered_service_holds_the_rules_and_names_of_the_active_service(session):
    department = factories.department(session, contact_phone="+44 161 496 0000")
    service = factories.service(
        session,
        department,
        description="A first talk",
        cancel_cutoff_minutes=90,
        duration_minutes=45,
        buffer_before_minutes=5,
        buffer_after_minutes=10,
        slot_interval_minutes=15,
        min_notice_minutes=60,
        horizon_days=30,
    )
    session.commit()

    offered = offered_service(session, service.id)
    loaded = active_service(session, service.id)

    assert offered.id == loaded.id
    assert offered.duration_minutes == 45
    assert (offered.buffer_before_minutes, offered.buffer_after_minutes) == (5, 10)
    assert (offered.slot_interval_minutes, offered.min_notice_minutes, offered.horizon_days) == (15, 60, 30)
    assert (offered.name, offered.description) == (loaded.name, "A first talk")
    assert offered.cancel_cutoff_minutes == 90
    assert (offered.department.id, offered.department.name) == (department.id, department.name)
    assert offered.department.contact_phone == "+44 161 496 0000"


@pytest.mark.parametrize("lookup", [active_service, offered_service])
def test_an_inactive_service_or_department_or_a_wrong_id_is_not_offered(session, lookup):
    closed = factories.service(session, factories.department(session, active=False))
    withdrawn = factories.service(session, active=False)
    session.commit()

    for service_id in (closed.id, withdrawn.id, withdrawn.id + 100, "1"):
        with pytest.raises(NotFound, match="No such service is offered"):
            lookup(session, service_id)


def test_the_api_follows_an_admins_change_to_a_service_at_once(client, session):
    service = factories.service(session, horizon_days=400)
    factories.clinician(session, [service])
    session.commit()
    day = (datetime.now(UTC) + timedelta(days=14)).date()
    while day.weekday() != 1:
        day += timedelta(days=1)
    query = f"/api/v1/slots?service={service.id}&start={day}&end={day}&tz=Europe/London"
    assert len(client.get(query).get_json()["slots"]) == 14  # in half hours: 09:00-12:30, 13:30-17:00

    service.duration_minutes = 60
    session.commit()
    slots = client.get(query).get_json()["slots"]
    assert slots[0]["end"] == datetime.combine(day, time(10), ZoneInfo("Europe/London")).isoformat()

    service.active = False
    session.commit()
    assert client.get(query).status_code == 404

    service.active = True
    service.department.active = False
    session.commit()
    assert client.get(query).status_code == 404


_INSTANTS = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2241, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=_INSTANTS, end=_INSTANTS)
@example(
    start=datetime(2026, 12, 5, 9, 59, 59, 999_999, tzinfo=UTC),
    end=datetime(2241, 12, 30, 23, 59, 59, 999_999, tzinfo=UTC),
)
def test_the_calendar_query_reads_any_span_as_whole_unix_seconds_cut_toward_the_past(session, start, end):
    stored = UTCDateTime()
    text = session.scalar(select(stored_span(literal(start, stored), literal(end, stored))))
    assert SpansOf()[text] == ((start - UNIX_EPOCH) // SECOND, (end - UNIX_EPOCH) // SECOND)
