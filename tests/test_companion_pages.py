"""A companion's link opens their own waiting room and nothing else; companions invited at booking, on
the booking pages and through the API."""

# ruff: noqa: F811 - the fixtures imported below are the tests' parameters

from datetime import timedelta

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.models import Companion, ConsultationStatus, OutboxKind, OutboxMessage, utcnow
from clinic.scheduling.lifecycle import cancel
from clinic.scheduling.tokens import companion_link

from . import factories
from .conftest import TEST_KEYS
from .test_api import booking_body, clinic, wall  # noqa: F401 (fixture)
from .test_booking_pages import booking_form, next_week_at, text
from .test_manage_link import asked_for_its_link, follow, open_link, reloaded
from .test_waiting_room_pages import MEETING, service, starting_in  # noqa: F401 (fixture)

GUEST = {"name": "Grace Hopper", "email": "grace@example.net", "role": "interpreter"}


def with_companion(session, service, wait: timedelta, **fields):
    """A booking starting `wait` from the real clock, its patient Maria inviting an interpreter; and the
    path of the interpreter's link."""
    companion = factories.companion_details(name="Grace Hopper", email="grace@example.net")
    booked = starting_in(session, service, wait, companion=companion, **fields)
    patient = booked.consultation.patient
    patient.name, patient.email = "Maria Santos Ferreira", "maria@example.org"
    session.commit()
    link = companion_link(booked.consultation.companion, base_url="http://localhost", keys=TEST_KEYS)
    return booked, link.removeprefix("http://localhost")


def test_the_companions_link_opens_their_room_with_the_first_name_only_and_no_way_to_manage(
    client, session, service
):
    booked, link = with_companion(session, service, timedelta(days=1), reason="Worsening kidney function")
    reference = booked.consultation.reference

    landing = follow(client, link)
    page = text(client.get(landing.location))

    assert landing.status_code == 303 and landing.location == f"/g/{reference}"
    assert "You are invited to join Maria's video consultation" in page and "as their interpreter" in page
    assert "Starts in" in page and "Check your camera and microphone" in page
    for private in ("Ferreira", "maria@example.org", "kidney", "Diabetes review", "Dr Ines Duarte"):
        assert private not in page
    for managing in (f"/c/{reference}", "check-in", "Cancel", "Choose another time", "I'm here"):
        assert managing not in page


def test_inside_the_window_the_companion_joins_the_call_but_does_not_check_in(client, session, service):
    booked, link = with_companion(session, service, timedelta(minutes=10))
    follow(client, link)

    page = text(client.get(f"/g/{booked.consultation.reference}"))
    joined = client.get(f"/g/{booked.consultation.reference}/join")

    assert f'href="/g/{booked.consultation.reference}/join"' in page
    assert joined.status_code == 303 and joined.location == MEETING
    assert reloaded(session, booked).status is ConsultationStatus.BOOKED


def test_before_the_window_and_after_the_grace_period_the_companion_cannot_join(client, session, service):
    early, early_link = with_companion(session, service, timedelta(hours=2))
    late, late_link = with_companion(session, service, -timedelta(hours=2))
    follow(client, early_link)
    follow(client, late_link)

    too_early = client.get(f"/g/{early.consultation.reference}/join")
    too_late = client.get(f"/g/{late.consultation.reference}/join")

    assert too_early.status_code == too_late.status_code == 409
    assert "It is not time yet" in text(too_early) and "This consultation is over" in text(too_late)


def test_a_companion_token_never_opens_the_patients_pages(client, session, service):
    booked, link = with_companion(session, service, timedelta(minutes=10))
    reference = booked.consultation.reference
    companion_token = link.split("#t=", 1)[1]
    follow(client, link)

    responses = [
        client.get(f"/c/{reference}", query_string={"t": companion_token}),
        client.post(f"/c/{reference}", data={"code": companion_token}),
        client.post(f"/c/{reference}/check-in"),
        client.get(f"/c/{reference}/join"),
        client.post(f"/c/{reference}/cancel", data={"reason": ""}),
    ]

    assert [r.status_code for r in responses[:2]] == [404] * 2
    assert all(asked_for_its_link(r, reference) for r in responses[2:])
    assert reloaded(session, booked).status is ConsultationStatus.BOOKED


