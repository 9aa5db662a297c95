"""The /api/v1 contract: services, slots in the viewer's zone, booking and managing a booking.

The API reads the real clock, so every date here is relative to today.
"""

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from clinic.models import AuditEvent, Consultation, ConsultationStatus, OutboxMessage, utcnow
from clinic.scheduling.tokens import manage_token
from config import Config
from tests import factories
from tests.conftest import TEST_KEYS, listening

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def monday_after_next() -> date:
    today = utcnow().astimezone(LONDON).date()
    return today + timedelta(days=14 - today.weekday())


def at(day: date, hour: int, minute: int = 0, tz: ZoneInfo = LONDON) -> datetime:
    """An aware instant: `day` at hour:minute on the wall clock of `tz`."""
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


def wall(day: date, hour: int, minute: int = 0) -> str:
    """A naive ISO local time, as a patient's app would send it with a time_zone."""
    return datetime.combine(day, time(hour, minute)).isoformat()


def booking_body(service_id: int, start: str, **changes) -> dict:
    body = {
        "service": service_id,
        "start": start,
        "time_zone": "Europe/London",
        "consent": {"privacy_notice_version": Config.PRIVACY_NOTICE_VERSION},
        "patient": {
            "name": "Ada Lovelace",
            "email": "ada@example.org",
            "phone": "+44 7700 900123",
            "birth_date": "1985-12-10",
        },
    }
    return {**body, **changes}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def consultations(session) -> int:
    return session.scalar(select(func.count()).select_from(Consultation))


@pytest.fixture
def clinic(session) -> SimpleNamespace:
    """One service with two clinicians, both working weekdays in London."""
    service = factories.service(session, horizon_days=400)
    first = factories.clinician(session, [service])
    second = factories.clinician(session, [service])
    session.commit()
    return SimpleNamespace(service=service, first=first, second=second, day=monday_after_next())


