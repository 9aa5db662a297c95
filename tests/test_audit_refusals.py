# ruff: noqa: F811 - the fixtures imported below are the tests' parameters
"""A signed-in staff member refused a page or an API call about a record (403, or the 404 that hides another
department's consultation) leaves an audit event: who, which route and which record, by id only, so "who
tried to look at this patient's record" has an answer. A page asked for again and again (a poll, reloads)
is recorded once in a while (once per person and record in 15 minutes), not at every request; anonymous
requests are not recorded."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.models import AuditEvent, StaffRole, utcnow
from clinic.scheduling.events import history
from clinic.staff.refusals import Refusal, record_refusal

from .test_schedule import clinic, login, today_at, visit  # noqa: F401 (clinic: a fixture)

REFUSED = "access.refused"  # as written in the audit trail


def refusals(session) -> list[AuditEvent]:
    session.rollback()  # a new read: the requests committed after the test's last one
    query = select(AuditEvent).where(AuditEvent.action == REFUSED)
    return list(session.scalars(query.order_by(AuditEvent.id)))


@pytest.fixture
def skin_patient(session, clinic):
    return visit(session, clinic, "jansen", today_at(10), "Maria Visser")


def test_another_departments_consultation_refused_to_reception_is_recorded_by_id(
    client, session, clinic, skin_patient
):
    user = login(session, client, StaffRole.RECEPTION, department_id=clinic["cardiology"].id)

    answer = client.get(f"/schedule/consultations/{skin_patient.id}")

    assert answer.status_code == 404
    (refused,) = refusals(session)
    assert (refused.actor, refused.entity_type, refused.entity_id) == (
        f"staff:{user.id}",
        "consultation",
        str(skin_patient.id),
    )
    assert refused.details == {"route": "schedule.consultation", "method": "GET", "status": 404}
    assert "Visser" not in str(refused.details) and skin_patient.reference not in str(refused.details)
    assert refused.remote_addr


def test_a_refused_notes_page_polled_again_and_again_is_recorded_once_in_a_while(
    client, session, clinic, skin_patient
):
    login(session, client, clinician_id=clinic["okafor"].id)

    for _ in range(5):
        assert client.get(f"/schedule/consultations/{skin_patient.id}/notes").status_code == 404
    assert client.get(f"/schedule/consultations/{skin_patient.id}").status_code == 404

    assert [event.details["route"] for event in refusals(session)] == ["notes.show"]


def test_the_same_refusal_is_recorded_again_once_its_window_has_passed(session):
    refusal = Refusal.of("notes.show", "GET", 404, {"consultation_id": 41, "note_id": 7})
    actor, now = Actor.staff(12), utcnow()

    for minutes in (0, 14, 16):
        record_refusal(session, refusal, actor, now + timedelta(minutes=minutes))
    record_refusal(session, refusal, Actor.staff(13), now + timedelta(minutes=14))

    recorded = [(event.actor, event.occurred_at - now) for event in refusals(session)]
    assert recorded == [
        ("staff:12", timedelta(0)),
        ("staff:12", timedelta(minutes=16)),
        ("staff:13", timedelta(minutes=14)),
    ]
    first = refusals(session)[0]
    assert first.details == {"route": "notes.show", "method": "GET", "status": 404, "note_id": 7}


def test_a_page_refused_for_its_role_is_recorded_by_its_route(client, session, clinic):
    user = login(session, client, clinician_id=clinic["okafor"].id)

    assert client.get("/admin/patients/export").status_code == 403

    (refused,) = refusals(session)
    assert (refused.actor, refused.entity_type, refused.entity_id) == (
        f"staff:{user.id}",
        "page",
        "admin.patient_export",
    )
    assert refused.details == {"route": "admin.patient_export", "method": "GET", "status": 403}


def test_anonymous_requests_and_missing_pages_without_a_record_are_not_recorded(
    client, session, clinic, skin_patient
):
    client.get(f"/schedule/consultations/{skin_patient.id}")  # to the sign-in page
    login(session, client, clinician_id=clinic["okafor"].id)
    assert client.get("/no-such-page").status_code == 404

    assert refusals(session) == []


def test_refusals_stay_out_of_a_consultations_history(client, session, clinic, skin_patient):
    before = history(session, skin_patient)
    login(session, client, clinician_id=clinic["okafor"].id)
    client.get(f"/schedule/consultations/{skin_patient.id}")

    assert refusals(session)
    assert history(session, skin_patient) == before
