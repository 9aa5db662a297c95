"""Admins keep the clinicians: profile, zone, services, weekly hours and time off, and deactivation,
which waits until each booking to come is moved or cancelled with the patient told."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from clinic.models import AuditEvent, AvailabilityRule, Clinician, StaffRole, TimeOff, utcnow
from clinic.scheduling.availability import find_slots
from clinic.staff.members import StaffMember
from clinic.walkin.take import take_next
from tests.fakes.outbox import outbox  # noqa: F401
from tests.fakes.providers import fake_providers  # noqa: F401
from tests.fakes.smtp import smtp_server  # noqa: F401

from . import factories
from .browser_forms import form_values
from .test_schedule import login, text
from .test_schedule_actions import clinic, deliver, on_the_grid_in, reloaded  # noqa: F401

S = "cancelled"


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def admin(client, session):
    return login(session, client, StaffRole.ADMIN)


def profile(clinic, **changes) -> dict:
    """What the clinician page posts for a new cardiologist offering the follow-up call."""
    fields = {
        "display_name": "Dr Lena Fischer",
        "title": "Consultant cardiologist",
        "email": "lena.fischer@hospital.example",
        "time_zone": "Europe/Berlin",
        "department_id": clinic["cardiology"].id,
        "service_ids": [clinic["heart"].id],
    }
    return {**fields, **changes}


def stored(session, clinician_id: int) -> Clinician:
    session.commit()
    session.expire_all()
    return session.get(Clinician, clinician_id)


def actions(session, entity_id: int) -> list[str]:
    session.commit()
    query = select(AuditEvent.action).where(
        AuditEvent.entity_type == "clinician", AuditEvent.entity_id == str(entity_id)
    )
    return list(session.scalars(query.order_by(AuditEvent.id)))


def test_the_new_clinician_page_offers_the_zone_picker_with_the_hospitals_zone_chosen(client, admin, clinic):
    page = text(client.get("/admin/clinicians/new"))

    assert '<select aria-describedby="time_zone-hint" id="time_zone" name="time_zone"' in page
    assert 'selected value="Europe/London">UK time' in page
    assert 'value="America/New_York">' in page


def test_an_admin_adds_a_clinician_with_zone_and_services_and_it_is_audited(client, session, admin, clinic):
    response = client.post("/admin/clinicians/new", data=profile(clinic))

    assert response.status_code == 303
    session.commit()
    added = session.scalar(select(Clinician).where(Clinician.email == "lena.fischer@hospital.example"))
    assert (added.display_name, added.time_zone, added.active) == ("Dr Lena Fischer", "Europe/Berlin", True)
    assert [s.id for s in added.services] == [clinic["heart"].id]
    assert actions(session, added.id) == ["clinician.saved"]
    assert "Dr Lena Fischer" in text(client.get("/admin/clinicians"))


def test_an_admin_changes_a_clinicians_services_and_the_event_names_them_by_id(
    client, session, admin, clinic
):
    person = clinic["raman"]
    other = factories.service(session, clinic["cardiology"], name="Echo review")
    session.commit()
    was = sorted(s.id for s in person.services)
    data = profile(
        clinic,
        display_name=person.display_name,
        title="",
        email=person.email,
        time_zone=person.time_zone,
        service_ids=[clinic["heart"].id, other.id],
    )

    response = client.post(f"/admin/clinicians/{person.id}", data=data)

    assert response.status_code == 303
    assert {s.id for s in stored(session, person.id).services} == {clinic["heart"].id, other.id}
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "clinician.saved"))
    assert event.details == {
        "changed": ["services"],
        "from": {"services": was},
        "to": {"services": sorted([clinic["heart"].id, other.id])},
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"display_name": " "}, "display_name"),
        ({"email": "not an address"}, "email"),
        ({"email": "AMARA.OKAFOR@hospital.example"}, "email"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"department_id": "987654"}, "department_id"),
        ({"service_ids": ["987654"]}, "service_ids"),
        ({"service_ids": ["x"]}, "service_ids"),
    ],
)
def test_a_wrong_profile_is_refused_beside_its_field(client, session, admin, clinic, changes, field):
    okafor = stored(session, clinic["okafor"].id)
    okafor.email = "amara.okafor@hospital.example"
    session.commit()

    response = client.post("/admin/clinicians/new", data=profile(clinic, **changes))

    assert response.status_code == 422 and f'id="{field}-error"' in text(response)
    session.commit()
    assert len(session.scalars(select(Clinician)).all()) == 2


def test_deactivating_waits_for_the_bookings_to_come_which_are_listed_to_move_or_cancel(
    client, session, admin, clinic, outbox, smtp_server
):
    person = clinic["okafor"]
    booked = factories.booking(
        session, clinic["heart"], on_the_grid_in(30), now=utcnow(), clinician_id=person.id
    )
    consultation = booked.consultation

    refused = client.post(f"/admin/clinicians/{person.id}/active", data={"active": "no"})
    page = text(client.get(f"/admin/clinicians/{person.id}"))

    assert refused.status_code == 303 and stored(session, person.id).active
    assert "Move or cancel their bookings to come first." in page
    assert f'href="/schedule/consultations/{consultation.id}/move"' in page
    assert client.get(f"/schedule/consultations/{consultation.id}/move").status_code == 200

    cancelled = client.post(f"/admin/clinicians/{person.id}/bookings/{consultation.id}/cancel")
    deliver(outbox)

    assert cancelled.status_code == 303
    assert reloaded(session, consultation).status == S
    assert any("cancelled" in m["Subject"] for m in smtp_server.inbox(consultation.patient.email))

    done = client.post(f"/admin/clinicians/{person.id}/active", data={"active": "no"})

    assert done.status_code == 303 and not stored(session, person.id).active
    assert actions(session, person.id) == ["clinician.deactivated"]
    assert "no longer offered to patients" in text(client.get(f"/admin/clinicians/{person.id}"))


@pytest.mark.parametrize("data", [{}, {"active": "maybe"}], ids=["no answer", "another answer"])
def test_a_post_that_says_neither_deactivate_nor_reactivate_changes_nothing(
    client, session, admin, clinic, data
):
    person = clinic["okafor"]

    answer = client.post(f"/admin/clinicians/{person.id}/active", data=data)

    assert answer.status_code == 303 and stored(session, person.id).active  # it was deactivated
    assert actions(session, person.id) == []
    assert "Choose to deactivate or to reactivate." in text(client.get(f"/admin/clinicians/{person.id}"))


def test_a_deactivated_clinician_offers_no_times_and_is_offered_again_when_reactivated(
    client, session, admin, clinic
):
    person, service = clinic["okafor"], clinic["heart"]
    window = (utcnow() + timedelta(days=2), utcnow() + timedelta(days=3))

    client.post(f"/admin/clinicians/{person.id}/active", data={"active": "no"})

    session.commit()
    assert {slot.clinician_id for slot in find_slots(session, service, *window, utcnow())} == {
        clinic["raman"].id
    }
    client.post(f"/admin/clinicians/{person.id}/active", data={"active": "yes"})
    session.commit()
    assert person.id in {slot.clinician_id for slot in find_slots(session, service, *window, utcnow())}
    assert actions(session, person.id) == ["clinician.deactivated", "clinician.reactivated"]


def test_an_admin_keeps_any_clinicians_hours_and_time_off_on_the_clinicians_own_page(
    client, session, admin, clinic
):
    person = clinic["okafor"]
    base = f"/admin/clinicians/{person.id}"

    added = client.post(f"{base}/hours", data={"weekday": "2", "start": "23:30", "end": "23:59"})
    # No note: the field is optional, so a form without it is saved, not a server error.
    off = client.post(
        f"{base}/time-off", data={"starts_at": "2030-07-01T00:00", "ends_at": "2030-07-15T00:00"}
    )
    page = text(client.get(f"{base}/hours"))

    assert (added.status_code, off.status_code) == (303, 303)
    assert added.headers["Location"] == f"{base}/hours"
    assert "Hours and time off of Dr Amara Okafor" in page and f'action="{base}/time-off"' in page
    session.commit()
    assert session.scalar(select(TimeOff)).clinician_id == person.id
    rules = session.scalars(select(AvailabilityRule).where(AvailabilityRule.clinician_id == person.id)).all()
    assert any(rule.weekday == 2 and rule.start_time == time(23, 30) for rule in rules)
    assert actions(session, person.id) == ["clinician.hours_added", "clinician.time_off_added"]


def test_the_admins_hours_page_lists_the_same_clashes_as_the_clinicians_own(client, session, admin, clinic):
    person = clinic["okafor"]
    booked = factories.booking(
        session, clinic["heart"], on_the_grid_in(30), now=utcnow(), clinician_id=person.id
    )
    session.commit()
    for rule in person.availability_rules:
        client.post(f"/admin/clinicians/{person.id}/hours/{rule.id}/remove")

    page = text(client.get(f"/admin/clinicians/{person.id}/hours"))

    assert f'href="/schedule/consultations/{booked.consultation.id}?next=' in page


def test_the_hours_of_a_clinician_that_does_not_exist_are_not_found(client, admin):
    assert client.get("/admin/clinicians/2147483647/hours").status_code == 404
    response = client.post(
        "/admin/clinicians/2147483647/hours", data={"weekday": "2", "start": "14:00", "end": "17:00"}
    )
    assert response.status_code == 404


def cancel_address(person, consultation) -> str:
    return f"/admin/clinicians/{person.id}/bookings/{consultation.id}/cancel"


def test_an_admins_cancel_asks_first_and_sent_again_says_it_is_cancelled_already(
    client, session, admin, clinic, outbox
):
    person = clinic["okafor"]
    consultation = factories.booking(
        session, clinic["heart"], on_the_grid_in(30), now=utcnow(), clinician_id=person.id
    ).consultation
    address = cancel_address(person, consultation)

    listed = text(client.get(f"/admin/clinicians/{person.id}"))
    asked = client.get(address)

    assert f'href="{address}"' in listed and reloaded(session, consultation).status == "booked"
    assert asked.status_code == 200 and consultation.patient.name in text(asked)
    sent = form_values(text(asked), address)
    first, again = client.post(address, data=sent), client.post(address, data=sent)
    deliver(outbox)

    assert (first.status_code, again.status_code) == (303, 303)
    assert reloaded(session, consultation).status == S
    assert f"Booking {consultation.reference} was cancelled already." in text(client.get(again.location))
    session.commit()
    cancelled = select(AuditEvent).where(AuditEvent.action == "consultation.cancelled")
    assert len(session.scalars(cancelled).all()) == 1


def test_a_booking_is_cancelled_only_from_its_own_clinicians_page(client, session, admin, clinic):
    okafor, raman = clinic["okafor"], clinic["raman"]
    consultation = factories.booking(
        session, clinic["heart"], on_the_grid_in(30), now=utcnow(), clinician_id=okafor.id
    ).consultation

    assert client.get(cancel_address(raman, consultation)).status_code == 404
    assert client.post(cancel_address(raman, consultation)).status_code == 404
    assert reloaded(session, consultation).status == "booked"


def test_a_service_with_bookings_to_come_is_not_taken_from_its_clinician_until_they_are_moved(
    client, session, admin, clinic
):
    person, heart = clinic["okafor"], clinic["heart"]
    other = factories.service(session, clinic["cardiology"], name="Echo review")
    person.services.append(other)
    session.commit()
    consultation = factories.booking(
        session, heart, on_the_grid_in(30), now=utcnow(), clinician_id=person.id
    ).consultation
    address = f"/admin/clinicians/{person.id}"
    sent = {**form_values(text(client.get(address)), ""), "service_ids": [str(other.id)]}

    refused = client.post(address, data=sent)

    assert refused.status_code == 422 and 'id="service_ids-error"' in text(refused)
    assert f"bookings of Follow-up call to come ({consultation.reference})" in text(refused)
    assert {s.id for s in stored(session, person.id).services} == {heart.id, other.id}
    assert client.get(f"/schedule/consultations/{consultation.id}/move").status_code == 200

    client.post(cancel_address(person, consultation))
    removed = client.post(address, data=sent)

    assert removed.status_code == 303
    assert [s.id for s in stored(session, person.id).services] == [other.id]


def test_bookings_to_come_offer_only_what_may_still_be_done_to_each(client, session, admin, clinic):
    """The list offered Move and Cancel for every booking to come, also for a walk-in caller's call, which
    the lifecycle refuses. A patient waiting may be moved (handed to a colleague free now) or cancelled."""
    person = clinic["okafor"]
    booked = factories.consultation(session, clinic["heart"], person, on_the_grid_in(30))
    waiting = factories.consultation(session, clinic["heart"], person, on_the_grid_in(40), status="arrived")
    queue = factories.walk_in_queue(session, clinic["heart"], [person])
    factories.walk_in(session, queue, now=utcnow())
    call = take_next(
        session, queue.id, StaffMember(1, StaffRole.CLINICIAN, clinician_id=person.id), now=utcnow()
    )
    page = text(client.get(f"/admin/clinicians/{person.id}"))

    def offered(consultation) -> set[str]:
        found = {
            "Move": f"/schedule/consultations/{consultation.id}/move",
            "Cancel": cancel_address(person, consultation),
        }
        return {name for name, address in found.items() if f'href="{address}"' in page}

    assert [offered(c) for c in (booked, waiting, call.consultation)] == [
        {"Move", "Cancel"},
        {"Move", "Cancel"},
        set(),
    ]
    assert client.get(cancel_address(person, call.consultation)).status_code == 409


def moved_to_berlin(person, service) -> dict:
    """The clinician's form as it stands, but for the time zone, now Europe/Berlin."""
    return {
        "display_name": person.display_name,
        "title": person.title,
        "email": person.email,
        "time_zone": "Europe/Berlin",
        "department_id": person.department_id,
        "service_ids": [service.id],
    }


