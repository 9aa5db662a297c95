"""Acting from the schedule: starting the call, moving a consultation along, and booking, moving or
cancelling for a patient on the phone, audited as the staff member, with the patient's mails."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import html
import re
from datetime import UTC, datetime, time, timedelta

import pytest
import segno
from sqlalchemy import select

from clinic.booking.calendar import form_value, local_time
from clinic.meetings import Meeting, get_provider
from clinic.models import (
    AuditEvent,
    Consultation,
    ConsultationStatus,
    OutboxKind,
    OutboxMessage,
    StaffRole,
    utcnow,
)
from clinic.scheduling.booking import ALTERNATIVES_SHOWN
from clinic.scheduling.errors import SlotUnavailable
from clinic.scheduling.timezones import zone
from clinic.scheduling.tokens import LinkKeys, letter_code
from tests.browser_forms import form_values
from tests.fakes.outbox import outbox  # noqa: F401
from tests.fakes.providers import fake_providers  # noqa: F401
from tests.fakes.smtp import smtp_server  # noqa: F401

from . import factories
from .test_schedule import login, text

S = ConsultationStatus
LONDON = zone("Europe/London")


@pytest.fixture
def now() -> datetime:
    """The real time: the pages read the clock, so the outbox driver starts from it too."""
    return utcnow()


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def clinic(session):
    """A cardiology service (changes online up to a day ahead) with two clinicians who work every day."""
    cardiology = factories.department(session, name="Cardiology")
    heart = factories.service(session, cardiology, name="Follow-up call", cancel_cutoff_minutes=24 * 60)
    every_day = {"weekdays": range(7), "hours": [(time(0), time(23, 30))]}
    okafor = factories.clinician(session, [heart], display_name="Dr Amara Okafor", **every_day)
    raman = factories.clinician(session, [heart], display_name="Dr Priya Raman", **every_day)
    session.commit()
    return {"cardiology": cardiology, "heart": heart, "okafor": okafor, "raman": raman}


def soon(minutes: int) -> datetime:
    return utcnow().replace(second=0, microsecond=0) + timedelta(minutes=minutes)


def on_the_grid_in(hours: int) -> datetime:
    """A start on the services' half-hour grid, `hours` from now or a little more."""
    start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours + 1)
    return start


def deliver(outbox) -> None:
    """Run the outbox up to the real time (the pages booked at it)."""
    outbox.clock.now = utcnow()
    outbox.drain()


def consultations(session) -> list[Consultation]:
    session.commit()  # a new read: the test's own may predate the requests
    return list(session.scalars(select(Consultation)))


def tomorrow_at(hour: int) -> datetime:
    day = utcnow().astimezone(LONDON).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=LONDON).astimezone(UTC)


def reloaded(session, consultation) -> Consultation:
    """The consultation as the requests left it: a new read, past the test's own open one."""
    session.commit()
    return session.get(Consultation, consultation.id, populate_existing=True)


def audited(session, consultation, action: str) -> list[str]:
    session.commit()
    query = select(AuditEvent.actor).where(
        AuditEvent.entity_id == str(consultation.id), AuditEvent.action == action
    )
    return list(session.scalars(query))


def test_the_clinician_starts_the_call_in_the_window_and_is_taken_to_the_host_link(client, session, clinic):
    due = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(10))
    doctor = login(session, client, clinician_id=clinic["okafor"].id)

    # The day the call falls on: in the ten minutes before midnight it is tomorrow's.
    page = text(client.get("/schedule/", query_string={"date": due.starts_at.astimezone(LONDON).date()}))
    started = client.post(f"/schedule/consultations/{due.id}/start")

    assert "Start call" in page
    assert started.status_code == 303 and started.location == due.meeting_host_url
    assert reloaded(session, due).status is S.IN_PROGRESS
    assert audited(session, due, "consultation.started") == [f"staff:{doctor.id}"]


def test_a_call_cannot_be_started_long_before_it_and_the_page_says_from_when(client, session, clinic):
    later = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(120))
    login(session, client, clinician_id=clinic["okafor"].id)

    early = client.post(f"/schedule/consultations/{later.id}/start")

    assert early.status_code == 409 and "This call can be started from" in text(early)
    assert reloaded(session, later).status is S.BOOKED


def test_a_refused_action_comes_back_to_the_consultations_page_with_the_reason_at_its_top(
    client, session, clinic
):
    """ "Start call" too early, or a status changed meanwhile, showed a page of its own that led nowhere
    ("Sorry, something went wrong"): the consultation's page, with what to do next, says it instead."""
    later = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(120))
    login(session, client, clinician_id=clinic["okafor"].id)

    early = text(client.post(f"/schedule/consultations/{later.id}/start"))
    finished = text(client.post(f"/schedule/consultations/{later.id}/status", data={"status": "fulfilled"}))

    for page in (early, finished):
        assert "Sorry, something went wrong" not in page
        assert "<title>Not done: " in page and later.reference in page and "Back to the schedule" in page
        assert re.search(
            r'class="notice notice-warning flash" role="alert"[^>]*autofocus><h2>Not done</h2><p>[^<]+</p>',
            page,
        )
    assert "This call can be started from" in early
    assert reloaded(session, later).status is S.BOOKED


def test_a_call_whose_meeting_is_still_being_made_cannot_start_yet(client, session, clinic):
    due = factories.consultation(
        session, clinic["heart"], clinic["okafor"], soon(5), meeting_join_url=None, meeting_host_url=None
    )
    login(session, client, clinician_id=clinic["okafor"].id)

    response = client.post(f"/schedule/consultations/{due.id}/start")

    assert response.status_code == 409 and "still being made" in text(response)
    assert reloaded(session, due).status is S.BOOKED


def test_reception_marks_a_patient_arrived_but_only_the_clinician_starts_or_finishes(client, session, clinic):
    due = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(5))
    desk = login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    arrived = client.post(
        f"/schedule/consultations/{due.id}/status", data={"status": "arrived", "next": "/schedule/"}
    )
    start = client.post(f"/schedule/consultations/{due.id}/start")
    finish = client.post(f"/schedule/consultations/{due.id}/status", data={"status": "fulfilled"})

    assert arrived.status_code == 303 and arrived.location == "/schedule/"
    assert (start.status_code, finish.status_code) == (404, 404)
    assert reloaded(session, due).status is S.ARRIVED
    assert audited(session, due, "consultation.arrived") == [f"staff:{desk.id}"]