def test_a_manage_token_never_opens_the_companions_room(client, session, service):
    booked, _ = with_companion(session, service, timedelta(minutes=10))
    reference = booked.consultation.reference
    open_link(client, booked)

    responses = [
        client.get(f"/g/{reference}", query_string={"t": booked.manage_token}),
        client.post(f"/g/{reference}", data={"code": booked.manage_token}),
    ]
    joined = client.get(f"/g/{reference}/join")

    assert [r.status_code for r in responses] == [404] * 2
    # Led to the invitation's page, which asks for its link, showing nothing of it.
    assert (joined.status_code, joined.location) == (303, f"/g/{reference}")
    assert "Open your invitation" in text(client.get(joined.location))


def test_the_patients_room_names_who_else_is_invited(client, session, service):
    booked, _ = with_companion(session, service, timedelta(days=1))
    open_link(client, booked)

    page = text(client.get(f"/c/{booked.consultation.reference}"))

    assert "Also invited: Grace Hopper (interpreter)" in page


def test_the_booking_pages_invite_someone_to_join(client, session, service):
    companion = {
        "companion_name": "Grace Hopper",
        "companion_email": "grace@example.net",
        "companion_role": "carer",
    }
    form = booking_form(service, next_week_at(10), **companion)

    review = client.post("/book/details", data=form)
    done = client.post("/book/confirm", data=form)

    assert review.status_code == 200 and "Joining you" in text(review) and "Carer" in text(review)
    assert 'name="companion_email" value="grace@example.net"' in text(review)
    assert done.status_code == 303
    assert "We will also e-mail Grace Hopper" in text(client.get(done.location))
    stored = session.scalar(select(Companion))
    assert (stored.name, stored.email, stored.role.value) == ("Grace Hopper", "grace@example.net", "carer")
    mails = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.CONFIRMATION)).all()
    assert sorted(m.audience for m in mails) == ["clinician", "companion", "patient"]


def test_half_filled_companion_details_are_explained_beside_their_fields_and_book_nothing(
    client, session, service
):
    form = booking_form(service, next_week_at(10), companion_name="Grace Hopper", companion_email="grace@")

    response = client.post("/book/confirm", data=form)

    page = text(response)
    assert response.status_code == 422
    assert 'id="companion_email-error"' in page and "Enter an e-mail address like" in page
    assert 'id="companion_role-error"' in page and "Choose interpreter, relative or carer." in page
    assert session.scalar(select(Companion)) is None


def test_the_api_books_with_a_companion_and_shows_them_to_the_patient(client, session, clinic):
    body = booking_body(clinic.service.id, wall(clinic.day, 10), companion=GUEST)

    booking = client.post("/api/v1/bookings", json=body).get_json()

    assert booking["companion"] == {"name": "Grace Hopper", "role": "interpreter"}
    stored = session.scalar(select(Companion))
    assert stored.email == "grace@example.net" and stored.consultation.reference == booking["reference"]


@pytest.mark.parametrize(
    ("companion", "errors"),
    [
        (
            {"name": "", "email": "grace@", "role": "friend"},
            {"companion.name", "companion.email", "companion.role"},
        ),
        ("Grace", {"companion"}),
    ],
)
def test_the_api_refuses_a_bad_companion_naming_each_field(client, session, clinic, companion, errors):
    body = booking_body(clinic.service.id, wall(clinic.day, 10), companion=companion)

    response = client.post("/api/v1/bookings", json=body)

    assert response.status_code == 422 and set(response.get_json()["errors"]) == errors
    assert session.scalar(select(Companion)) is None


def test_the_companions_countdown_asks_its_own_rooms_status_with_their_own_link_only(
    client, app, session, service
):
    """Their page counts down too: a move or a cancellation must show there, with nothing of the booking
    more than their page shows, and the patient's pass opens no companion's status."""
    booked, link = with_companion(session, service, timedelta(days=1))
    reference = booked.consultation.reference
    patient_only = app.test_client()
    open_link(patient_only, booked)
    follow(client, link)

    page = text(client.get(f"/g/{reference}"))
    cancel(session, booked.consultation.id, now=utcnow(), actor=Actor.staff(1), enforce_cutoff=False)
    status = client.get(f"/g/{reference}/status")

    assert f'data-poll="/g/{reference}/status"' in page
    assert status.get_json() == {"phase": "cancelled", "starts_at": booked.consultation.starts_at.isoformat()}
    assert patient_only.get(f"/g/{reference}/status").status_code == 404