def test_a_change_of_time_zone_says_the_hours_keep_their_clock_times_and_which_bookings_no_longer_fit(
    client, session, admin
):
    """The hours (09:00-17:00, kept as clock times in the clinician's zone) moved an hour in everyone
    else's time when an admin changed the zone from London to Berlin, without a word: a booking at 16:00
    London time, now 17:00 in Berlin, fell outside them unsaid."""
    heart = factories.service(session, name="Follow-up call")
    person = factories.clinician(
        session, [heart], time_zone="Europe/London", weekdays=range(7), hours=[(time(9), time(17))]
    )
    session.commit()
    day = (utcnow() + timedelta(days=3)).astimezone(ZoneInfo("Europe/London")).date()
    start = datetime.combine(day, time(16), ZoneInfo("Europe/London")).astimezone(UTC)
    booked = factories.booking(session, heart, start, now=utcnow(), clinician_id=person.id)
    session.commit()
    hint = text(client.get(f"/admin/clinicians/{person.id}"))

    saved = client.post(f"/admin/clinicians/{person.id}", data=moved_to_berlin(person, heart))
    told = text(client.get("/admin/clinicians"))

    assert saved.status_code == 303
    assert "changing it keeps each period at its clock time in the new zone" in hint
    assert "Their weekly hours keep their clock times, now in Europe/Berlin" in told
    assert "each now starts 1 h earlier in Europe/London time" in told
    assert "Their bookings keep their times" in told
    assert "1 booking to come no longer fits their hours: they are listed first on their hours page" in told
    assert booked.consultation.patient.name in text(client.get(f"/admin/clinicians/{person.id}/hours"))
    rules = stored(session, person.id).availability_rules
    assert {(r.start_time, r.end_time) for r in rules} == {(time(9), time(17))}


