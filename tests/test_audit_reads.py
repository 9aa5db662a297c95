# ruff: noqa: F811 - the fixtures imported below are the tests' parameters
"""Reads of patient data are audit events: the manage page, the API's booking and the staff consultation
page each record who read which consultation, with ids only, and the consultation's history stays a list
of its changes."""

from sqlalchemy import select

from clinic import audit
from clinic.links import manage_url
from clinic.models import AuditEvent, StaffRole
from clinic.scheduling.tokens import companion_link

from . import factories
from .conftest import TEST_KEYS
from .test_booking_pages import next_week_at
from .test_manage_link import book, follow, open_link, service  # noqa: F401 (service: a fixture)
from .test_schedule import clinic, login, text, today_at, visit  # noqa: F401 (clinic: a fixture)


def reads(session) -> list[AuditEvent]:
    session.rollback()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "consultation.viewed")))


def test_opening_the_booking_page_is_recorded_as_the_patients_read(client, session, service):
    booked = book(session, service, next_week_at(10))
    open_link(client, booked)  # the token, posted; then the page itself

    assert client.get(f"/c/{booked.consultation.reference}").status_code == 200
    [read] = reads(session)
    assert (read.actor, read.entity_id) == ("patient", str(booked.consultation.id))
    assert read.details == {
        "reference": booked.consultation.reference,
        "clinician_id": booked.consultation.clinician_id,
        "view": "manage page",
    }


def test_a_wrong_link_reads_nothing_and_records_nothing(client, session, service):
    booked = book(session, service, next_week_at(10))
    wrong = manage_url("http://localhost", booked.consultation.reference, "not-the-token")

    client.post(f"/c/{booked.consultation.reference}", data={"code": wrong})

    assert reads(session) == []


def test_the_apis_booking_is_recorded_as_a_read(client, session, service):
    booked = book(session, service, next_week_at(10))

    response = client.get(
        f"/api/v1/bookings/{booked.consultation.reference}",
        headers={"Authorization": f"Bearer {booked.manage_token}"},
    )

    assert response.status_code == 200
    [read] = reads(session)
    assert read.details["view"] == "api booking" and read.entity_id == str(booked.consultation.id)


def test_staff_reading_a_consultation_is_recorded_and_left_out_of_its_history(client, session, clinic):
    consultation = visit(session, clinic, "okafor", today_at(10, days=1), "Maria Visser")
    user = login(session, client, role=StaffRole.CLINICIAN, clinician_id=clinic["okafor"].id)

    client.get(f"/schedule/consultations/{consultation.id}")
    page = text(client.get(f"/schedule/consultations/{consultation.id}"))

    assert [(r.actor, r.details["view"]) for r in reads(session)] == [
        (f"staff:{user.id}", "staff consultation page")
    ] * 2
    assert "viewed" not in page  # the history lists what changed, not who looked


def test_every_staff_page_showing_a_patients_details_records_its_read(client, session, clinic):
    """The letter (with the patient's name and link) and the move page were not recorded before."""
    consultation = visit(session, clinic, "okafor", today_at(10, days=1), "Maria Visser")
    user = login(session, client, role=StaffRole.RECEPTION, department_id=clinic["cardiology"].id)
    pages = {"": "staff consultation page", "/letter": "staff letter", "/move": "staff move page"}

    for path in pages:
        assert client.get(f"/schedule/consultations/{consultation.id}{path}").status_code == 200

    assert [(r.actor, r.entity_id, r.details["view"]) for r in reads(session)] == [
        (f"staff:{user.id}", str(consultation.id), view) for view in pages.values()
    ]


def test_a_page_refused_to_someone_else_records_no_read(client, session, clinic):
    consultation = visit(session, clinic, "okafor", today_at(10, days=1), "Maria Visser")
    login(session, client, role=StaffRole.CLINICIAN, clinician_id=clinic["raman"].id)

    assert client.get(f"/schedule/consultations/{consultation.id}").status_code == 404
    assert reads(session) == []


def test_reads_chain_like_every_other_event(client, session, service):
    booked = book(session, service, next_week_at(10))
    open_link(client, booked)
    client.get(f"/c/{booked.consultation.reference}")
    factories.staff(session)  # an event after the read
    session.commit()

    assert isinstance(audit.verify(session), audit.Verified)


def test_a_companion_opening_their_waiting_room_is_recorded_as_their_read(client, session, service):
    """Their room shows the patient's first name and the time: a third party reading the patient's data."""
    companion = factories.companion_details(name="Grace Hopper", email="grace@example.net")
    booked = book(session, service, next_week_at(10), companion=companion)
    invited = booked.consultation.companion
    link = companion_link(invited, base_url="http://localhost", keys=TEST_KEYS)
    reference = booked.consultation.reference
    follow(client, link)

    assert client.get(f"/g/{reference}").status_code == 200
    assert client.get(f"/g/{reference}/status").status_code == 200  # a poll soon after: covered by the page

    [read] = reads(session)
    assert (read.actor, read.entity_id) == ("companion", str(booked.consultation.id))
    assert read.details == {
        "reference": reference,
        "clinician_id": booked.consultation.clinician_id,
        "view": "companion room",
        "companion_id": invited.id,
    }