def test_a_wrong_status_change_is_a_conflict_and_changes_nothing(client, session, clinic):
    due = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(5), status=S.ARRIVED)
    login(session, client, clinician_id=clinic["okafor"].id)

    wrong = client.post(
        f"/schedule/consultations/{due.id}/status", data={"status": "noshow", "confirmed": "yes"}
    )
    unknown = client.post(f"/schedule/consultations/{due.id}/status", data={"status": "cancelled"})

    assert wrong.status_code == 409
    assert "This consultation is marked “Waiting”: it cannot become “No-show”." in text(wrong)
    assert unknown.status_code == 422 and "Choose one of the actions." in text(unknown)
    assert reloaded(session, due).status is S.ARRIVED


def test_the_clinician_finishes_a_call_under_way(client, session, clinic):
    due = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(-10), status=S.IN_PROGRESS)
    login(session, client, clinician_id=clinic["okafor"].id)

    client.post(f"/schedule/consultations/{due.id}/status", data={"status": "fulfilled"})

    done = reloaded(session, due)
    assert done.status is S.FULFILLED and done.ended_at is not None


def test_the_consultation_page_shows_the_reason_to_its_clinician_only(client, session, clinic):
    due = factories.consultation(
        session, clinic["heart"], clinic["okafor"], soon(60), reason="Chest pain at night"
    )
    login(session, client, clinician_id=clinic["okafor"].id)
    for_clinician = text(client.get(f"/schedule/consultations/{due.id}"))
    client.post("/logout")
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    for_reception = text(client.get(f"/schedule/consultations/{due.id}"))

    assert "Chest pain at night" in for_clinician
    assert "Chest pain at night" not in for_reception and due.patient.name in for_reception


def test_the_consultation_page_names_the_patients_zone_as_people_know_it(client, session, clinic):
    patient = factories.patient_details(time_zone="America/New_York")
    booked = factories.booking(session, clinic["heart"], tomorrow_at(9), now=utcnow(), patient=patient)
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    hours = tomorrow_at(9).astimezone(zone("America/New_York")).utcoffset() // timedelta(hours=1)

    page = text(client.get(f"/schedule/consultations/{booked.consultation.id}"))

    # GMT-5 in winter, GMT-4 in summer: the offset the patient's clocks show on the day
    assert re.search(rf"In the patient's time zone</dt><dd>[^<]*\(New York, GMT{hours}\)</dd>", page)
    assert "America/New_York" not in page  # the zone's raw name, before


def test_the_move_page_speaks_to_staff_of_times_that_cannot_be_changed_and_of_none_free(
    client, session, clinic
):
    """It told staff "you would need to call" and "Please call … and we will find you a time": the
    patient's words, from the shared picker."""
    locked = factories.service(session, clinic["cardiology"], cancel_cutoff_minutes=60 * 24 * 90)
    factories.clinician(session, [locked], weekdays=range(7))
    session.commit()
    unchangeable = factories.booking(session, locked, tomorrow_at(9), now=utcnow())
    idle = factories.clinician(session, [clinic["heart"]], weekdays=[])  # no hours: no free time
    stuck = factories.consultation(session, clinic["heart"], idle, tomorrow_at(9))
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    marked = text(client.get(f"/schedule/consultations/{unchangeable.consultation.id}/move"))
    empty = text(client.get(f"/schedule/consultations/{stuck.id}/move"))

    assert "the patient will not be able to change or cancel it online" in marked
    assert "There are no free times in the next" in empty
    assert "you would need to call" not in marked and "Please call" not in empty


def booking_form(service, start, **fields) -> dict:
    return {
        "service": service.id,
        "clinician": "any",
        "time_zone": "Europe/London",
        "start": form_value(start),
        "name": "Maria Visser",
        "birth_date-day": "27",
        "birth_date-month": "3",
        "birth_date-year": "1948",
        "phone": "+31 20 555 0101",
        "email": "maria@example.org",
        "consent": "y",
        "idempotency_key": "staff-booking-key-0001",
        **fields,
    }


def test_reception_books_for_a_patient_on_the_phone_and_the_patient_gets_the_mail(
    client,
    session,
    clinic,
    outbox,
    smtp_server,
):
    desk = login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    start = tomorrow_at(10)

    times = client.get(f"/schedule/book?service={clinic['heart'].id}")
    booked = client.post("/schedule/book", data=booking_form(clinic["heart"], start))
    deliver(outbox)

    assert times.status_code == 200 and form_value(start) in text(times)
    assert booked.status_code == 303
    (consultation,) = consultations(session)
    assert consultation.starts_at == start and consultation.patient.email == "maria@example.org"
    assert audited(session, consultation, "consultation.booked") == [f"staff:{desk.id}"]
    (mail,) = smtp_server.inbox("maria@example.org")
    assert "is booked" in mail["Subject"]


@pytest.mark.parametrize("time_zone", ["Mars/Olympus", "", "../../etc/passwd"])
def test_a_staff_booking_in_a_zone_not_on_the_list_is_refused_beside_it_and_books_nothing(
    client, session, clinic, time_zone
):
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    refused = client.post(
        "/schedule/book", data=booking_form(clinic["heart"], tomorrow_at(10), time_zone=time_zone)
    )

    assert refused.status_code == 422
    assert re.search(r'id="time_zone-error">.*Choose a time zone from the list', text(refused), re.DOTALL)
    assert consultations(session) == []


def test_a_staff_booking_records_that_staff_took_the_patients_consent_on_the_phone(client, session, clinic):
    desk = login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    page = text(client.get(f"/schedule/book?service={clinic['heart'].id}"))
    client.post("/schedule/book", data=booking_form(clinic["heart"], tomorrow_at(10)))

    (consultation,) = consultations(session)
    version = client.application.config[
        "PRIVACY_NOTICE_VERSION"
    ]  # the notice as it stands, whatever its date
    assert f"agreed verbally, to version {version}" in page
    assert (consultation.consent_method, consultation.consent_notice_version) == ("verbal", version)
    assert consultation.consent_given_at is not None
    assert audited(session, consultation, "consultation.booked") == [f"staff:{desk.id}"]  # who took it