def test_a_change_of_time_zone_counts_only_the_bookings_it_put_outside_the_hours(client, session, admin):
    """A booking in time off already (a clash before the change) was counted as one the new zone put
    outside the hours."""
    heart = factories.service(session, name="Follow-up call")
    person = factories.clinician(
        session, [heart], time_zone="Europe/London", weekdays=range(7), hours=[(time(9), time(17))]
    )
    session.commit()
    day = (utcnow() + timedelta(days=3)).astimezone(ZoneInfo("Europe/London")).date()
    london = ZoneInfo("Europe/London")
    for hour in (10, 16):
        start = datetime.combine(day, time(hour), london).astimezone(UTC)
        factories.booking(session, heart, start, now=utcnow(), clinician_id=person.id)
    morning = datetime.combine(day, time(9), london).astimezone(UTC)
    factories.time_off(session, person, morning, morning + timedelta(hours=2))
    session.commit()

    assert (
        client.post(f"/admin/clinicians/{person.id}", data=moved_to_berlin(person, heart)).status_code == 303
    )

    assert "1 booking to come no longer fits their hours" in text(client.get("/admin/clinicians"))


def test_hours_or_time_off_removed_already_say_so_and_lead_back_to_the_page(client, session, admin, clinic):
    """Two admins with a clinician's hours page open (or one clicking twice): the second removal of the
    same hours or time off answered 404 "We could not find that page or booking"."""
    person = clinic["okafor"]
    rule = person.availability_rules[0]
    off = factories.time_off(session, person, utcnow() + timedelta(days=3), utcnow() + timedelta(days=4))
    session.commit()
    hours_page = f"/admin/clinicians/{person.id}/hours"

    for path in (f"{hours_page[:-6]}/hours/{rule.id}/remove", f"{hours_page[:-6]}/time-off/{off.id}/remove"):
        first, again = client.post(path), client.post(path)

        assert first.status_code == 303
        assert again.status_code == 303 and again.headers["Location"] == hours_page
        assert "removed already: nothing changed" in text(client.get(hours_page))
    assert actions(session, person.id) == ["clinician.hours_removed", "clinician.time_off_removed"]
