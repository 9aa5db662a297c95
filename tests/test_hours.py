"""A clinician's own weekly hours and time off, and the bookings a change leaves outside them."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.models import AuditEvent, AvailabilityRule, ConsultationStatus, StaffRole, TimeOff, utcnow
from clinic.scheduling.calendars import Absences
from clinic.scheduling.clashes import ClinicianClashes
from clinic.scheduling.errors import ChangeNotAllowed, NotFound
from clinic.scheduling.hours import (
    InvalidHours,
    add_hours,
    add_time_off,
    clashes,
    remove_hours,
    remove_time_off,
)
from clinic.scheduling.slots import ClinicianCalendar, WeeklyHours
from clinic.scheduling.timezones import zone

from . import factories, racing
from .test_schedule import login, text

LONDON = zone("Europe/London")
MONDAY = WeeklyHours(0, time(9), time(12, 30))
DOCTOR = Actor.staff(1)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    """A London wall-clock time in March 2026 as an instant (2 March is a Monday)."""
    return datetime(2026, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


@pytest.fixture
def client(app):
    return factories.browser(app)


def fits_hours(calendar: ClinicianCalendar, start: datetime, end: datetime) -> bool:
    """Whether a consultation [start, end) fits the calendar's hours and time off: it has no clash."""
    off = [(int(a.timestamp()), int(b.timestamp())) for a, b in calendar.time_off]
    clash_of = ClinicianClashes(
        Absences(replace(calendar, time_off=off), []), int(start.timestamp()), int(end.timestamp())
    )
    return clash_of(start, end) is None


@pytest.mark.parametrize(
    ("start", "end", "fits"),
    [
        (at(2, 9), at(2, 9, 30), True),
        (at(2, 12), at(2, 12, 30), True),
        (at(2, 12, 15), at(2, 12, 45), False),  # runs past the end
        (at(2, 8, 45), at(2, 9, 15), False),  # starts before
        (at(3, 9), at(3, 9, 30), False),  # Tuesday: no hours
    ],
)
def test_a_consultation_fits_when_it_lies_inside_one_working_period(start, end, fits):
    calendar = ClinicianCalendar(1, "Europe/London", [MONDAY])

    assert fits_hours(calendar, start, end) is fits


def test_time_off_makes_a_consultation_inside_the_hours_clash():
    calendar = ClinicianCalendar(1, "Europe/London", [MONDAY], time_off=[(at(2, 10), at(2, 11))])

    assert fits_hours(calendar, at(2, 9), at(2, 9, 30))
    assert not fits_hours(calendar, at(2, 10, 45), at(2, 11, 15))


def test_a_period_past_midnight_covers_the_early_hours_of_the_next_day():
    night = WeeklyHours(6, time(22), time(2))  # Sunday 22:00 to Monday 02:00

    assert fits_hours(ClinicianCalendar(1, "Europe/London", [night]), at(2, 1), at(2, 1, 30))


def test_hours_stay_on_the_wall_clock_across_the_spring_dst_change():
    sunday = WeeklyHours(6, time(9), time(12))  # 29 March 2026: clocks go forward at 01:00 UTC

    assert fits_hours(ClinicianCalendar(1, "Europe/London", [sunday]), at(29, 9), at(29, 9, 30))
    assert at(29, 9).hour == 8  # 09:00 BST is 08:00 UTC


@pytest.fixture
def doctor(session):
    service = factories.service(session)
    person = factories.clinician(session, [service], hours=[(time(9), time(12, 30))], weekdays=[0])
    session.commit()
    return person, service


def test_removing_hours_lists_the_bookings_left_outside_them_without_touching_them(session, doctor, now):
    person, service = doctor
    booked = factories.consultation(session, service, person, at(9, 10))  # next Monday 10:00
    (rule,) = person.availability_rules

    remove_hours(session, person.id, rule.id, now=now, actor=DOCTOR)

    assert [c.id for c in clashes(session, person, now)] == [booked.id]
    assert booked.status is ConsultationStatus.BOOKED
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "clinician")).all()
    assert actions == ["clinician.hours_removed"]