def test_a_staff_booking_at_a_time_not_offered_offers_each_of_the_next_free_times_once(
    client, session, clinic
):
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    past_hours = tomorrow_at(23) + timedelta(minutes=30)  # both clinicians stop at 23:30 and are back at 0:00

    refused = client.post("/schedule/book", data=booking_form(clinic["heart"], past_hours))

    step = timedelta(minutes=clinic["heart"].slot_interval_minutes)
    day_after = tomorrow_at(12).astimezone(LONDON).date() + timedelta(days=1)
    midnight = datetime.combine(day_after, time(0), LONDON).astimezone(UTC)
    offered = re.findall(r'name="start" value="([^"]+)"', text(refused))
    assert refused.status_code == 422 and "Choose one of the next free times" in text(refused)
    assert offered == [form_value(midnight + n * step) for n in range(ALTERNATIVES_SHOWN)]
    assert consultations(session) == []


def test_a_double_submitted_staff_booking_books_once(client, session, clinic):
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    form = booking_form(clinic["heart"], tomorrow_at(11))

    first = client.post("/schedule/book", data=form)
    second = client.post("/schedule/book", data=form)

    assert first.location == second.location
    assert len(consultations(session)) == 1


def test_staff_cannot_book_a_patient_into_two_consultations_at_once_but_are_not_capped(
    client, session, clinic
):
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    for hour in range(10, 14):
        form = booking_form(clinic["heart"], tomorrow_at(hour), idempotency_key=f"staff-booking-key-{hour}")
        assert client.post("/schedule/book", data=form).status_code == 303

    again = booking_form(
        clinic["heart"], tomorrow_at(10), email="MARIA@example.org", idempotency_key="k" * 20
    )
    response = client.post("/schedule/book", data=again)

    assert response.status_code == 409
    assert "already a booking with this e-mail address and date of birth at that time" in text(response)
    assert len(consultations(session)) == 4


def test_staff_booking_refuses_bad_details_beside_the_fields_and_books_nothing(client, session, clinic):
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    response = client.post(
        "/schedule/book",
        data=booking_form(
            clinic["heart"], tomorrow_at(10), name="", consent="", **{"birth_date-month": "13"}
        ),
    )

    page = text(response)
    assert response.status_code == 422
    for field in ("name", "birth_date", "consent"):
        assert f'aria-describedby="{field}-error"' in page or f"{field}-error" in page
    assert (
        "Enter the patient's full name." in html.unescape(page)
        and "Date of birth must be a real date." in page
    )
    assert 'id="birth_date-day" name="birth_date-day" value="27"' in page
    assert consultations(session) == []


def test_staff_booking_refuses_a_phone_number_without_enough_digits(client, session, clinic):
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    response = client.post(
        "/schedule/book", data=booking_form(clinic["heart"], tomorrow_at(10), phone="-----")
    )

    page = html.unescape(text(response))
    assert response.status_code == 422
    assert 'id="phone-error"' in page
    assert "Enter the whole phone number, with its area code: at least 7 digits." in page
    assert consultations(session) == []


def test_a_clinician_books_only_with_themselves(client, session, clinic):
    login(session, client, clinician_id=clinic["okafor"].id)

    other = client.post(
        "/schedule/book", data=booking_form(clinic["heart"], tomorrow_at(10), clinician=clinic["raman"].id)
    )
    own = client.post(
        "/schedule/book", data=booking_form(clinic["heart"], tomorrow_at(10), clinician=clinic["okafor"].id)
    )

    assert other.status_code == 422 and "does not offer this service" in text(other)
    assert own.status_code == 303
    assert [c.clinician_id for c in consultations(session)] == [clinic["okafor"].id]


def test_reception_cannot_book_another_departments_service(client, session, clinic):
    elsewhere = factories.service(session, name="Skin check")
    factories.clinician(session, [elsewhere])
    session.commit()
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    response = client.post("/schedule/book", data=booking_form(elsewhere, tomorrow_at(10)))

    assert response.status_code == 422 and "No such service is offered." in text(response)
    assert consultations(session) == []


def test_a_clinician_left_chosen_from_another_service_is_refused_beside_the_field_not_a_dead_end(
    client, session, clinic
):
    """Reception chose Dr Raman for one service, then another service that only Dr Okafor offers, and asked
    for its times (or booked): the form keeps Dr Raman, so the page says so beside the clinician, where
    another can be chosen, and offers the service's times, rather than a page with nothing to do."""
    echo = factories.service(session, clinic["cardiology"], name="Echo review")
    clinic["okafor"].services.append(echo)
    session.commit()
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    shown = client.get(f"/schedule/book?service={echo.id}&clinician={clinic['raman'].id}")
    sent = client.post(
        "/schedule/book", data=booking_form(echo, tomorrow_at(10), clinician=clinic["raman"].id)
    )

    for response in (shown, sent):
        page = text(response)
        assert response.status_code == 422
        assert 'id="clinician-error"' in page and "That clinician does not offer this service." in page
        assert "Dr Amara Okafor</option>" in page and "Book the consultation" in page
    assert consultations(session) == []


@pytest.fixture
def shared(session, clinic):
    """Dr Jansen of Dermatology, whom an admin also gave Cardiology's follow-up call (hospitals share
    clinicians across departments); and Dermatology and Neurology, each with its reception."""
    dermatology = factories.department(session, name="Dermatology")
    neurology = factories.department(session, name="Neurology")
    every_day = {"weekdays": range(7), "hours": [(time(0), time(23, 30))]}
    jansen = factories.clinician(
        session, [clinic["heart"]], department=dermatology, display_name="Dr Eva Jansen", **every_day
    )
    session.commit()
    return {"dermatology": dermatology, "neurology": neurology, "jansen": jansen}


def seen_by_reception(session, app, department, consultation: Consultation) -> tuple[int, bool]:
    """What `department`'s reception gets of the consultation: its page's status, and whether their day
    lists it."""
    client = factories.browser(app)
    login(session, client, StaffRole.RECEPTION, department_id=department.id)
    page = client.get(f"/schedule/consultations/{consultation.id}")
    day = text(client.get("/schedule/", query_string={"date": consultation.starts_at.date().isoformat()}))
    return page.status_code, "Maria Visser" in day


