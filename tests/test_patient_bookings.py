"""Who a booking belongs to: nobody's record is rewritten by someone else's booking, a patient holds one
consultation at a time, and one e-mail address holds a bounded number of future bookings."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import uuid
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from clinic.audit import Actor
from clinic.models import AuditEvent, Consultation, OutboxKind, OutboxMessage, Patient
from clinic.scheduling.booking import BookingRequest, book
from clinic.scheduling.errors import AlreadyBooked, SlotTaken, TooManyBookings
from clinic.scheduling.holders import resend_booking_link
from clinic.scheduling.lifecycle import cancel, reschedule

from . import factories
from .conftest import TEST_KEYS
from .fakes.outbox import outbox, text  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .test_api import booking_body
from .test_booking_pages import booking_form, next_week_at
from .test_booking_pages import text as page_text
from .test_double_booking import MONDAY_10, race, race_engine

ADA = factories.patient_details(name="Ada Lovelace", email="ada@example.org", birth_date=date(1980, 12, 10))


@pytest.fixture
def clinic(session):
    """One 30-minute service with three clinicians, in a department with a phone number."""
    department = factories.department(session)
    service = factories.service(session, department, duration_minutes=30, slot_interval_minutes=15)
    doctors = [factories.clinician(session, [service]) for _ in range(3)]
    session.commit()
    return service, doctors


def rows(session, table) -> list[dict]:
    """Every column of every row of `table`, as stored."""
    session.rollback()
    return [dict(row._mapping) for row in session.execute(select(table).order_by(table.c.id))]


def consultations_of(session, email: str) -> int:
    session.rollback()
    return session.scalar(
        select(func.count())
        .select_from(Consultation)
        .join(Patient)
        .where(func.lower(Patient.email) == email.lower(), Consultation.status == "booked")
    )


def request_for(service, start, patient=ADA, clinician=None, **fields) -> BookingRequest:
    return BookingRequest(service.id, start, patient, clinician_id=clinician and clinician.id, **fields)


@pytest.mark.parametrize("actor", [Actor("patient"), Actor.staff(1)], ids=["patient", "staff"])
def test_booking_with_someone_elses_email_and_birth_date_changes_nothing_of_theirs(
    session, clinic, now, actor
):
    service, (doctor, *_) = clinic
    factories.booking(session, service, MONDAY_10, now=now, clinician_id=doctor.id, patient=ADA)
    factories.booking(session, service, MONDAY_10 + timedelta(days=1), now=now, patient=ADA)
    patients_before = rows(session, Patient.__table__)
    consultations_before = rows(session, Consultation.__table__)
    stranger = factories.patient_details(
        name="Not Ada",
        email="ADA@Example.org",
        birth_date=ADA.birth_date,
        phone="+1 555 0100",
        time_zone="America/New_York",
        language="fr",
    )

    booked = book(
        session,
        request_for(service, MONDAY_10 + timedelta(days=2), stranger),
        now=now,
        keys=TEST_KEYS,
        actor=actor,
    )

    assert rows(session, Patient.__table__)[: len(patients_before)] == patients_before
    assert rows(session, Consultation.__table__)[: len(consultations_before)] == consultations_before
    patient = session.get(Consultation, booked.consultation.id).patient
    assert patient.id not in {row["id"] for row in patients_before}
    assert (patient.name, patient.email, patient.phone, patient.time_zone, patient.language) == (
        "Not Ada",
        "ADA@Example.org",
        "+1 555 0100",
        "America/New_York",
        "fr",
    )


def test_a_patient_cannot_hold_two_consultations_that_overlap(session, clinic, now):
    service, (first, second, _) = clinic
    longer = factories.service(session, service.department, duration_minutes=60, slot_interval_minutes=15)
    second.services.append(longer)
    session.commit()
    factories.booking(session, service, MONDAY_10, now=now, clinician_id=first.id, patient=ADA)
    same_person = factories.patient_details(email="Ada@EXAMPLE.org", birth_date=ADA.birth_date)

    for request in (
        request_for(service, MONDAY_10, same_person),  # first available: the second clinician is free
        request_for(service, MONDAY_10 + timedelta(minutes=15), same_person, second),
        request_for(longer, MONDAY_10 - timedelta(minutes=45), same_person, second),
    ):
        with pytest.raises(AlreadyBooked) as refused:
            book(session, request, now=now, keys=TEST_KEYS, actor=Actor())
        assert "already a booking with this e-mail address and date of birth" in str(refused.value)

    assert consultations_of(session, ADA.email) == 1


def test_addresses_match_in_any_case_beyond_ascii(session, clinic, now):
    service, (first, second, _) = clinic
    zoe = factories.patient_details(email="ZOÉ.ÉLISE@example.org", birth_date=date(1990, 2, 3))
    factories.booking(session, service, MONDAY_10, now=now, clinician_id=first.id, patient=zoe)

    with pytest.raises(AlreadyBooked):
        factories.booking(
            session,
            service,
            MONDAY_10,
            now=now,
            clinician_id=second.id,
            patient=replace(zoe, email="zoé.élise@example.org"),
        )


def test_back_to_back_bookings_and_other_people_with_the_same_email_may_book(session, clinic, now):
    service, (first, second, _) = clinic
    factories.booking(session, service, MONDAY_10, now=now, clinician_id=first.id, patient=ADA)

    factories.booking(session, service, MONDAY_10 + timedelta(minutes=30), now=now, patient=ADA)
    child = factories.patient_details(email=ADA.email, birth_date=date(2015, 5, 1))
    factories.booking(session, service, MONDAY_10, now=now, clinician_id=second.id, patient=child)

    assert consultations_of(session, ADA.email) == 3


def test_a_cancelled_consultation_does_not_stand_in_the_way(session, clinic, now):
    service, (first, second, _) = clinic
    booked = factories.booking(session, service, MONDAY_10, now=now, clinician_id=first.id, patient=ADA)
    cancel(session, booked.consultation.id, now=now, actor=Actor())

    factories.booking(session, service, MONDAY_10, now=now, clinician_id=second.id, patient=ADA)

    assert consultations_of(session, ADA.email) == 1


def test_a_booking_cannot_be_moved_onto_another_of_the_patients_consultations(session, clinic, now):
    service, (first, second, _) = clinic
    held = factories.booking(session, service, MONDAY_10, now=now, clinician_id=first.id, patient=ADA)
    later = MONDAY_10 + timedelta(hours=1)
    moving = factories.booking(session, service, later, now=now, clinician_id=second.id, patient=ADA)

    with pytest.raises(AlreadyBooked):
        reschedule(session, moving.consultation.id, MONDAY_10 + timedelta(minutes=15), now=now, actor=Actor())
    reschedule(session, held.consultation.id, MONDAY_10 + timedelta(minutes=15), now=now, actor=Actor())

    session.rollback()
    assert session.get(Consultation, moving.consultation.id).starts_at == later


def test_a_replayed_request_returns_its_booking_rather_than_refusing_it(session, clinic, now):
    service, _ = clinic
    first = factories.booking(session, service, MONDAY_10, now=now, key="key-1", patient=ADA)

    again = factories.booking(session, service, MONDAY_10, now=now, key="key-1", patient=ADA)

    assert again.replayed and again.consultation.id == first.consultation.id


def test_racers_for_one_patient_at_one_time_with_different_clinicians_get_one_consultation(
    session, database_url, now
):
    service = factories.service(session)
    doctors = [factories.clinician(session, [service]) for _ in range(10)]
    session.commit()
    requests = [request_for(service, MONDAY_10, ADA, doctor) for doctor in doctors for _ in range(2)]

    engine = race_engine(database_url)
    outcomes = race(engine, requests, now)
    engine.dispose()

    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(o, AlreadyBooked | SlotTaken) for o in refused), refused
    assert sum(isinstance(o, AlreadyBooked) for o in refused) >= len(doctors) - 1
    assert consultations_of(session, ADA.email) == 1


def test_one_email_address_holds_at_most_the_cap_of_future_bookings(session, clinic, now):
    service, _ = clinic
    family = [factories.patient_details(email=ADA.email, birth_date=date(1950 + i, 1, 1)) for i in range(5)]
    starts = [MONDAY_10 + timedelta(days=i) for i in range(5)]
    for patient, start in zip(family[:3], starts, strict=False):
        book(
            session,
            request_for(service, start, patient),
            now=now,
            keys=TEST_KEYS,
            actor=Actor(),
            max_per_email=3,
        )

    with pytest.raises(TooManyBookings) as refused:
        book(
            session,
            request_for(service, starts[3], family[3]),
            now=now,
            keys=TEST_KEYS,
            actor=Actor(),
            max_per_email=3,
        )

    assert refused.value.contact_phone == "+44 20 7946 0000"
    assert "3" in str(refused.value)
    assert consultations_of(session, ADA.email) == 3


def test_cancelled_and_past_bookings_do_not_count_towards_the_cap(session, clinic, now):
    service, (doctor, *_) = clinic
    factories.consultation(session, service, doctor, now - timedelta(days=3), patient=ADA)
    booked = factories.booking(session, service, MONDAY_10, now=now, patient=ADA)
    cancel(session, booked.consultation.id, now=now, actor=Actor())

    again = book(
        session, request_for(service, MONDAY_10), now=now, keys=TEST_KEYS, actor=Actor(), max_per_email=1
    )

    assert again.consultation.starts_at == MONDAY_10


def test_without_a_cap_staff_may_book_more(session, clinic, now):
    service, _ = clinic
    for day in range(4):
        book(
            session,
            request_for(service, MONDAY_10 + timedelta(days=day)),
            now=now,
            keys=TEST_KEYS,
            actor=Actor.staff(1),
        )

    assert consultations_of(session, ADA.email) == 4


def test_racing_bookings_for_one_email_never_exceed_the_cap(session, database_url, now):
    service = factories.service(session)
    doctors = [factories.clinician(session, [service]) for _ in range(4)]
    session.commit()
    requests = [
        request_for(
            service,
            MONDAY_10 + timedelta(days=i % 3, minutes=30 * (i // 3)),
            factories.patient_details(email=ADA.email.upper(), birth_date=date(1940 + i, 1, 1)),
            doctors[i % 4],
        )
        for i in range(12)
    ]

    engine = race_engine(database_url)
    outcomes = race(engine, requests, now, max_per_email=3)
    engine.dispose()

    assert sum(not isinstance(o, Exception) for o in outcomes) == 3
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(o, TooManyBookings) for o in refused), refused
    assert consultations_of(session, ADA.email) == 3


def link_mails(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).where(OutboxMessage.kind == OutboxKind.LINK))


def test_the_booking_link_is_resent_by_mail_at_most_once_in_a_while(
    session, clinic, now, outbox, smtp_server
):
    service, _ = clinic
    booked = factories.booking(session, service, MONDAY_10, now=now, patient=ADA)
    outbox.drain()
    asked = (service.id, ADA, MONDAY_10 + timedelta(minutes=15))

    for minutes in (0, 1, 5):
        resend_booking_link(session, *asked, now=now + timedelta(minutes=minutes), actor=Actor())
    outbox.drain()

    _confirmation, resent = smtp_server.inbox(ADA.email)  # exactly one more mail than the booking sent
    assert "link to your video consultation" in resent["Subject"]
    assert booked.manage_token in text(resent) and booked.consultation.reference in text(resent)
    assert resent.get_body(("calendar",)) is None
    resend_booking_link(session, *asked, now=now + timedelta(minutes=16), actor=Actor("patient", "192.0.2.7"))
    assert link_mails(session) == 2
    resent_events = select(AuditEvent.actor).where(AuditEvent.action == "consultation.link_resent")
    assert session.scalars(resent_events).all() == ["patient", "patient"]


def test_asking_to_resend_a_link_for_no_booking_sends_nothing(session, clinic, now):
    service, _ = clinic
    factories.booking(session, service, MONDAY_10, now=now, patient=ADA)
    stranger = factories.patient_details(email=ADA.email, birth_date=date(1999, 9, 9))

    resend_booking_link(session, service.id, stranger, MONDAY_10, now=now, actor=Actor())
    resend_booking_link(session, service.id, ADA, MONDAY_10 + timedelta(hours=2), now=now, actor=Actor())

    assert link_mails(session) == 0


def test_no_link_is_resent_for_a_cancelled_booking(session, clinic, now):
    service, _ = clinic
    booked = factories.booking(session, service, MONDAY_10, now=now, patient=ADA)
    cancel(session, booked.consultation.id, now=now, actor=Actor())

    resend_booking_link(session, service.id, ADA, MONDAY_10, now=now, actor=Actor())

    assert link_mails(session) == 0


def confirm(client, service, start, **fields):
    form = booking_form(service, start, **{"idempotency_key": f"key-{uuid.uuid4()}", **fields})
    return client.post("/book/confirm", data=form)


def test_the_same_booking_sent_from_another_browser_says_it_is_booked_and_shows_no_link(
    app, client, session, clinic
):
    """A browser that does not hold the booking's pass is told nothing of it beyond that it exists (the
    browser that made it is shown its own: test_booking_pages)."""
    service, _ = clinic
    start = next_week_at(11)
    first = confirm(client, service, start)

    again = confirm(app.test_client(), service, start)  # the same details, with a fresh idempotency key

    assert first.status_code == 303
    assert again.status_code == 409
    page = page_text(again)
    assert "You already have a booking at that time" in page
    booked = session.scalars(select(Consultation)).one()
    assert booked.reference not in page and "/c/" not in page
    assert 'action="/book/resend-link"' in page
    assert consultations_of(session, "ada@example.org") == 1


def test_asking_the_page_to_resend_the_link_answers_the_same_whether_or_not_a_booking_exists(
    client, session, clinic
):
    service, _ = clinic
    start = next_week_at(11)
    confirm(client, service, start)
    held = booking_form(service, start)
    nobody = booking_form(service, start, birth_date="1999-09-09")

    answers = [client.post("/book/resend-link", data=form) for form in (held, held, nobody)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({page_text(a) for a in answers}) == 1
    assert "If you have a booking at that time" in page_text(answers[0])
    assert "+44 20 7946 0000" in page_text(answers[0])
    assert link_mails(session) == 1


def test_the_booking_page_refuses_more_future_bookings_per_address_than_the_setting_allows(
    app, client, session, clinic
):
    service, _ = clinic
    app.config["MAX_ACTIVE_BOOKINGS_PER_EMAIL"] = 2
    for hour, born in ((10, "1950-01-01"), (11, "1960-01-01")):
        assert confirm(client, service, next_week_at(hour), birth_date=born).status_code == 303

    refused = confirm(client, service, next_week_at(14), birth_date="1970-01-01")

    assert refused.status_code == 409
    assert "as many bookings as we take online" in page_text(refused)
    assert "already has 2 upcoming bookings" in page_text(refused)
    assert "+44 20 7946 0000" in page_text(refused)
    assert consultations_of(session, "ada@example.org") == 2


def api_body(service, start, **patient):
    body = booking_body(service.id, start.isoformat())
    return {**body, "patient": {**body["patient"], **patient}}


def test_the_api_answers_409_already_booked_for_an_overlapping_booking(client, session, clinic):
    service, _ = clinic
    start = next_week_at(11)
    assert client.post("/api/v1/bookings", json=api_body(service, start)).status_code == 201

    response = client.post("/api/v1/bookings", json=api_body(service, start, email="ADA@example.org"))

    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "already_booked"
    assert consultations_of(session, "ada@example.org") == 1


def test_the_api_refuses_to_move_a_booking_onto_another_of_the_patients_with_409(client, session, clinic):
    service, (_, free, _) = clinic
    assert client.post("/api/v1/bookings", json=api_body(service, next_week_at(10))).status_code == 201
    later = client.post("/api/v1/bookings", json=api_body(service, next_week_at(11))).get_json()

    response = client.post(
        f"/api/v1/bookings/{later['reference']}/reschedule",
        json={"start": next_week_at(10, 15).isoformat(), "clinician": free.id},
        headers={"Authorization": f"Bearer {later['manage_token']}"},
    )

    assert response.status_code == 409
    assert response.get_json()["code"] == "already_booked"


def test_the_api_answers_409_too_many_bookings_past_the_cap(app, client, session, clinic):
    service, _ = clinic
    app.config["MAX_ACTIVE_BOOKINGS_PER_EMAIL"] = 1
    assert client.post("/api/v1/bookings", json=api_body(service, next_week_at(10))).status_code == 201

    response = client.post(
        "/api/v1/bookings", json=api_body(service, next_week_at(15), birth_date="1950-01-01")
    )

    problem = response.get_json()
    assert response.status_code == 409
    assert (problem["code"], problem["contact_phone"]) == ("too_many_bookings", "+44 20 7946 0000")