@pytest.fixture
def booked(client, clinic) -> dict:
    """A booking made through the API: Monday after next, 10:00 London, with the first clinician."""
    body = booking_body(clinic.service.id, wall(clinic.day, 10), clinician=clinic.first.id)
    response = client.post("/api/v1/bookings", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_services_lists_the_active_services_with_their_clinicians(client, session, clinic):
    factories.service(session, active=False)
    closed = factories.department(session, active=False)
    factories.service(session, closed)
    session.commit()

    services = client.get("/api/v1/services").get_json()["services"]

    assert [s["id"] for s in services] == [clinic.service.id]
    offered = services[0]
    assert offered["name"] == clinic.service.name
    assert offered["department"] == clinic.service.department.name
    assert offered["department_id"] == clinic.service.department_id
    assert offered["duration_minutes"] == 30
    assert [c["id"] for c in offered["clinicians"]] == [clinic.first.id, clinic.second.id]


def test_slots_are_given_with_the_offset_of_the_requested_zone(client, clinic):
    day = clinic.day.isoformat()

    response = client.get(
        f"/api/v1/slots?service={clinic.service.id}&clinician={clinic.first.id}"
        f"&start={day}&end={day}&tz=America/New_York"
    )

    body = response.get_json()
    assert response.status_code == 200
    assert body["time_zone"] == "America/New_York"
    first = body["slots"][0]
    assert first["start"] == at(clinic.day, 9).astimezone(NEW_YORK).isoformat()
    assert first["end"] == at(clinic.day, 9, 30).astimezone(NEW_YORK).isoformat()
    assert first["clinician"] == clinic.first.id
    assert len(body["slots"]) == 14  # 09:00-12:30 and 13:30-17:00 in half hours


def test_the_same_slots_asked_in_two_zones_are_each_written_in_their_own(client, clinic):
    day = clinic.day.isoformat()
    query = f"/api/v1/slots?service={clinic.service.id}&clinician={clinic.first.id}&start={day}&end={day}"

    in_london = client.get(f"{query}&tz=Europe/London").get_json()["slots"]
    in_new_york = client.get(f"{query}&tz=America/New_York").get_json()["slots"]

    assert in_london[0]["start"] == at(clinic.day, 9).isoformat()
    assert in_new_york[0]["start"] == at(clinic.day, 9).astimezone(NEW_YORK).isoformat()
    assert len(in_london) == len(in_new_york) == 14


def test_slots_list_every_clinician_when_none_is_named(client, clinic):
    day = clinic.day.isoformat()

    slots = client.get(f"/api/v1/slots?service={clinic.service.id}&start={day}&end={day}&tz=UTC").get_json()

    assert {s["clinician"] for s in slots["slots"]} == {clinic.first.id, clinic.second.id}


def next_dst_change(tz: ZoneInfo) -> date:
    """The next day on which `tz` changes its offset, at least two days from now."""
    day = utcnow().date() + timedelta(days=2)
    while at(day, 12, tz=tz).utcoffset() == at(day + timedelta(days=1), 12, tz=tz).utcoffset():
        day += timedelta(days=1)
    return day + timedelta(days=1)


def test_slots_across_a_dst_change_keep_the_local_time_and_change_offset(client, session):
    service = factories.service(session, horizon_days=400)
    factories.clinician(session, [service], weekdays=range(7), hours=[(time(9), time(9, 30))])
    session.commit()
    change = next_dst_change(LONDON)
    before, after = change - timedelta(days=1), change + timedelta(days=1)

    response = client.get(f"/api/v1/slots?service={service.id}&start={before}&end={after}&tz=Europe/London")

    starts = [s["start"] for s in response.get_json()["slots"]]
    assert starts == [at(day, 9).isoformat() for day in (before, change, after)]
    assert starts[0][-6:] != starts[2][-6:]
    assert {s[11:19] for s in starts} == {"09:00:00"}


def test_a_slot_window_longer_than_31_days_is_refused(client, clinic):
    start, end = clinic.day, clinic.day + timedelta(days=31)

    response = client.get(f"/api/v1/slots?service={clinic.service.id}&start={start}&end={end}&tz=UTC")

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "end" in response.get_json()["errors"]


def test_booking_answers_201_with_location_reference_and_manage_token(client, session, clinic):
    body = booking_body(clinic.service.id, wall(clinic.day, 10), clinician=clinic.first.id)

    response = client.post("/api/v1/bookings", json=body)

    booking = response.get_json()
    assert response.status_code == 201
    assert response.headers["Location"] == f"/api/v1/bookings/{booking['reference']}"
    assert booking["status"] == "booked"
    assert booking["start"] == at(clinic.day, 10).isoformat()
    assert booking["end"] == at(clinic.day, 10, 30).isoformat()
    assert booking["clinician"] == clinic.first.id
    assert booking["service"] == clinic.service.id
    assert booking["time_zone"] == "Europe/London"
    assert len(booking["manage_token"]) >= 43
    stored = session.scalar(select(Consultation))
    assert stored.reference == booking["reference"]
    assert stored.starts_at == at(clinic.day, 10).astimezone(UTC)


def test_a_bookings_answer_names_its_service_and_clinician_loading_neither_through_the_orm(
    client, session, clinic
):
    """The service's name and the department's phone in the answer are those the booking read with its
    locks (booking.Booked.service), the clinician's name one plain column; the waiting room's join link,
    none yet, needs neither."""
    body = booking_body(clinic.service.id, wall(clinic.day, 10), clinician=clinic.first.id)
    through_sqlalchemy = []

    def heard(_connection, _cursor, statement, *_rest) -> None:
        through_sqlalchemy.append(statement)

    with listening(session.get_bind(), "before_cursor_execute", heard):
        response = client.post("/api/v1/bookings", json=body)

    booking = response.get_json()
    assert response.status_code == 201
    assert (
        booking["service_name"],
        booking["contact_phone"],
        booking["clinician_name"],
        booking["join_url"],
    ) == (
        clinic.service.name,
        clinic.service.department.contact_phone,
        clinic.first.display_name,
        None,
    )
    assert [sql for sql in through_sqlalchemy if "SELECT" in sql.upper()] == []


def test_the_privacy_notice_gives_the_version_a_booking_agrees_to(app, client):
    app.config["PUBLIC_BASE_URL"] = "https://clinic.hospital.example"

    notice = client.get("/api/v1/privacy-notice").get_json()

    assert notice == {
        "version": Config.PRIVACY_NOTICE_VERSION,
        "url": "https://clinic.hospital.example/privacy",
    }


@pytest.mark.parametrize(
    "base_url", ["http://10.0.0.5:8000", "http://evil.example", "http://clinic.hospital.example"]
)
def test_the_privacy_notice_is_at_the_public_address_whatever_host_the_request_names(app, client, base_url):
    """Behind a proxy that sends its own Host (nginx's default, the app's inner address) or over its plain
    http hop, or to a forged Host, the notice's address was built from the request: apps showed patients a
    page they could not open, or someone else's. Links are built from PUBLIC_BASE_URL, as the mails' are."""
    app.config["PUBLIC_BASE_URL"] = "https://clinic.hospital.example/"

    notice = client.get("/api/v1/privacy-notice", base_url=base_url).get_json()

    assert notice["url"] == "https://clinic.hospital.example/privacy"


def test_a_booking_stores_and_audits_the_privacy_notice_version_agreed_to(client, session, clinic):
    body = booking_body(clinic.service.id, wall(clinic.day, 10))

    client.post("/api/v1/bookings", json=body)

    stored = session.scalar(select(Consultation))
    assert (stored.consent_notice_version, stored.consent_method) == (Config.PRIVACY_NOTICE_VERSION, "online")
    assert stored.consent_given_at is not None
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "consultation.booked"))
    assert event.details["privacy_notice"] == Config.PRIVACY_NOTICE_VERSION