@pytest.mark.parametrize("chosen", ["jansen", "any"], ids=["named", "first available"])
def test_reception_books_their_service_with_a_clinician_of_another_department_and_sees_the_booking(
    app, client, session, clinic, shared, chosen
):
    """Who reception may book follows the service's department, but what they saw followed the
    clinician's: Cardiology's booking with Dr Jansen of Dermatology was made, and its page answered 404
    and their day left it out. Her own department's reception still sees her day; any other, nothing."""
    start = tomorrow_at(10)
    if chosen == "any":  # Cardiology's own clinicians are busy then: the first available is Dr Jansen
        for name in ("okafor", "raman"):
            factories.booking(session, clinic["heart"], start, now=utcnow(), clinician_id=clinic[name].id)
        session.commit()
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    clinician = shared["jansen"].id if chosen == "jansen" else "any"

    booked = client.post("/schedule/book", data=booking_form(clinic["heart"], start, clinician=clinician))
    page = client.get(booked.location)

    assert booked.status_code == 303 and page.status_code == 200 and "Maria Visser" in text(page)
    session.commit()  # a new read, past the test's own open one
    consultation = session.scalars(select(Consultation).order_by(Consultation.id.desc())).first()
    assert consultation.clinician_id == shared["jansen"].id
    assert seen_by_reception(session, app, clinic["cardiology"], consultation) == (200, True)
    assert seen_by_reception(session, app, shared["dermatology"], consultation) == (200, True)
    assert seen_by_reception(session, app, shared["neurology"], consultation) == (404, False)


def test_reception_moves_their_consultation_to_a_clinician_of_another_department_and_still_sees_it(
    app, client, session, clinic, shared
):
    start = tomorrow_at(11)
    booked = factories.booking(
        session,
        clinic["heart"],
        start,
        now=utcnow(),
        clinician_id=clinic["okafor"].id,
        patient=factories.patient_details(name="Maria Visser"),
    )
    session.commit()
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    base = f"/schedule/consultations/{booked.consultation.id}/move"

    moved = client.post(base, data={"start": form_value(start), "clinician": shared["jansen"].id})
    page = client.get(moved.location)

    assert moved.status_code == 303 and page.status_code == 200
    assert reloaded(session, booked.consultation).clinician_id == shared["jansen"].id
    assert seen_by_reception(session, app, clinic["cardiology"], booked.consultation) == (200, True)
    assert seen_by_reception(session, app, shared["neurology"], booked.consultation) == (404, False)


def test_reception_handing_their_clinicians_booking_to_another_departments_clinician_are_told_it_left(
    client, session, clinic, shared
):
    """Dermatology's reception manage Dr Jansen's day, her Cardiology call too, and may hand it to a
    cardiologist; it is then Cardiology's alone, and its page, where the move led, answered 404."""
    start = tomorrow_at(12)
    booked = factories.booking(
        session,
        clinic["heart"],
        start,
        now=utcnow(),
        clinician_id=shared["jansen"].id,
        patient=factories.patient_details(name="Maria Visser"),
    )
    session.commit()
    login(session, client, StaffRole.RECEPTION, department_id=shared["dermatology"].id)
    base = f"/schedule/consultations/{booked.consultation.id}/move"

    moved = client.post(base, data={"start": form_value(start), "clinician": clinic["okafor"].id})
    page = client.get(moved.location)

    assert moved.status_code == 303 and page.status_code == 200
    said = "has moved to Dr Amara Okafor of Cardiology, and is no longer on your schedule"
    assert said in html.unescape(text(page))
    assert reloaded(session, booked.consultation).clinician_id == clinic["okafor"].id
    assert client.get(f"/schedule/consultations/{booked.consultation.id}").status_code == 404


def test_staff_move_a_booking_after_the_patients_cut_off_and_the_patient_gets_an_update(
    client,
    session,
    clinic,
    outbox,
    smtp_server,
):
    booked = factories.booking(
        session, clinic["heart"], on_the_grid_in(3), now=utcnow(), clinician_id=clinic["okafor"].id
    )
    desk = login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    consultation = booked.consultation
    new_start = tomorrow_at(14)

    picker = client.get(f"/schedule/consultations/{consultation.id}/move?day={new_start.date().isoformat()}")
    moved = client.post(
        f"/schedule/consultations/{consultation.id}/move", data={"start": form_value(new_start)}
    )
    deliver(outbox)

    assert picker.status_code == 200
    assert moved.status_code == 303
    assert reloaded(session, consultation).starts_at == new_start
    assert audited(session, consultation, "consultation.rescheduled") == [f"staff:{desk.id}"]
    subjects = [m["Subject"] for m in smtp_server.inbox(consultation.patient.email)]
    assert any("has moved" in subject for subject in subjects)


def test_staff_moving_a_booking_to_its_own_time_are_told_so_and_nothing_changes(client, session, clinic):
    booked = factories.booking(
        session, clinic["heart"], tomorrow_at(10), now=utcnow(), clinician_id=clinic["okafor"].id
    )
    consultation = booked.consultation
    sequence = consultation.invite_sequence
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    response = client.post(
        f"/schedule/consultations/{consultation.id}/move", data={"start": form_value(tomorrow_at(10))}
    )

    page = html.unescape(text(response))
    assert response.status_code == 409
    assert "This is already the consultation's time" in page and 'id="start-error"' in page
    assert reloaded(session, consultation).invite_sequence == sequence
    assert audited(session, consultation, "consultation.rescheduled") == []


def test_staff_cancel_for_the_patient_who_gets_the_cancellation(client, session, clinic, outbox, smtp_server):
    booked = factories.booking(
        session, clinic["heart"], on_the_grid_in(2), now=utcnow(), clinician_id=clinic["okafor"].id
    )
    doctor = login(session, client, clinician_id=clinic["okafor"].id)
    consultation = booked.consultation

    response = client.post(
        f"/schedule/consultations/{consultation.id}/cancel", data={"reason": "Clinic closed"}
    )
    deliver(outbox)

    assert response.status_code == 303
    assert reloaded(session, consultation).status is S.CANCELLED
    assert audited(session, consultation, "consultation.cancelled") == [f"staff:{doctor.id}"]
    assert outbox.messages(consultation, OutboxKind.CANCELLATION)
    assert any("cancelled" in m["Subject"] for m in smtp_server.inbox(consultation.patient.email))


