"""Clinic closures: a department or the whole hospital takes no bookings on those days; bookings
already in them are listed for staff to move or cancel."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.booking.calendar import form_value
from clinic.hospital.closures import add_closure, closures_to_come
from clinic.hospital.records import InvalidSetting
from clinic.models import AuditEvent, Closure, StaffRole, utcnow
from clinic.scheduling.availability import find_slots

from . import factories
from .test_schedule import login, text
from .wire import statements_sent

LONDON = ZoneInfo("Europe/London")
ADMIN = Actor.staff(1)


def monday_after_next() -> datetime:
    today = utcnow().astimezone(LONDON).date()
    return today + timedelta(days=14 - today.weekday())


def at(day, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=LONDON).astimezone(UTC)


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def clinic(session):
    """Two departments, each with a service and a clinician working weekdays in London."""
    skin = factories.service(session, name="Skin check", horizon_days=400)
    heart = factories.service(session, name="Heart follow-up", horizon_days=400)
    dermatologist = factories.clinician(session, [skin])
    cardiologist = factories.clinician(session, [heart])
    session.commit()
    return {"skin": skin, "heart": heart, "dermatologist": dermatologist, "cardiologist": cardiologist}


def close(session, department_id, day):
    return add_closure(
        session, department_id, day, day, "Staff training", tz=LONDON, now=utcnow(), actor=ADMIN
    )


def slots_on(session, service, day) -> list:
    session.expire_all()
    return find_slots(session, service, at(day, 0), at(day + timedelta(days=1), 0), utcnow())


def test_a_department_closure_removes_that_departments_times_only(session, clinic):
    day = monday_after_next()

    close(session, clinic["skin"].department_id, day)

    assert slots_on(session, clinic["skin"], day) == []
    assert slots_on(session, clinic["skin"], day + timedelta(days=1))
    assert len(slots_on(session, clinic["heart"], day)) == 14


def test_a_hospital_wide_closure_removes_every_departments_times(session, clinic):
    day = monday_after_next()

    close(session, None, day)

    assert slots_on(session, clinic["skin"], day) == [] and slots_on(session, clinic["heart"], day) == []


def test_a_closure_removes_the_times_from_the_booking_page_and_the_api(client, session, clinic):
    day, service = monday_after_next(), clinic["skin"]
    query = {"service": service.id, "clinician": "any", "time_zone": "Europe/London", "day": day}
    api = f"/api/v1/slots?service={service.id}&start={day}&end={day}&tz=Europe/London"
    assert f'value="{form_value(at(day, 9))}"' in text(client.get("/book/time", query_string=query))
    assert client.get(api).get_json()["slots"]

    close(session, None, day)

    assert f'value="{form_value(at(day, 9))}"' not in text(client.get("/book/time", query_string=query))
    assert client.get(api).get_json()["slots"] == []


def test_a_closure_lists_the_bookings_already_in_it_and_leaves_them_booked(session, clinic):
    day = monday_after_next()
    inside = factories.consultation(session, clinic["skin"], clinic["dermatologist"], at(day, 10))
    factories.consultation(session, clinic["heart"], clinic["cardiologist"], at(day, 10))  # other department
    factories.consultation(session, clinic["skin"], clinic["dermatologist"], at(day + timedelta(days=1), 10))

    closure = close(session, clinic["skin"].department_id, day)

    found = closures_to_come(session, utcnow(), 1)
    assert [c.id for c in found.closures.rows] == [closure.id]
    assert [c.id for c in found.clashes[closure.id]] == [inside.id]


def test_a_closure_shows_on_the_clinicians_hours_page_as_a_clash(client, session, clinic):
    day = monday_after_next()
    inside = factories.consultation(session, clinic["skin"], clinic["dermatologist"], at(day, 10))
    close(session, None, day)

    login(session, client, clinician_id=clinic["dermatologist"].id)

    assert f"/schedule/consultations/{inside.id}" in text(client.get("/schedule/hours"))


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [(3, 2, "last_day"), (-3, -2, "last_day"), (0, 400, "last_day")],
)
def test_closures_that_end_before_they_start_are_over_or_too_long_are_refused(session, first, last, field):
    today = utcnow().date()

    with pytest.raises(InvalidSetting) as refused:
        add_closure(
            session,
            None,
            today + timedelta(days=first),
            today + timedelta(days=last),
            "",
            tz=LONDON,
            now=utcnow(),
            actor=ADMIN,
        )

    assert refused.value.field == field
    assert session.scalars(select(Closure)).all() == []


def test_an_admin_closes_a_department_lists_the_clash_and_removes_the_closure(client, session, clinic):
    day = monday_after_next()
    inside = factories.consultation(session, clinic["skin"], clinic["dermatologist"], at(day, 10))
    login(session, client, StaffRole.ADMIN)
    department = clinic["skin"].department_id

    added = client.post(
        "/admin/closures",
        data={"department_id": department, "first_day": day, "last_day": day, "label": "Staff training"},
    )
    page = text(client.get("/admin/closures"))

    assert added.status_code == 303
    assert "Staff training" in page and f"/schedule/consultations/{inside.id}" in page
    session.commit()
    closure = session.scalar(select(Closure))
    assert closure.department_id == department and closure.starts_at == at(day, 0)
    assert client.post(f"/admin/closures/{closure.id}/remove").status_code == 303
    session.commit()
    assert session.scalars(select(Closure)).all() == []
    events = session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "closure")).all()
    assert [event.action for event in events] == ["closure.added", "closure.removed"]
    # The row is gone: the trail alone says which days were closed, then opened again.
    span = {"starts_at": at(day, 0).isoformat(), "ends_at": at(day + timedelta(days=1), 0).isoformat()}
    assert [event.details for event in events] == [{"department_id": department, **span}] * 2


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"department_id": "0", "first_day": "2030-01-02", "last_day": "2030-01-01"}, "last_day"),
        ({"department_id": "0", "first_day": "", "last_day": "2030-01-01"}, "first_day"),
        ({"department_id": "0", "first_day": "0001-01-01", "last_day": "0001-01-01"}, "first_day"),
        ({"department_id": "987654", "first_day": "2030-01-01", "last_day": "2030-01-01"}, "department_id"),
        ({"department_id": "x", "first_day": "2030-01-01", "last_day": "2030-01-01"}, "department_id"),
    ],
)
def test_a_wrong_closure_is_refused_beside_the_field(client, session, clinic, data, field):
    login(session, client, StaffRole.ADMIN)

    response = client.post("/admin/closures", data=data)

    assert response.status_code == 422 and f'id="{field}-error"' in text(response)
    session.commit()
    assert session.scalars(select(Closure)).all() == []


def test_closures_cost_the_slot_search_no_extra_query(session, clinic):
    """Counted at the driver: the slot search's statement runs past SQLAlchemy's execution."""
    day = monday_after_next()
    engine = session.get_bind()

    session.commit()  # the search takes its connection from the pool, where it is traced
    with statements_sent(engine) as before:
        slots_on(session, clinic["skin"], day)
    for offset in range(3):
        close(session, clinic["skin"].department_id, day + timedelta(days=7 * (offset + 1)))
    close(session, None, day + timedelta(days=1))
    session.commit()
    with statements_sent(engine) as after:
        slots_on(session, clinic["skin"], day)

    assert len(after) == len(before)


def test_a_closure_removed_already_says_so_and_leads_back_to_the_closures(client, session, clinic):
    """Two admins with the closures page open (or one clicking twice): the second removal answered 404
    "We could not find that page or booking"."""
    closure = close(session, clinic["skin"].department_id, monday_after_next())
    session.commit()
    login(session, client, StaffRole.ADMIN)

    first = client.post(f"/admin/closures/{closure.id}/remove")
    again = client.post(f"/admin/closures/{closure.id}/remove")

    assert first.status_code == 303
    assert again.status_code == 303 and again.headers["Location"] == "/admin/closures"
    assert "That closure was removed already: nothing changed." in text(client.get("/admin/closures"))
    session.commit()
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "closure")).all()
    assert actions.count("closure.removed") == 1
