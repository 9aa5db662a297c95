"""Each change writes its side effects to the outbox in its own transaction, holding no personal data."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select

from clinic.audit import Actor
from clinic.extensions import db
from clinic.models import Consultation, OutboxKind, OutboxMessage, OutboxStatus
from clinic.scheduling.lifecycle import cancel, reschedule

from . import factories
from .fakes.outbox import open_clinic

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
REASON = "Recurring migraines with aura"


def rows(session, consultation) -> list[tuple[OutboxKind, str | None, OutboxStatus]]:
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.consultation_id == consultation.id)
        .order_by(OutboxMessage.id)
    )
    return [(m.kind, m.audience, m.status) for m in session.scalars(query)]


def test_a_booking_writes_its_meeting_confirmations_and_reminder_plan(session, now):
    consultation = factories.booking(session, open_clinic(session), TUESDAY_10, now=now).consultation

    assert rows(session, consultation) == [
        (OutboxKind.MEETING_CREATE, None, OutboxStatus.PENDING),
        (OutboxKind.CONFIRMATION, "patient", OutboxStatus.PENDING),
        (OutboxKind.CONFIRMATION, "clinician", OutboxStatus.PENDING),
        (OutboxKind.PLAN_REMINDERS, None, OutboxStatus.PENDING),
    ]
    first = session.scalars(select(OutboxMessage)).first()
    assert (first.due_at, first.created_at, first.attempts) == (now, now, 0)


def test_reschedule_and_cancel_add_their_own_messages_with_the_raised_sequence(session, now):
    consultation = factories.booking(session, open_clinic(session), TUESDAY_10, now=now).consultation
    reschedule(session, consultation.id, TUESDAY_10.replace(hour=11), now=now, actor=Actor())
    cancel(session, consultation.id, now=now, actor=Actor())

    messages = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(m.kind, m.payload["sequence"]) for m in messages if m.audience != "clinician"] == [
        (OutboxKind.MEETING_CREATE, 0),
        (OutboxKind.CONFIRMATION, 0),
        (OutboxKind.PLAN_REMINDERS, 0),
        (OutboxKind.MEETING_UPDATE, 1),
        (OutboxKind.UPDATE, 1),
        (OutboxKind.PLAN_REMINDERS, 1),
        (OutboxKind.WAITLIST_OFFERS, 1),  # the time it moved from, offered to the waitlist
        (OutboxKind.MEETING_CANCEL, 2),
        (OutboxKind.CANCELLATION, 2),
        (OutboxKind.WAITLIST_OFFERS, 2),
    ]
    plans = [m.status for m in messages if m.kind is OutboxKind.PLAN_REMINDERS]
    assert plans == [OutboxStatus.CANCELLED, OutboxStatus.CANCELLED]  # each superseded before it ran


def test_outbox_rows_hold_ids_and_numbers_but_no_personal_or_clinical_data(session, now):
    details = factories.patient_details(name="Zebedee Quux", email="zebedee.quux@example.org")
    booked = factories.booking(
        session, open_clinic(session), TUESDAY_10, now=now, reason=REASON, patient=details
    )

    for message in session.scalars(select(OutboxMessage)):
        stored = f"{message.payload} {message.idempotency_key} {message.audience}"
        for secret in (
            "Zebedee",
            "zebedee.quux",
            "migraine",
            booked.consultation.reference,
            booked.manage_token,
        ):
            assert secret.lower() not in stored.lower()


def test_a_change_that_rolls_back_leaves_no_outbox_rows(session, now):
    service = open_clinic(session)
    written: list[int] = []

    def fail_at_commit(flushed_session):
        count = flushed_session.scalar(select(func.count()).select_from(OutboxMessage))
        if count:  # the booking's commit, not that of the read it ended first (see begin_write)
            written.append(count)
            raise RuntimeError("database went away at commit")

    event.listen(db.session(), "before_commit", fail_at_commit)
    try:
        with pytest.raises(RuntimeError):
            factories.booking(session, service, TUESDAY_10, now=now)
    finally:
        event.remove(db.session(), "before_commit", fail_at_commit)

    assert written == [4]  # the rows were there inside the transaction...
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0  # ...and left with it
    assert session.scalar(select(func.count()).select_from(Consultation)) == 0