@pytest.mark.parametrize(
    ("status", "starts_in"),
    [(S.BOOKED, -35), (S.NOSHOW, -35), (S.FULFILLED, -35), (S.IN_PROGRESS, -10)],
    ids=["ended, not yet marked a no-show", "no-show", "seen", "call under way"],
)
def test_staff_can_neither_cancel_nor_move_a_consultation_under_way_or_over_nor_are_offered_to(
    client, session, clinic, status, starts_in
):
    """Staff cancelled a consultation that had ended: the patient was mailed that it "has been cancelled",
    with an invite cancelling a past time, and a missed consultation counted as a cancellation rather than
    a no-show."""
    past = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(starts_in), status=status)
    starts_at = past.starts_at
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    base = f"/schedule/consultations/{past.id}"

    page = text(client.get(base))
    cancelled = client.post(f"{base}/cancel", data={"reason": "Asked to"})
    picker = client.get(f"{base}/move")
    moved = client.post(f"{base}/move", data={"start": form_value(tomorrow_at(10))})

    assert "Cancel this consultation" not in page and "Move to another time" not in page
    assert [r.status_code for r in (cancelled, picker, moved)] == [409] * 3
    assert "it can no longer be cancelled" in text(cancelled)
    assert all("it can no longer be moved" in text(r) for r in (picker, moved))
    kept = reloaded(session, past)
    assert (kept.status, kept.starts_at) == (status, starts_at)
    assert audited(session, past, "consultation.cancelled") == []
    assert session.scalars(select(OutboxMessage).where(OutboxMessage.consultation_id == past.id)).all() == []


def test_the_printed_letter_carries_a_short_address_a_code_to_type_and_the_whole_link_as_a_square(
    client, session, clinic, app
):
    """A 43-character token cannot be typed from paper or heard over the phone: the letter gives the
    booking's short address and its code, and the whole link as a square a phone's camera reads."""
    booked = factories.booking(session, clinic["heart"], tomorrow_at(9), now=utcnow())
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    consultation = booked.consultation

    letter = text(client.get(f"/schedule/consultations/{consultation.id}/letter"))
    code = letter_code(LinkKeys.from_config(app.config), consultation)
    link = f"http://127.0.0.1:5000/c/{consultation.reference}#t={booked.manage_token}"
    patient = app.test_client().post(f"/c/{consultation.reference}", data={"code": code})

    assert f'<span class="manage-link">http://127.0.0.1:5000/c/{consultation.reference}</span>' in letter
    assert f'<strong class="letter-code">{code}</strong>' in letter
    assert booked.manage_token not in letter.replace(
        segno.make(link, error="m").svg_data_uri(scale=4, border=2), ""
    )
    assert segno.make(link, error="m").svg_data_uri(scale=4, border=2) in letter
    assert 'Press "I\'m here", then "Join the video call"' in letter
    assert patient.status_code == 303


def test_a_cancelled_consultations_letter_tells_of_the_cancellation_and_carries_no_link(
    client, session, clinic
):
    """Staff told to "print the letter" after cancelling for a patient without e-mail printed, before, a
    confirmation of the cancelled time, with its link."""
    booked = factories.booking(session, clinic["heart"], tomorrow_at(9), now=utcnow())
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    consultation_page = f"/schedule/consultations/{booked.consultation.id}"
    client.post(f"{consultation_page}/cancel", data={"reason": ""})

    page = text(client.get(consultation_page))
    letter = text(client.get(f"{consultation_page}/letter"))

    assert "Print a letter telling the patient of the cancellation" in page
    assert "is <strong>cancelled</strong>" in letter and "is booked for" not in letter
    assert f"/c/{booked.consultation.reference}" not in letter and booked.manage_token not in letter


@pytest.mark.parametrize(
    "status", [ConsultationStatus.FULFILLED, ConsultationStatus.NOSHOW, ConsultationStatus.ARRIVED]
)
def test_a_consultation_under_way_or_over_has_no_letter(client, session, clinic, status):
    booked = factories.booking(session, clinic["heart"], tomorrow_at(9), now=utcnow())
    booked.consultation.status = status
    session.commit()
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    letter = client.get(f"/schedule/consultations/{booked.consultation.id}/letter")

    assert letter.status_code == 404 and "booked or a cancelled consultation only" in text(letter)


def test_reception_books_for_a_patient_without_e_mail_who_gets_no_mail_while_the_clinician_does(
    client, session, clinic, outbox, smtp_server
):
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    booked = client.post("/schedule/book", data=booking_form(clinic["heart"], tomorrow_at(10), email=""))
    page = text(client.get(booked.location))
    deliver(outbox)

    (consultation,) = consultations(session)
    assert consultation.patient.email is None
    assert "No e-mail: print the letter" in page
    audiences = {m.audience for m in outbox.messages(consultation)}
    assert "patient" not in audiences and "clinician" in audiences
    assert [m["Subject"] for m in smtp_server.inbox(consultation.clinician.email)]


def test_staff_invite_an_interpreter_who_gets_their_own_invitation_and_can_be_uninvited(
    client, session, clinic, outbox, smtp_server
):
    booked = factories.booking(session, clinic["heart"], tomorrow_at(9), now=utcnow())
    desk = login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    consultation = booked.consultation
    base = f"/schedule/consultations/{consultation.id}"

    invited = client.post(
        f"{base}/companion", data={"name": "Ana Silva", "email": "ana@example.net", "role": "interpreter"}
    )
    deliver(outbox)
    page = text(client.get(base))
    removed = client.post(f"{base}/companion/remove")
    deliver(outbox)

    assert invited.status_code == 303 and removed.status_code == 303
    assert "Ana Silva (interpreter) is invited" in page
    subjects = [m["Subject"] for m in smtp_server.inbox("ana@example.net")]
    assert len(subjects) == 2 and "cancelled" in subjects[-1]
    assert reloaded(session, consultation).companion is None
    assert audited(session, consultation, "companion.added") == [f"staff:{desk.id}"]


def test_wrong_companion_details_are_refused_beside_the_fields(client, session, clinic):
    booked = factories.booking(session, clinic["heart"], tomorrow_at(9), now=utcnow())
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    response = client.post(
        f"/schedule/consultations/{booked.consultation.id}/companion",
        data={"name": "", "email": "not an address", "role": "friend"},
    )

    page = text(response)
    assert response.status_code == 422
    assert all(f'id="{field}-error"' in page for field in ("name", "email", "role"))
    assert reloaded(session, booked.consultation).companions == []


def test_staff_book_a_patient_with_an_interpreter_in_one_go(client, session, clinic):
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    form = booking_form(
        clinic["heart"],
        tomorrow_at(10),
        companion_name="Ana Silva",
        companion_email="ana@example.net",
        companion_role="interpreter",
    )

    assert client.post("/schedule/book", data=form).status_code == 303

    (consultation,) = consultations(session)
    assert consultation.companion.name == "Ana Silva"