@pytest.mark.parametrize(
    ("language", "accept_language", "kept"),
    [
        ("en-US", None, "en-US"),
        (None, "en-US,en;q=0.8", "en-US"),
        ("en-GB", "en-US", "en-GB"),
        (None, None, "en"),
    ],
)
def test_a_booking_keeps_the_patients_language_given_or_else_the_requests_for_the_clock_of_their_mails(
    client, session, clinic, language, accept_language, kept
):
    body = booking_body(clinic.service.id, wall(clinic.day, 10))
    if language:
        body["patient"]["language"] = language
    headers = {"Accept-Language": accept_language} if accept_language else {}

    response = client.post("/api/v1/bookings", json=body, headers=headers)

    assert response.status_code == 201, response.get_json()
    assert session.scalar(select(Consultation)).patient.language == kept


@pytest.mark.parametrize("language", ["english", "en_US", "", 12, "en-US\n", "x" * 17])
def test_a_language_that_is_no_tag_is_refused_beside_it_with_the_other_faults(
    client, session, clinic, language
):
    body = booking_body(clinic.service.id, wall(clinic.day, 10))
    body["patient"] = {**body["patient"], "language": language, "phone": "12"}

    response = client.post("/api/v1/bookings", json=body)

    errors = response.get_json()["errors"]
    assert response.status_code == 422
    assert errors["patient.language"] == "Give a language tag such as en-US, en-GB or fr."
    assert "patient.phone" in errors
    assert consultations(session) == 0


@pytest.mark.parametrize("consent", [True, {}, {"privacy_notice_version": "2020-01-01"}])
def test_a_booking_without_agreement_to_the_current_notice_is_refused(client, session, clinic, consent):
    body = booking_body(clinic.service.id, wall(clinic.day, 10), consent=consent)

    response = client.post("/api/v1/bookings", json=body)

    assert response.status_code == 422
    (field,) = response.get_json()["errors"]
    assert field.startswith("consent")
    assert session.scalar(select(func.count(Consultation.id))) == 0


def test_a_date_of_birth_is_checked_against_the_patients_own_today_as_the_booking_pages_do(
    client, session, clinic
):
    """A baby born today where the patient is: the API read "today" in UTC, so in Kiritimati (UTC+14) from
    10:00 UTC it refused today's date as "in the future", and in Pago Pago (UTC-11) until 11:00 UTC it took
    tomorrow's. Whichever of the two is a day off UTC now, its patient's today is theirs."""
    now = utcnow()
    name = "Pacific/Kiritimati" if now.hour >= 10 else "Pacific/Pago_Pago"
    today = now.astimezone(ZoneInfo(name)).date()
    assert today != now.date()  # the case this test is about

    def book(born: date, hour: int):
        body = booking_body(clinic.service.id, at(clinic.day, hour).isoformat(), time_zone=name)
        body["patient"] = {**body["patient"], "birth_date": born.isoformat()}
        return client.post("/api/v1/bookings", json=body)

    newborn, unborn = book(today, 10), book(today + timedelta(days=1), 11)

    assert newborn.status_code == 201, newborn.get_json()
    assert newborn.get_json()["start"] == at(clinic.day, 10).astimezone(ZoneInfo(name)).isoformat()
    assert unborn.status_code == 422
    assert unborn.get_json()["errors"] == {"patient.birth_date": "Date of birth must be in the past."}
    assert consultations(session) == 1