def test_time_off_over_a_booking_makes_it_a_clash_and_past_bookings_never_are(session, doctor, now):
    person, service = doctor
    coming = factories.consultation(session, service, person, at(9, 10))
    factories.consultation(
        session, service, person, now - timedelta(days=7)
    )  # last Monday, outside hours now

    add_time_off(session, person.id, at(9, 0), at(10, 0), "Leave", now=now, actor=DOCTOR)

    assert [c.id for c in clashes(session, person, now)] == [coming.id]


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [(time(12), time(12), "end"), (time(12), time(13), "start"), (time(12), time(11), "start")],
)
def test_hours_that_end_as_they_start_or_overlap_are_refused(session, doctor, now, start, end, field):
    person, _ = doctor

    with pytest.raises(InvalidHours) as refused:
        add_hours(session, person.id, 0, start, end, now=now, actor=DOCTOR)

    assert refused.value.field == field
    assert len(session.scalars(select(AvailabilityRule)).all()) == 1


def test_another_clinicians_hours_cannot_be_removed(session, doctor, now):
    person, service = doctor
    other = factories.clinician(session, [service])
    session.commit()

    with pytest.raises(NotFound):
        remove_hours(session, other.id, person.availability_rules[0].id, now=now, actor=DOCTOR)


def test_a_clinician_adds_hours_and_time_off_on_their_page(client, session, doctor):
    person, _ = doctor
    login(session, client, clinician_id=person.id)

    added = client.post("/schedule/hours", data={"weekday": "2", "start": "14:00", "end": "17:00"})
    off = client.post(
        "/schedule/time-off",
        data={"starts_at": "2030-07-01T00:00", "ends_at": "2030-07-15T00:00", "label": "Leave"},
    )
    page = text(client.get("/schedule/hours"))

    assert (added.status_code, off.status_code) == (303, 303)
    assert "Wednesday" in page and "14:00" in page and "Leave" in page
    session.commit()
    assert session.scalar(select(TimeOff)).starts_at == datetime(2030, 7, 1, tzinfo=LONDON).astimezone(UTC)


def test_wrong_hours_are_refused_beside_the_field(client, session, doctor):
    person, _ = doctor
    login(session, client, clinician_id=person.id)

    response = client.post("/schedule/hours", data={"weekday": "0", "start": "13:00", "end": "13:00"})
    missing = client.post("/schedule/time-off", data={"starts_at": "", "ends_at": "tomorrow"})

    assert response.status_code == 422 and 'id="end-error"' in text(response)
    assert missing.status_code == 422 and 'id="starts_at-error"' in text(missing)


@pytest.mark.parametrize("role", [StaffRole.RECEPTION, StaffRole.ADMIN])
def test_only_clinicians_have_an_hours_page(client, session, doctor, role):
    login(session, client, role, department_id=doctor[0].department_id)

    assert client.get("/schedule/hours").status_code == 403


def test_a_clinician_cannot_remove_another_clinicians_hours_through_the_page(client, session, doctor):
    person, service = doctor
    other = factories.clinician(session, [service])
    session.commit()
    login(session, client, clinician_id=other.id)

    response = client.post(f"/schedule/hours/{person.availability_rules[0].id}/remove")

    assert response.status_code == 404
    session.commit()
    assert (
        len(session.scalars(select(AvailabilityRule).where(AvailabilityRule.clinician_id == person.id)).all())
        == 1
    )


def test_time_off_in_a_time_the_clocks_skip_is_refused_beside_the_field_that_has_it(client, session, doctor):
    login(session, client, clinician_id=doctor[0].id)

    # 29 March 2026, 01:30 does not exist in London: the clocks go from 01:00 to 02:00.
    response = client.post(
        "/schedule/time-off", data={"starts_at": "2026-03-28T09:00", "ends_at": "2026-03-29T01:30"}
    )

    page = text(response)
    assert response.status_code == 422
    assert 'id="ends_at-error"' in page and 'id="starts_at-error"' not in page


@pytest.mark.parametrize("year", ["0001", "9999"])
def test_time_off_at_the_ends_of_the_calendar_is_refused_not_a_server_error(client, session, doctor, year):
    login(session, client, clinician_id=doctor[0].id)

    response = client.post(
        "/schedule/time-off", data={"starts_at": f"{year}-01-01T00:00", "ends_at": f"{year}-12-31T23:00"}
    )

    assert response.status_code == 422 and 'id="starts_at-error"' in text(response)