def test_a_patient_cannot_be_marked_arrived_days_ahead_nor_a_no_show_before_the_start(
    client, session, clinic
):
    later = factories.consultation(session, clinic["heart"], clinic["okafor"], tomorrow_at(10))
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    base = f"/schedule/consultations/{later.id}"

    page = text(client.get(base))
    arrived = client.post(f"{base}/status", data={"status": "arrived"})
    no_show = client.post(f"{base}/status", data={"status": "noshow"})

    assert "Mark arrived" not in page and "No-show" not in page
    assert arrived.status_code == 409 and "from shortly before the start" in text(arrived)
    assert no_show.status_code == 409 and "once they are 10 minutes late" in text(no_show)
    assert reloaded(session, later).status is S.BOOKED


def test_a_patient_who_checked_in_is_never_a_no_show_and_their_call_can_still_start(client, session, clinic):
    """Reception marked a waiting patient a no-show with one click: the clinician's Start call then answered
    409 "This consultation is over", and the patient's page said so, where housekeeping never marks one."""
    waiting = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(-20), status=S.ARRIVED)
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    base = f"/schedule/consultations/{waiting.id}"

    page = text(client.get(base))
    asked = client.post(f"{base}/status", data={"status": "noshow"})
    confirmed = client.post(f"{base}/status", data={"status": "noshow", "confirmed": "yes"})
    client.post("/logout")
    login(session, client, clinician_id=clinic["okafor"].id)
    started = client.post(f"{base}/start")

    assert "No-show" not in page
    assert (asked.status_code, confirmed.status_code) == (409, 409)
    assert started.status_code == 303 and started.location == waiting.meeting_host_url
    assert reloaded(session, waiting).status is S.IN_PROGRESS
    assert audited(session, waiting, "consultation.noshow") == []


@pytest.mark.parametrize(("late", "offered"), [(5, False), (10, True)])
def test_a_no_show_is_offered_only_once_the_patient_is_late_by_the_grace(
    client, session, clinic, late, offered
):
    """It was offered from the first minute, when a patient a minute late is no no-show."""
    due = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(-late))
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    page = text(client.get(f"/schedule/consultations/{due.id}"))
    asked = client.post(f"/schedule/consultations/{due.id}/status", data={"status": "noshow"})

    assert ('value="noshow"' in page) is offered
    assert asked.status_code == (200 if offered else 409)
    assert reloaded(session, due).status is S.BOOKED


def test_marking_a_no_show_asks_first_and_only_the_answer_marks_it(client, session, clinic):
    """One click marked it, and nothing undoes a no-show but the clinician correcting it to done."""
    due = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(-15))
    desk = login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    base = f"/schedule/consultations/{due.id}"

    asked = client.post(f"{base}/status", data={"status": "noshow", "next": "/schedule/"})
    question = html.unescape(text(asked))
    unchanged = reloaded(session, due).status
    answered = client.post(
        f"{base}/status", data={"status": "noshow", "confirmed": "yes", "next": "/schedule/"}
    )

    assert asked.status_code == 200 and f"Mark {due.patient.name} as a no-show?" in question
    assert 'name="confirmed" value="yes"' in question and 'href="/schedule/"' in question
    assert unchanged is S.BOOKED
    assert answered.status_code == 303 and answered.location == "/schedule/"
    assert reloaded(session, due).status is S.NOSHOW
    assert audited(session, due, "consultation.noshow") == [f"staff:{desk.id}"]


def test_the_clinician_closes_a_checked_in_consultation_whose_call_never_started_once_it_cannot_start(
    client, session, clinic
):
    """A patient who checked in is not a no-show; if their call never started, its clinician finishes it
    once the call can no longer be started (until then they start it, and finish it from the call)."""
    open_still = factories.consultation(
        session, clinic["heart"], clinic["okafor"], soon(-50), status=S.ARRIVED
    )
    closed = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(-90), status=S.ARRIVED)
    login(session, client, clinician_id=clinic["okafor"].id)

    still = text(client.get(f"/schedule/consultations/{open_still.id}"))
    early = client.post(f"/schedule/consultations/{open_still.id}/status", data={"status": "fulfilled"})
    over = text(client.get(f"/schedule/consultations/{closed.id}"))
    finished = client.post(f"/schedule/consultations/{closed.id}/status", data={"status": "fulfilled"})

    assert "Start call" in still and 'value="fulfilled"' not in still
    assert early.status_code == 409 and "start the call" in text(early)
    assert "Start call" not in over and 'value="fulfilled"' in over
    assert finished.status_code == 303
    assert (reloaded(session, open_still).status, reloaded(session, closed).status) == (
        S.ARRIVED,
        S.FULFILLED,
    )


def test_the_history_names_the_staff_member_who_acted(client, session, clinic):
    due = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(5))
    desk = login(
        session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id, display_name="Rita Desk"
    )

    client.post(f"/schedule/consultations/{due.id}/status", data={"status": "arrived"})

    assert f"arrived by {desk.display_name}" in text(client.get(f"/schedule/consultations/{due.id}"))


def test_the_move_page_tells_staff_the_times_are_in_the_patients_zone_and_patients_keep_their_wording(
    client, session, clinic
):
    patient = factories.patient_details(time_zone="America/New_York")
    booked = factories.booking(session, clinic["heart"], tomorrow_at(9), now=utcnow(), patient=patient)
    base = f"/schedule/consultations/{booked.consultation.id}/move"
    patients_page = text(
        client.get("/book/time", query_string={"service": clinic["heart"].id, "clinician": "any"})
    )
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    theirs = text(client.get(base))
    another = text(client.get(base, query_string={"time_zone": "Asia/Tokyo"}))

    assert re.search(
        r"Times are shown in the patient&#39;s time zone \(New York, GMT-\d\)\. "
        r"Choose another to see them there\.",
        theirs,
    )
    assert re.search(r"Times are shown in this time zone; the patient&#39;s is New York, GMT-\d\.", another)
    assert "Not in the list? Find the patient&#39;s time zone" in theirs
    assert "yours" not in theirs + another and "your time zone" not in theirs + another
    assert "Choose yours if it is different." in patients_page
    assert "Not in the list? Find your time zone" in patients_page


