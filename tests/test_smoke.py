from datetime import UTC, datetime

from tests import factories


def test_healthz_answers_ok(client):
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_a_booking_through_the_service_is_stored(session, now):
    svc = factories.service(session)
    doc = factories.clinician(session, [svc])
    session.commit()
    booked = factories.booking(
        session, svc, datetime(2026, 3, 3, 9, 0, tzinfo=UTC), now=now, clinician_id=doc.id
    )
    assert booked.consultation.clinician_id == doc.id
    assert len(booked.manage_token) >= 43