def test_a_time_off_form_sent_twice_keeps_one_period(client, session, doctor):
    login(session, client, clinician_id=doctor[0].id)
    form = {"starts_at": "2030-07-01T08:00", "ends_at": "2030-07-01T12:00", "label": "Sick"}

    answers = [client.post("/schedule/time-off", data=form).status_code for _ in range(2)]

    assert answers == [303, 303]
    session.commit()
    assert len(session.scalars(select(TimeOff)).all()) == 1
    added = select(AuditEvent).where(AuditEvent.action == "clinician.time_off_added")
    assert len(session.scalars(added).all()) == 1


def test_an_hours_form_sent_twice_keeps_one_period_and_says_it_is_saved(client, session, doctor):
    """The second click was refused (422) with "These hours overlap Wednesday's hours from 14:00 to 17:00",
    the very hours it had just saved."""
    login(session, client, clinician_id=doctor[0].id)
    form = {"weekday": "2", "start": "14:00", "end": "17:00"}

    answers = [client.post("/schedule/hours", data=form).status_code for _ in range(2)]

    assert answers == [303, 303]
    session.commit()
    wednesday = select(AvailabilityRule).where(AvailabilityRule.weekday == 2)
    assert len(session.scalars(wednesday).all()) == 1
    added = select(AuditEvent).where(AuditEvent.action == "clinician.hours_added")
    assert len(session.scalars(added).all()) == 1


@pytest.mark.parametrize(
    ("starts", "ends"),
    [
        ("2030-07-01T11:00", "2030-07-01T14:00"),
        ("2030-07-01T07:00", "2030-07-01T09:00"),
        ("2030-07-01T08:00", "2030-07-01T12:00"),
    ],
)
def test_time_off_overlapping_time_off_is_refused_beside_the_field(client, session, doctor, starts, ends):
    login(session, client, clinician_id=doctor[0].id)
    client.post("/schedule/time-off", data={"starts_at": "2030-07-01T08:00", "ends_at": "2030-07-01T12:00"})

    response = client.post(
        "/schedule/time-off", data={"starts_at": starts, "ends_at": ends, "label": "Leave"}
    )

    page = text(response)
    assert response.status_code == 422 and 'id="starts_at-error"' in page
    assert "overlaps time off already planned: Monday 1 July 2030, 08:00 to 12:00" in page
    session.commit()
    assert len(session.scalars(select(TimeOff)).all()) == 1


def test_time_off_may_begin_as_other_time_off_ends(session, doctor, now):
    person, _ = doctor
    add_time_off(session, person.id, at(9, 8), at(9, 12), "", now=now, actor=DOCTOR)

    add_time_off(session, person.id, at(9, 12), at(9, 17), "", now=now, actor=DOCTOR)

    assert len(session.scalars(select(TimeOff)).all()) == 2


def test_the_same_time_off_sent_twice_at_once_keeps_one_period(session, doctor, database_url, now):
    person_id = doctor[0].id
    engine = racing.racing_engine(database_url, 2, lambda sql: "FROM time_off" in sql)
    adds = [
        lambda racer: add_time_off(racer, person_id, at(9, 8), at(9, 12), "Sick", now=now, actor=DOCTOR)
    ] * 2

    outcomes = racing.race(engine, adds)
    engine.dispose()

    assert [type(outcome) for outcome in outcomes] == [TimeOff, TimeOff]
    session.rollback()
    assert len(session.scalars(select(TimeOff)).all()) == 1


def coming(weekday: int, weeks: int = 1) -> date:
    """The date of `weekday` (Monday 0) in London `weeks` weeks from now's."""
    today = utcnow().astimezone(LONDON).date()
    return today + timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks)


def spring_forward_eve() -> date:
    """The first Saturday a week or more ahead whose night London's clocks go forward: a date written out
    would fall into the past and leave the test nothing to book."""
    saturday = coming(5)
    while _offset(saturday + timedelta(days=1)) <= _offset(saturday):
        saturday += timedelta(days=7)
    return saturday