def test_a_start_with_an_offset_is_taken_as_that_instant(client, session, clinic):
    start = at(clinic.day, 10).astimezone(NEW_YORK).isoformat()
    body = booking_body(clinic.service.id, start, time_zone="America/New_York")

    booking = client.post("/api/v1/bookings", json=body).get_json()

    assert booking["start"] == start
    assert session.scalar(select(Consultation.starts_at)) == at(clinic.day, 10).astimezone(UTC)


def test_booking_without_a_clinician_takes_the_first_available(client, session, clinic):
    factories.booking(session, clinic.service, at(clinic.day, 10), now=utcnow(), clinician_id=clinic.first.id)
    body = booking_body(clinic.service.id, wall(clinic.day, 10))

    response = client.post("/api/v1/bookings", json=body)

    assert response.status_code == 201
    assert response.get_json()["clinician"] == clinic.second.id


def test_the_manage_token_reads_the_booking(client, booked):
    response = client.get(f"/api/v1/bookings/{booked['reference']}", headers=bearer(booked["manage_token"]))

    assert response.status_code == 200
    shown = response.get_json()
    assert "manage_token" not in shown
    assert {k: v for k, v in booked.items() if k != "manage_token"} == shown


def test_the_reference_is_read_in_any_case(client, booked):
    reference = booked["reference"].lower()

    response = client.get(f"/api/v1/bookings/{reference}", headers=bearer(booked["manage_token"]))

    assert response.status_code == 200


def test_cancelling_frees_the_time(client, session, clinic, booked):
    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/cancel",
        json={"reason": "Feeling better"},
        headers=bearer(booked["manage_token"]),
    )

    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert session.scalar(select(Consultation.status)) is ConsultationStatus.CANCELLED
    again = client.post("/api/v1/bookings", json=booking_body(clinic.service.id, wall(clinic.day, 10)))
    assert again.status_code == 201


def test_cancelling_needs_no_body(client, booked):
    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/cancel", headers=bearer(booked["manage_token"])
    )

    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"


def test_rescheduling_moves_the_booking(client, session, clinic, booked):
    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/reschedule",
        json={"start": wall(clinic.day, 14)},
        headers=bearer(booked["manage_token"]),
    )

    assert response.status_code == 200
    moved = response.get_json()
    assert moved["reference"] == booked["reference"]
    assert moved["start"] == at(clinic.day, 14).isoformat()
    assert session.scalar(select(Consultation.starts_at)) == at(clinic.day, 14).astimezone(UTC)


def test_rescheduling_to_the_bookings_own_time_is_a_409_that_says_so_and_changes_nothing(
    client, session, clinic, booked
):
    sequence, messages = session.scalar(select(Consultation.invite_sequence)), outbox_count(session)

    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/reschedule",
        json={"start": wall(clinic.day, 10)},
        headers=bearer(booked["manage_token"]),
    )

    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert (problem["code"], problem["field"]) == ("already_at_that_time", "start")
    assert problem["detail"].startswith("This is already the consultation's time")
    assert session.scalar(select(Consultation.invite_sequence)) == sequence
    assert outbox_count(session) == messages


def outbox_count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(OutboxMessage.id)))


def test_rescheduling_to_another_clinician(client, session, clinic, booked):
    start = at(clinic.day, 11).astimezone(NEW_YORK).isoformat()

    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/reschedule",
        json={"start": start, "clinician": clinic.second.id},
        headers=bearer(booked["manage_token"]),
    )

    assert response.status_code == 200
    assert response.get_json()["clinician"] == clinic.second.id
    assert response.get_json()["start"] == at(clinic.day, 11).isoformat()  # still shown in London time


@pytest.mark.parametrize("action, body", [("cancel", {}), ("reschedule", {"start": "2030-01-07T10:00:00Z"})])
def test_changes_after_the_cutoff_are_409_with_the_phone_to_call(client, session, action, body):
    service = factories.service(session, cancel_cutoff_minutes=60 * 24 * 60, horizon_days=400)
    factories.clinician(session, [service])
    service.department.contact_phone = "+44 20 7946 0999"
    session.commit()
    created = client.post("/api/v1/bookings", json=booking_body(service.id, wall(monday_after_next(), 10)))
    booked = created.get_json()

    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/{action}", json=body, headers=bearer(booked["manage_token"])
    )

    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "change_not_allowed"
    assert problem["contact_phone"] == "+44 20 7946 0999"
    assert problem["deadline"].endswith(("+00:00", "+01:00"))


