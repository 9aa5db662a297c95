"""A clinician's time off on the schedule's week and day: a band a screen reader reads, not only notes on
the consultations it clashes with, so reception sees at a glance whose day is empty and why."""

# ruff: noqa: F811 - the schedule's `clinic` fixture, imported below, is the tests' parameter

import re
from datetime import UTC, datetime, time, timedelta

import pytest

from clinic.models import Closure, StaffRole, TimeOff, utcnow

from . import factories
from .test_schedule import LONDON, clinic, login, text  # noqa: F401


@pytest.fixture
def client(app):
    return factories.browser(app)


def today_at(hour: int, days: int = 0) -> datetime:
    day = utcnow().astimezone(LONDON).date() + timedelta(days=days)
    return datetime.combine(day, time(hour), LONDON).astimezone(UTC)


def away(session, clinician, starts_at: datetime, ends_at: datetime) -> None:
    session.add(TimeOff(clinician_id=clinician.id, starts_at=starts_at, ends_at=ends_at, label="Sick"))
    session.commit()


def bands(page: str) -> list[str]:
    """The time-off bands' text, as a screen reader reads it."""
    found = re.findall(r'<p class="time-off-band"[^>]*>(.*?)</p>', page, re.DOTALL)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", band)).strip() for band in found]


def test_the_week_of_a_clinician_shows_their_time_off_on_its_day(client, session, clinic):
    away(session, clinic["okafor"], today_at(9), today_at(13))
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    today = utcnow().astimezone(LONDON).date()

    page = text(client.get(f"/schedule/week?clinician={clinic['okafor'].id}&date={today.isoformat()}"))

    assert bands(page) == ["Time off 09:00 to 13:00"]
    assert f'href="/schedule/clinicians/{clinic["okafor"].id}/time-off"' in page  # where the desk records it
    assert page.index(f'id="day-{today.isoformat()}"') < page.index('class="time-off-band"')


def test_time_off_over_several_days_shows_on_each_and_whole_days_say_so(client, session, clinic):
    away(session, clinic["okafor"], today_at(13), today_at(0, days=2) + timedelta(hours=12))
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    tomorrow = utcnow().astimezone(LONDON).date() + timedelta(days=1)

    page = text(client.get(f"/schedule/?clinician={clinic['okafor'].id}&date={tomorrow.isoformat()}"))

    assert bands(page) == ["Time off all day"]


def test_the_departments_day_names_whose_time_off_it_is(client, session, clinic):
    away(session, clinic["raman"], today_at(9), today_at(17))
    away(session, clinic["jansen"], today_at(9), today_at(17))  # another department's
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    page = text(client.get("/schedule/"))

    assert bands(page) == ["Dr Priya Raman: time off 09:00 to 17:00"]


def test_the_departments_day_and_week_show_the_time_off_of_a_clinician_of_another_it_books(
    client, session, clinic
):
    """Dr Jansen of Dermatology also offers Cardiology's follow-up call: Cardiology's desk books her and
    lists her consultations of it, so sees when she is away, as it does its own clinicians."""
    clinic["jansen"].services.append(clinic["heart"])
    away(session, clinic["jansen"], today_at(9), today_at(17))
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    day = text(client.get("/schedule/"))
    week = text(client.get("/schedule/week"))

    assert bands(day) == bands(week) == ["Dr Sofia Jansen: time off 09:00 to 17:00"]


def test_time_off_from_the_second_run_of_the_hour_the_clocks_go_back_says_which(client, session, clinic):
    # 25 October 2026: UK clocks go back from 02:00 GMT+1 to 01:00 GMT+0; 01:30 GMT+0 is the second 01:30.
    away(
        session,
        clinic["okafor"],
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 9, tzinfo=UTC),
    )
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    page = text(client.get(f"/schedule/?clinician={clinic['okafor'].id}&date=2026-10-25"))

    assert bands(page) == ["Time off 01:30 (GMT+0) to 09:00"]


def closed(session, department, starts_at: datetime, ends_at: datetime, label: str = "") -> None:
    """A closure of `department` (None: the whole hospital)."""
    department_id = department.id if department is not None else None
    session.add(Closure(department_id=department_id, starts_at=starts_at, ends_at=ends_at, label=label))
    session.commit()


@pytest.mark.parametrize("page", ["/schedule/", "/schedule/week"])
def test_a_departments_closure_shows_as_a_band_on_its_day_and_week_as_time_off_does(
    client, session, clinic, page
):
    """A closure is time off for every clinician it covers: their day and week say so, for the clinician
    and for the desk, and name whose closure it is and its note; another department's closure is not
    shown on a page whose clinicians it does not cover."""
    closed(session, clinic["cardiology"], today_at(0), today_at(0, days=1), "Staff training")
    closed(session, clinic["dermatology"], today_at(0), today_at(0, days=1), "Move to the new wing")
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    desk = bands(text(client.get(page)))
    one = bands(text(client.get(page, query_string={"clinician": clinic["okafor"].id})))
    client.post("/logout")
    login(session, client, StaffRole.CLINICIAN, clinician_id=clinic["okafor"].id)
    own = bands(text(client.get(page)))

    assert desk == one == own == ["Cardiology closed (Staff training) all day"]


def test_a_hospital_closure_shows_on_every_departments_day_cut_to_the_schedules_own_zone(
    client, session, clinic
):
    """The hospital's days are London's: Dr Jansen's own day, in Amsterdam, closes at 01:00 and opens
    again at 01:00 the next."""
    closed(session, None, today_at(0), today_at(0, days=1))
    login(session, client, StaffRole.RECEPTION, department_id=clinic["dermatology"].id)
    day = {"date": utcnow().astimezone(LONDON).date().isoformat()}

    department = bands(text(client.get("/schedule/", query_string=day)))
    jansen = bands(text(client.get("/schedule/", query_string={**day, "clinician": clinic["jansen"].id})))

    assert department == ["Hospital closed all day"]
    assert jansen == ["Hospital closed from 01:00"]