def test_a_staff_zone_search_that_finds_nothing_puts_error_first_in_the_title(client, session, clinic):
    """As the patients' pages do: a screen reader user hears the problem before the page's name."""
    consultation = factories.consultation(session, clinic["heart"], clinic["okafor"], tomorrow_at(9))
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    search = {"time_zone": "Europe/London", "time_zone_search": "Atlantis"}

    pages = [
        text(client.get("/schedule/book", query_string={"service": clinic["heart"].id, **search})),
        text(client.get(f"/schedule/consultations/{consultation.id}/move", query_string=search)),
    ]

    for page in pages:
        assert "No time zone matches “Atlantis”." in page
        assert re.search(r"<title>Error: [^<]*(Book for a patient|Move )", page)


@pytest.fixture
def two_hours_notice(session, clinic):
    """The demo's notice: patients book themselves online at least two hours ahead."""
    clinic["heart"].min_notice_minutes = 120
    session.commit()
    return clinic["heart"]


def next_start_on_the_grid() -> datetime:
    """The service's next half-hour start at least a few minutes away that the clinicians work (they are
    off from 23:30 to midnight): well inside two hours' notice."""
    start = soon(5)
    start += timedelta(minutes=-start.minute % 30)
    if start.astimezone(LONDON).time() == time(23, 30):
        start += timedelta(minutes=30)
    return start


def test_reception_books_a_patient_into_a_free_time_inside_the_services_notice(
    client, session, clinic, two_hours_notice
):
    """At 05:31 reception was offered 07:45 first: the notice is for patients booking themselves, and it
    kept reception from filling a sick colleague's patients into the next two hours of free times."""
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    start = next_start_on_the_grid()

    times = client.get(f"/schedule/book?service={two_hours_notice.id}")
    booked = client.post("/schedule/book", data=booking_form(two_hours_notice, start))

    assert form_value(start) in text(times)
    assert booked.status_code == 303
    (consultation,) = consultations(session)
    assert consultation.starts_at == start


def test_a_patient_booking_online_inside_the_notice_is_still_refused(session, clinic, two_hours_notice):
    with pytest.raises(SlotUnavailable):
        factories.booking(session, two_hours_notice, next_start_on_the_grid(), now=utcnow())

    assert consultations(session) == []


def test_staff_move_a_booking_into_a_free_time_inside_the_services_notice(
    client, session, clinic, two_hours_notice
):
    booked = factories.booking(
        session, two_hours_notice, tomorrow_at(10), now=utcnow(), clinician_id=clinic["okafor"].id
    )
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    start = next_start_on_the_grid()
    consultation = booked.consultation

    picker = client.get(f"/schedule/consultations/{consultation.id}/move")
    moved = client.post(f"/schedule/consultations/{consultation.id}/move", data={"start": form_value(start)})

    assert form_value(start) in text(picker)
    assert moved.status_code == 303
    assert reloaded(session, consultation).starts_at == start


def test_staff_are_never_offered_nor_can_book_a_time_that_has_started(client, session, clinic):
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    started = soon(0) - timedelta(minutes=soon(0).minute % 30)

    times = client.get(f"/schedule/book?service={clinic['heart'].id}&day={started.date().isoformat()}")
    refused = client.post("/schedule/book", data=booking_form(clinic["heart"], started))

    assert form_value(started) not in text(times)
    assert refused.status_code == 422
    assert consultations(session) == []


def zoom_call_soon(app, client, session, clinic, fake_providers) -> tuple[Consultation, Meeting]:
    """A consultation in ten minutes whose Zoom meeting was made, as the worker makes it; its clinician in."""
    app.config.update(fake_providers.settings(), MEETING_PROVIDER="zoom")
    due = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(10))
    made = get_provider("zoom", app.config).create(due)
    due.meeting_provider, due.meeting_external_id = made.provider, made.external_id
    due.meeting_join_url, due.meeting_host_url = made.join_url, made.host_url
    session.commit()
    login(session, client, clinician_id=clinic["okafor"].id)
    return due, made


def test_starting_a_zoom_call_opens_a_host_link_zoom_issues_now(app, client, session, clinic, fake_providers):
    """Zoom's start_url carries a ZAK that expires two hours after it is issued: the one the meeting was made
    with, days before, let the clinician in as nobody, and the patient waited in Zoom's waiting room for a
    host who never came. Start call asks Zoom for the meeting's start_url afresh."""
    due, made = zoom_call_soon(app, client, session, clinic, fake_providers)

    started = client.post(f"/schedule/consultations/{due.id}/start")

    assert started.status_code == 303
    assert started.location.startswith(f"https://zoom.example/s/{made.external_id}?zak=")
    assert started.location != made.host_url
    assert fake_providers.requests_to(f"/zoom/v2/meetings/{made.external_id}")[-1].method == "GET"
    assert reloaded(session, due).status is S.IN_PROGRESS


def test_a_zoom_call_starts_with_the_host_link_it_has_while_zoom_cannot_be_reached(
    app, client, session, clinic, fake_providers
):
    due, made = zoom_call_soon(app, client, session, clinic, fake_providers)
    fake_providers.fail_next(2, 503, path_contains="/zoom/v2/meetings/")

    started = client.post(f"/schedule/consultations/{due.id}/start")

    assert (started.status_code, started.location) == (303, made.host_url)  # it may still work: no dead end
    assert reloaded(session, due).status is S.IN_PROGRESS


@pytest.mark.parametrize("role", [StaffRole.RECEPTION, StaffRole.CLINICIAN])
def test_the_no_show_question_reads_the_time_as_the_consultation_page_does(client, session, clinic, role):
    """Dr Reyes works from New York: reception in London read her patient's 09:00 on the day and on the
    consultation's page, then "Mark … as a no-show?" asked about 04:00 (Eastern time); she reads her own
    consultations in her zone, the question too."""
    reyes = factories.clinician(
        session, [clinic["heart"]], display_name="Dr Ana Reyes", time_zone="America/New_York"
    )
    due = factories.consultation(session, clinic["heart"], reyes, soon(-15))
    session.commit()
    if role is StaffRole.CLINICIAN:
        login(session, client, role, clinician_id=reyes.id)
    else:
        login(session, client, role, department_id=clinic["cardiology"].id)
    base = f"/schedule/consultations/{due.id}"
    reading = "America/New_York" if role is StaffRole.CLINICIAN else "Europe/London"

    page = html.unescape(text(client.get(base)))
    question = html.unescape(text(client.post(f"{base}/status", data={"status": "noshow"})))

    when = local_time(due.starts_at, reading)
    assert when in page
    title = re.search(r"<title>(.*?)</title>", question, re.DOTALL)[1]
    assert f"here for {when} with Dr Ana Reyes" in question and f"{due.reference}, {when}" in title, title