@pytest.mark.parametrize("action, body", [("cancel", {}), ("reschedule", {"start": "2030-01-07T10:00:00Z"})])
@pytest.mark.parametrize("how", ["ended", "cancelled"])
def test_a_booking_over_or_cancelled_already_is_409_invalid_transition_as_documented(
    client, session, booked, action, body, how
):
    """An ended booking the worker had not yet marked a no-show answered `change_not_allowed` ("too late to
    change online"), where the document says a booking over already is `invalid_transition`."""
    consultation = session.scalars(select(Consultation)).one()
    if how == "ended":
        consultation.starts_at, consultation.ends_at = (
            utcnow() - timedelta(hours=1),
            utcnow() - timedelta(minutes=30),
        )
    else:
        consultation.status = ConsultationStatus.CANCELLED
    session.commit()
    status = consultation.status

    response = client.post(
        f"/api/v1/bookings/{booked['reference']}/{action}", json=body, headers=bearer(booked["manage_token"])
    )

    assert (response.status_code, response.get_json()["code"]) == (409, "invalid_transition")
    session.expire_all()
    assert session.get(Consultation, consultation.id).status is status


def test_the_reason_for_visit_is_never_echoed(client, clinic):
    reason = "Persistent cough since March"
    body = booking_body(clinic.service.id, wall(clinic.day, 10), reason=reason)
    day = clinic.day.isoformat()

    created = client.post("/api/v1/bookings", json=body)
    booking = created.get_json()
    auth = bearer(booking["manage_token"])
    path = f"/api/v1/bookings/{booking['reference']}"
    responses = [
        created,
        client.post("/api/v1/bookings", json=body),
        client.get(path, headers=auth),
        client.get("/api/v1/services"),
        client.get(f"/api/v1/slots?service={clinic.service.id}&start={day}&end={day}&tz=UTC"),
        client.post(f"{path}/reschedule", json={"start": wall(clinic.day, 15)}, headers=auth),
        client.post(f"{path}/cancel", json={}, headers=auth),
    ]

    assert created.status_code == 201
    for response in responses:
        assert reason not in response.get_data(as_text=True)


def _set(consultation: Consultation, how: str) -> None:
    """Put the API's booking, its meeting made, in the state `how` names."""
    consultation.meeting_join_url = "https://meet.example/the-room"
    if how != "early":
        consultation.starts_at, consultation.ends_at = utcnow(), utcnow() + timedelta(minutes=30)
    if how == "cancelled":
        consultation.status = ConsultationStatus.CANCELLED
    elif how == "finished":
        consultation.status = ConsultationStatus.FULFILLED
    elif how == "over":
        consultation.starts_at = utcnow() - timedelta(hours=2)
        consultation.ends_at = utcnow() - timedelta(hours=1)


@pytest.mark.parametrize(
    "how, shown",
    [("open", True), ("early", False), ("cancelled", False), ("finished", False), ("over", False)],
)
def test_the_call_link_is_given_only_while_the_patient_may_join_as_their_waiting_room_offers_it(
    client, session, booked, how, shown
):
    """A cancelled or finished booking handed out its room's address to anyone holding the manage token:
    the API now gives the link exactly when the patient's own page offers "Join" (the room is open)."""
    consultation = session.scalars(select(Consultation)).one()
    _set(consultation, how)
    session.commit()

    response = client.get(f"/api/v1/bookings/{booked['reference']}", headers=bearer(booked["manage_token"]))

    assert response.status_code == 200
    assert response.get_json()["join_url"] == ("https://meet.example/the-room" if shown else None)


@pytest.mark.parametrize("status", list(ConsultationStatus))
def test_a_booking_says_until_when_it_is_changeable_online_only_while_it_is(client, session, booked, status):
    """A cancelled booking, or one checked in, under way or over, said "changeable_until" its cut-off, still
    ahead: an app offered a change that every try refused (409). Now it is null once no change is possible
    online, as the patient's own page offers none."""
    consultation = session.scalars(select(Consultation)).one()
    consultation.status = status
    session.commit()

    response = client.get(f"/api/v1/bookings/{booked['reference']}", headers=bearer(booked["manage_token"]))

    assert response.status_code == 200
    if status is ConsultationStatus.BOOKED:
        cutoff = consultation.starts_at - timedelta(minutes=consultation.service.cancel_cutoff_minutes)
        assert datetime.fromisoformat(response.get_json()["changeable_until"]) == cutoff
    else:
        assert response.get_json()["changeable_until"] is None


