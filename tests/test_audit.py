"""The audit trail: every booking change is recorded, and tampering is detectable."""

from datetime import UTC, datetime

from sqlalchemy import select, update

from clinic import audit
from clinic.audit import SYSTEM, Actor
from clinic.models import AuditEvent
from clinic.scheduling.lifecycle import cancel, reschedule

from . import factories

MONDAY_10 = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


def test_booking_cancelling_and_rescheduling_leave_a_verified_trail(session, now):
    svc = factories.service(session)
    doc = factories.clinician(session, [svc])
    session.commit()
    consultation = factories.booking(session, svc, MONDAY_10, now=now, reason="Chest pain").consultation
    reschedule(
        session, consultation.id, MONDAY_10.replace(hour=11), now=now, actor=Actor("patient", "10.0.0.9")
    )
    cancel(session, consultation.id, now=now, actor=Actor("patient"), reason="Feeling better")

    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == [
        "consultation.booked",
        "consultation.rescheduled",
        "consultation.cancelled",
    ]
    assert {e.entity_id for e in events} == {str(consultation.id)}
    assert events[1].remote_addr == "10.0.0.9"
    assert events[1].details["clinician_id"] == doc.id
    assert audit.verify_chain(session) is None
    for event in events:  # identifiers only, no personal or clinical values
        text = repr(event.details)
        assert "Chest pain" not in text and "Feeling better" not in text and "Patient" not in text


def test_an_edited_event_breaks_the_chain_at_that_row(session, now):
    for i in range(3):
        audit.record(session, SYSTEM, "test.event", entity_type="test", entity_id=i, now=now)
    session.commit()
    second = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()[1]
    session.execute(update(AuditEvent).where(AuditEvent.id == second.id).values(actor="staff:99"))
    session.commit()
    assert audit.verify_chain(session) == second.id


def test_a_deleted_event_breaks_the_chain_after_it(session, now):
    for i in range(3):
        audit.record(session, SYSTEM, "test.event", entity_type="test", entity_id=i, now=now)
    session.commit()
    _, second, third = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    session.delete(second)
    session.commit()
    assert audit.verify_chain(session) == third.id