def _offset(day: date) -> timedelta:
    return datetime.combine(day, time(12), LONDON).utcoffset()


def slot_times(client, service, person, first: date, last: date) -> list[str]:
    """The free times of `person` from `first` to `last`, as London wall clocks: 'Sat 23:45'."""
    query = {
        "service": service.id,
        "clinician": person.id,
        "start": first,
        "end": last,
        "tz": "Europe/London",
    }
    slots = client.get("/api/v1/slots", query_string=query).get_json()["slots"]
    return [datetime.fromisoformat(slot["start"]).strftime("%a %H:%M") for slot in slots]


@pytest.fixture
def evening_service(session):
    """A quarter-hour service, bookable well ahead, and a clinician working Sunday 00:00 to 12:00."""
    service = factories.service(session, duration_minutes=15, slot_interval_minutes=15, horizon_days=400)
    person = factories.clinician(session, [service], weekdays=[6], hours=[(time(0), time(12))])
    session.commit()
    return service, person


def test_hours_may_run_until_midnight_and_its_last_quarter_hour_is_offered(client, session, evening_service):
    service, person = evening_service
    login(session, client, clinician_id=person.id)
    saturday = coming(5)

    added = client.post("/schedule/hours", data={"weekday": "5", "start": "20:00", "end": "00:00"})

    assert added.status_code == 303
    assert "midnight" in text(client.get("/schedule/hours"))
    times = slot_times(client, service, person, saturday, saturday + timedelta(days=1))
    assert times[15:18] == ["Sat 23:45", "Sun 00:00", "Sun 00:15"]
    assert times[0] == "Sat 20:00" and len([t for t in times if t.startswith("Sat")]) == 16


def test_hours_across_the_night_the_clocks_go_forward_skip_the_hour_that_does_not_exist(client, session):
    service = factories.service(session, duration_minutes=15, slot_interval_minutes=15, horizon_days=400)
    person = factories.clinician(session, [service], weekdays=[6], hours=[(time(3), time(12))])
    session.commit()
    login(session, client, clinician_id=person.id)
    saturday = spring_forward_eve()  # London's clocks go from 01:00 to 02:00 in the night after it

    added = client.post("/schedule/hours", data={"weekday": "5", "start": "22:00", "end": "03:00"})

    assert added.status_code == 303
    night = slot_times(client, service, person, saturday, saturday + timedelta(days=1))
    assert night[7:9] == ["Sat 23:45", "Sun 00:00"] and night[11:13] == ["Sun 00:45", "Sun 02:00"]
    assert night[15:17] == ["Sun 02:45", "Sun 03:00"]  # on into the Sunday's own hours


@pytest.mark.parametrize(
    ("weekday", "start", "end"),
    [(4, time(22), time(2)), (6, time(23), time(9)), (5, time(20), time(0))],
)
def test_hours_may_end_at_midnight_or_run_past_it(session, doctor, now, weekday, start, end):
    person, _ = doctor

    add_hours(session, person.id, weekday, start, end, now=now, actor=DOCTOR)

    calendar = ClinicianCalendar(1, "Europe/London", [WeeklyHours(weekday, start, end)])
    night = datetime.combine(date(2026, 3, 2) + timedelta(days=weekday), start, tzinfo=LONDON)
    last = datetime.combine(night.date() + timedelta(days=1), end, tzinfo=LONDON)
    assert fits_hours(calendar, last - timedelta(minutes=15), last)
    assert not fits_hours(calendar, last - timedelta(minutes=15), last + timedelta(minutes=15))


@pytest.mark.parametrize(
    "periods",
    [
        [(4, time(22), time(2)), (5, time(1), time(3))],  # Friday night, then Saturday's early hours
        [(6, time(23), time(9, 30))],  # Sunday night into the doctor's Monday 09:00 to 12:30
        [(0, time(13), time(0)), (0, time(23), time(23, 30))],  # Monday evening, then within it
    ],
)
def test_hours_past_midnight_may_not_overlap_other_hours(session, doctor, now, periods):
    person, _ = doctor
    *earlier, (weekday, start, end) = periods
    for period in earlier:
        add_hours(session, person.id, *period, now=now, actor=DOCTOR)
    rules = select(AvailabilityRule).where(AvailabilityRule.clinician_id == person.id)
    kept = len(session.scalars(rules).all())

    with pytest.raises(InvalidHours) as refused:
        add_hours(session, person.id, weekday, start, end, now=now, actor=DOCTOR)

    assert refused.value.field == "start"
    assert len(session.scalars(rules).all()) == kept