def test_the_answers_to_moving_and_cancelling_follow_the_same_rule(client, session, clinic, booked):
    consultation = session.scalars(select(Consultation)).one()
    _set(consultation, "early")
    session.commit()
    path, auth = f"/api/v1/bookings/{booked['reference']}", bearer(booked["manage_token"])

    moved = client.post(f"{path}/reschedule", json={"start": wall(clinic.day, 15)}, headers=auth)
    cancelled = client.post(f"{path}/cancel", json={}, headers=auth)

    assert (moved.status_code, cancelled.status_code) == (200, 200)
    assert moved.get_json()["join_url"] is None and cancelled.get_json()["join_url"] is None


def test_the_api_books_for_patients_so_a_time_inside_the_notice_stays_refused(client, session):
    """Staff may book inside a service's minimum notice (on the phone, at the desk); the API books for
    patients themselves, so it keeps the notice."""
    service = factories.service(session, min_notice_minutes=120)
    factories.clinician(session, [service], weekdays=range(7), hours=[(time(0), time(0))])  # all day
    session.commit()
    start = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=5)
    start += timedelta(minutes=-start.minute % 30)

    response = client.post("/api/v1/bookings", json=booking_body(service.id, start.isoformat()))

    assert response.status_code in (409, 422), response.get_json()
    assert consultations(session) == 0


@pytest.mark.parametrize("cutoff_minutes", [0, 5])
def test_a_patient_who_has_checked_in_cannot_cancel_through_the_api_as_on_their_page(
    client, session, cutoff_minutes
):
    """With a short cut-off, a patient waiting for their call (checked in) cancelled it through the API,
    where their manage page refuses: online changes end once anyone has acted on the booking."""
    service = factories.service(session, cancel_cutoff_minutes=cutoff_minutes)
    person = factories.clinician(session, [service])
    now = utcnow()
    consultation = factories.consultation(
        session,
        service,
        person,
        now + timedelta(minutes=10),
        status=ConsultationStatus.ARRIVED,
        arrived_at=now,
    )
    token = manage_token(TEST_KEYS, consultation)

    response = client.post(f"/api/v1/bookings/{consultation.reference}/cancel", headers=bearer(token))

    assert (response.status_code, response.get_json()["code"]) == (409, "invalid_transition")
    session.expire_all()
    assert session.get(Consultation, consultation.id).status is ConsultationStatus.ARRIVED
    assert not session.scalar(select(func.count()).select_from(OutboxMessage))


def test_joining_through_the_api_checks_the_patient_in_as_their_pages_join_button_does(client, session):
    """The API gave the call's raw link only: a patient who joined from an app was never checked in, so their
    clinician's schedule did not show them waiting (and a booking left 'booked' is marked a no-show)."""
    service = factories.service(session)
    person = factories.clinician(session, [service])
    consultation = factories.consultation(session, service, person, utcnow() + timedelta(minutes=5))
    token = manage_token(TEST_KEYS, consultation)

    response = client.post(f"/api/v1/bookings/{consultation.reference}/join", headers=bearer(token))

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "arrived"
    assert response.get_json()["join_url"] == consultation.meeting_join_url
    session.expire_all()
    assert session.get(Consultation, consultation.id).status is ConsultationStatus.ARRIVED
    assert "consultation.arrived" in session.scalars(select(AuditEvent.action)).all()


@pytest.mark.parametrize("starts_in", [timedelta(hours=3), -timedelta(hours=3)])
def test_joining_through_the_api_outside_the_rooms_hours_is_409_room_closed(client, session, starts_in):
    service = factories.service(session)
    person = factories.clinician(session, [service])
    consultation = factories.consultation(session, service, person, utcnow() + starts_in)
    token = manage_token(TEST_KEYS, consultation)

    response = client.post(f"/api/v1/bookings/{consultation.reference}/join", headers=bearer(token))

    assert (response.status_code, response.get_json()["code"]) == (409, "room_closed")
    session.expire_all()
    assert session.get(Consultation, consultation.id).status is ConsultationStatus.BOOKED