@pytest.mark.parametrize("role", [StaffRole.RECEPTION, StaffRole.ADMIN, StaffRole.CLINICIAN])
def test_the_no_show_question_tells_only_the_clinician_to_start_the_call(client, session, clinic, role):
    """Only the consultation's clinician starts its call: the question told reception and admins, who have
    no "Start call", to start it instead of marking the no-show; they are told to ask the clinician."""
    due = factories.consultation(session, clinic["heart"], clinic["okafor"], soon(-15))
    who = {"clinician_id": clinic["okafor"].id} if role is StaffRole.CLINICIAN else {}
    login(session, client, role, department_id=clinic["cardiology"].id, **who)

    asked = client.post(f"/schedule/consultations/{due.id}/status", data={"status": "noshow"})
    question = re.sub(r"\s+", " ", html.unescape(text(asked)))

    assert asked.status_code == 200
    if role is StaffRole.CLINICIAN:
        assert "If they are waiting in the call, start it instead." in question
    else:
        assert "If they are waiting in the call, start it instead." not in question
        assert "If they are waiting in the call, ask Dr Amara Okafor to start it instead." in question


@pytest.mark.parametrize("same_time", [False, True], ids=["to another time", "to a colleague at its time"])
def test_a_staff_move_to_the_first_available_sent_twice_moves_the_consultation_once(
    client, session, clinic, same_time
):
    """A double click on "Move to this time" with "First available" chosen: the second sending finds its own
    move made and shows it, rather than moving the patient on again to yet another clinician."""
    start = tomorrow_at(10)
    okafor = clinic["okafor"].id
    booked = factories.booking(session, clinic["heart"], start, now=utcnow(), clinician_id=okafor)
    consultation = booked.consultation
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    path = f"/schedule/consultations/{consultation.id}/move"
    new_start = start if same_time else tomorrow_at(11)
    page = text(client.get(f"{path}?clinician=any"))
    sent = {**form_values(page, path, "post"), "start": form_value(new_start)}

    first = client.post(path, data=sent)
    first_clinician = reloaded(session, consultation).clinician_id
    second = client.post(path, data=sent)
    shown = html.unescape(text(client.get(second.location)))

    assert (first.status_code, second.status_code) == (303, 303)
    assert second.location == first.location and shown.count("The consultation has moved to") == 1
    after = reloaded(session, consultation)
    assert (after.starts_at, after.clinician_id) == (new_start, first_clinician)
    assert len(audited(session, consultation, "consultation.rescheduled")) == 1


def test_a_staff_booking_form_sent_again_with_a_detail_corrected_leads_to_the_booking_it_made(
    client, session, clinic
):
    """The first "Book" went through while the page hung; the receptionist corrects the phone number and
    books again: they are taken to the booking the form made, told the correction was not saved, rather
    than shown an error page about idempotency keys that loses what they typed and books nothing."""
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    form = booking_form(clinic["heart"], tomorrow_at(11), email="")

    first = client.post("/schedule/book", data=form)
    again = client.post("/schedule/book", data={**form, "phone": "+31 20 555 0199"})
    shown = html.unescape(text(client.get(again.location))) if again.status_code == 303 else ""

    (consultation,) = consultations(session)
    assert again.status_code == 303 and again.location == first.location
    assert f"This form booked {consultation.reference} already" in shown
    assert "was not saved" in shown and "idempotency" not in shown


def test_inviting_the_same_interpreter_twice_invites_them_once_and_keeps_the_call_in_its_room(
    client, session, clinic, outbox, smtp_server
):
    """A double click on "Invite", or the form sent again after a slow answer: the second sending must not
    uninvite the interpreter (a cancellation to them, a new video room and an updated invitation to the
    patient) only to invite them again."""
    booked = factories.booking(session, clinic["heart"], tomorrow_at(9), now=utcnow())
    consultation = booked.consultation
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    path = f"/schedule/consultations/{consultation.id}/companion"
    sent = {"name": "Ana Silva", "email": "ana@example.net", "role": "interpreter"}
    first = client.post(path, data=sent)
    deliver(outbox)
    room = reloaded(session, consultation).meeting_external_id
    patient_mails = len(smtp_server.inbox(consultation.patient.email))

    again = client.post(path, data={**sent, "email": "ANA@example.net"})
    deliver(outbox)

    assert (first.status_code, again.status_code) == (303, 303)
    assert len(smtp_server.inbox("ana@example.net")) == 1
    assert len(smtp_server.inbox(consultation.patient.email)) == patient_mails
    after = reloaded(session, consultation)
    assert after.meeting_external_id == room and len(after.companions) == 1
    assert audited(session, consultation, "companion.removed") == []


def test_a_clinician_books_a_patient_from_the_times_shown_after_choosing_only_the_service(
    client, session, clinic
):
    """The page's first form chooses the service alone (the clinician's list comes with it); the times then
    shown are the clinician's own, and the booking form drawn with them must book with them."""
    login(session, client, clinician_id=clinic["okafor"].id)
    first = form_values(text(client.get("/schedule/book")), "/schedule/book", "get")
    page = text(client.get("/schedule/book", query_string={**first, "service": clinic["heart"].id}))
    typed = {k: v for k, v in booking_form(clinic["heart"], tomorrow_at(10)).items() if k != "clinician"}

    booked = client.post("/schedule/book", data={**form_values(page, "/schedule/book", "post"), **typed})

    assert booked.status_code == 303
    assert [c.clinician_id for c in consultations(session)] == [clinic["okafor"].id]


def test_a_staff_cancel_sent_twice_leads_to_the_cancelled_consultation_not_a_refusal(client, session, clinic):
    """A double click on "Cancel": the second sending finds what was asked done, and says so, where it drew
    the page as "Not done" with a refusal, as though the cancellation had failed."""
    booked = factories.booking(session, clinic["heart"], tomorrow_at(9), now=utcnow())
    login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    path = f"/schedule/consultations/{booked.consultation.id}/cancel"

    first = client.post(path, data={"reason": ""})
    second = client.post(path, data={"reason": ""})
    shown = html.unescape(text(client.get(second.location))) if second.status_code == 303 else ""

    assert (first.status_code, second.status_code) == (303, 303)
    assert "Not done" not in shown and "was cancelled already" in shown
    assert len(audited(session, booked.consultation, "consultation.cancelled")) == 1