def test_hours_may_begin_at_midnight_as_the_evening_before_ends(session, doctor, now):
    person, _ = doctor
    add_hours(session, person.id, 5, time(20), time(0), now=now, actor=DOCTOR)

    add_hours(session, person.id, 6, time(0), time(12), now=now, actor=DOCTOR)

    assert len(person.availability_rules) == 3


def test_the_audit_trail_says_which_hours_and_time_off_were_added_and_removed(session, doctor, now):
    """The rows are deleted: an event naming the removed row's id alone left nobody able to tell, later,
    which hours or which absence an admin or clinician took away."""
    person, _service = doctor
    (kept,) = person.availability_rules
    off = add_time_off(session, person.id, at(10, 9), at(10, 12), "", now=now, actor=DOCTOR)
    added = add_hours(session, person.id, 2, time(14), time(16), now=now, actor=DOCTOR)

    remove_hours(session, person.id, kept.id, now=now, actor=DOCTOR)
    remove_time_off(session, person.id, off.id, now=now, actor=DOCTOR)

    details = {
        event.action: event.details
        for event in session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "clinician"))
    }
    assert details["clinician.hours_added"] == {
        "rule_id": added.id,
        "weekday": 2,
        "start": "14:00:00",
        "end": "16:00:00",
    }
    assert details["clinician.hours_removed"] == {
        "rule_id": kept.id,
        "weekday": 0,
        "start": "09:00:00",
        "end": "12:30:00",
    }
    span = {"starts_at": at(10, 9).isoformat(), "ends_at": at(10, 12).isoformat()}
    assert details["clinician.time_off_added"] == {"time_off_id": off.id, **span}
    assert details["clinician.time_off_removed"] == {"time_off_id": off.id, **span}


def test_time_off_is_removed_before_it_begins_ended_now_once_begun_and_kept_once_over(session, doctor):
    """What of an absence has happened stays: bookings it left untaken are never the patient's no-show."""
    person, _ = doctor
    coming = add_time_off(session, person.id, at(9, 9), at(9, 12), "", now=at(2, 8), actor=DOCTOR)
    begun = add_time_off(session, person.id, at(2, 9), at(2, 12), "", now=at(2, 8), actor=DOCTOR)
    over = add_time_off(session, person.id, at(3, 9), at(3, 12), "", now=at(2, 8), actor=DOCTOR)
    session.commit()

    assert remove_time_off(session, person.id, coming.id, now=at(2, 10), actor=DOCTOR) is False
    assert remove_time_off(session, person.id, begun.id, now=at(2, 10), actor=DOCTOR) is True
    with pytest.raises(ChangeNotAllowed):
        remove_time_off(session, person.id, over.id, now=at(4, 10), actor=DOCTOR)

    kept = {off.id: (off.starts_at, off.ends_at) for off in session.scalars(select(TimeOff))}
    assert kept == {begun.id: (at(2, 9), at(2, 10)), over.id: (at(3, 9), at(3, 12))}


def test_time_off_overlapping_time_off_begun_says_to_end_it_now_not_to_remove_and_add_it_again(
    session, doctor
):
    """Time off begun is not removed but ends now: "remove it and add it again" would add the same overlap
    back, and be refused again with the same advice."""
    person, _ = doctor
    add_time_off(session, person.id, at(2, 9), at(2, 17), "", now=at(2, 8), actor=DOCTOR)

    with pytest.raises(InvalidHours) as refused:
        add_time_off(session, person.id, at(2, 9), at(2, 12), "", now=at(2, 10), actor=DOCTOR)

    assert "remove it" not in str(refused.value)
    assert "To change it, end it now and add the time off from then; or choose times outside it." in str(
        refused.value
    )
