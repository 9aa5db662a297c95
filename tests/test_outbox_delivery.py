"""Booking, rescheduling and cancelling reach both sides as invites with the right links, once each."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

from datetime import UTC, datetime, timedelta

from clinic.audit import Actor
from clinic.jobs.context import message_id_for
from clinic.models import OutboxKind, OutboxStatus
from clinic.scheduling.lifecycle import cancel, reschedule

from . import factories
from .conftest import TEST_SECRET
from .fakes.outbox import invite, open_clinic, outbox, text  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
WEDNESDAY_11 = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)
REASON = "Lump in left breast, very worried"


def book(session, now, start=TUESDAY_10, **fields):
    return factories.booking(session, open_clinic(session), start, now=now, **fields)


def test_a_booking_sends_each_side_one_request_with_their_own_link(session, now, outbox, smtp_server):
    booked = book(session, now)
    outbox.drain()

    consultation = outbox.refreshed(booked.consultation)
    patient_inbox = smtp_server.inbox(consultation.patient.email)
    clinician_inbox = smtp_server.inbox(consultation.clinician.email)
    assert len(patient_inbox) == len(clinician_inbox) == 1
    method, event = invite(patient_inbox[0])
    assert method == "REQUEST" and event["SEQUENCE"] == 0
    assert str(event["LOCATION"]) == consultation.meeting_join_url
    assert event.start == TUESDAY_10
    assert f"/c/{consultation.reference}#t={booked.manage_token}" in text(patient_inbox[0])
    method, event = invite(clinician_inbox[0])
    assert method == "REQUEST"
    assert str(event["LOCATION"]) == consultation.meeting_host_url != consultation.meeting_join_url
    assert consultation.meeting_host_url not in text(patient_inbox[0])


def test_the_meeting_is_made_before_any_mail_and_every_message_finishes(session, now, outbox):
    consultation = book(session, now).consultation
    outbox.drain()

    messages = outbox.messages(consultation)
    assert [m.kind for m in messages][:4] == [
        OutboxKind.MEETING_CREATE,
        OutboxKind.CONFIRMATION,
        OutboxKind.CONFIRMATION,
        OutboxKind.PLAN_REMINDERS,
    ]
    assert {m.status for m in messages[:4]} == {OutboxStatus.DONE}
    assert all(m.claimed_by and m.lease_until is None for m in messages[:4])  # who ran it stays on record
    meeting_done = messages[0].done_at
    assert all(m.done_at >= meeting_done for m in messages[1:3])
    assert outbox.refreshed(consultation).meeting_provider == "jitsi"


def test_a_reschedule_sends_a_second_request_with_the_same_uid_and_a_higher_sequence(
    session, now, outbox, smtp_server
):
    consultation = book(session, now).consultation
    outbox.drain()
    reschedule(session, consultation.id, WEDNESDAY_11, now=now, actor=Actor())
    outbox.drain()

    for address in (consultation.patient.email, consultation.clinician.email):
        (first_method, first), (second_method, second) = map(invite, smtp_server.inbox(address))
        assert first_method == second_method == "REQUEST"
        assert second["UID"] == first["UID"]
        assert second["SEQUENCE"] > first["SEQUENCE"]
        assert second.start == WEDNESDAY_11
    moved = outbox.refreshed(consultation)
    (_, patient_update) = invite(smtp_server.inbox(moved.patient.email)[1])
    assert str(patient_update["LOCATION"]) == moved.meeting_join_url


def test_a_cancellation_sends_cancel_with_the_same_uid_and_removes_reminders(
    session, now, outbox, smtp_server
):
    consultation = book(session, now).consultation
    outbox.drain()
    assert outbox.statuses(consultation, OutboxKind.REMINDER) == [OutboxStatus.PENDING] * 2
    cancel(session, consultation.id, now=now, actor=Actor(), enforce_cutoff=False)
    outbox.drain(until=TUESDAY_10 + timedelta(days=1))

    for address in (consultation.patient.email, consultation.clinician.email):
        (_, request), (method, cancelled) = map(invite, smtp_server.inbox(address))
        assert method == "CANCEL"
        assert cancelled["STATUS"] == "CANCELLED"
        assert cancelled["UID"] == request["UID"]
        assert cancelled["SEQUENCE"] > request["SEQUENCE"]
    assert outbox.statuses(consultation, OutboxKind.REMINDER) == [OutboxStatus.CANCELLED] * 2
    assert len(smtp_server.inbox(consultation.patient.email)) == 2  # no reminder went out


def test_an_invite_domain_changed_after_booking_leaves_the_invites_already_sent_their_uid(
    session, now, outbox, smtp_server
):
    """The UID was built from CLINIC_INVITE_DOMAIN as it stood at each sending: a hospital that set its own
    domain after going live (the default is accepted in production) sent its moves and cancellations under
    new UIDs, and calendars kept the old event beside the new one, a cancelled call still in them."""
    outbox.configure(INVITE_DOMAIN="clinic.example")
    consultation = book(session, now).consultation
    outbox.drain()
    outbox.configure(INVITE_DOMAIN="video.hospital.example")
    reschedule(session, consultation.id, WEDNESDAY_11, now=now, actor=Actor(), enforce_cutoff=False)
    outbox.drain()
    cancel(session, consultation.id, now=now, actor=Actor(), enforce_cutoff=False)
    outbox.drain()
    later = book(session, now, start=TUESDAY_10 + timedelta(hours=2)).consultation
    outbox.drain()

    for address in (consultation.patient.email, consultation.clinician.email):
        sent = [invite(mail) for mail in smtp_server.inbox(address)]
        assert [method for method, _ in sent] == ["REQUEST", "REQUEST", "CANCEL"]
        assert {str(event["UID"]) for _, event in sent} == {f"{consultation.uuid}@clinic.example"}
    (_, event) = invite(smtp_server.inbox(later.patient.email)[0])
    assert str(event["UID"]) == f"{later.uuid}@video.hospital.example"  # a new booking takes the new one


def test_each_mail_carries_its_outbox_rows_message_id(session, now, outbox, smtp_server):
    consultation = book(session, now).consultation
    outbox.drain()

    for row in outbox.messages(consultation, OutboxKind.CONFIRMATION):
        address = consultation.patient.email if row.audience == "patient" else consultation.clinician.email
        (mail,) = smtp_server.inbox(address)
        assert mail["Message-ID"] == message_id_for(row, "clinic.example")


def test_the_reason_a_patient_typed_appears_in_no_mail(session, now, outbox, smtp_server):
    consultation = book(session, now, reason=REASON).consultation
    outbox.drain()
    reschedule(session, consultation.id, WEDNESDAY_11, now=now, actor=Actor())
    outbox.drain(until=WEDNESDAY_11 - timedelta(minutes=30))
    cancel(session, consultation.id, now=outbox.clock.now, actor=Actor(), enforce_cutoff=False)
    outbox.drain()

    kinds = [row.kind for row in outbox.messages(consultation) if row.status is OutboxStatus.DONE]
    assert kinds.count(OutboxKind.REMINDER) == 2
    assert len(smtp_server.received) == 8  # confirmation, update, cancellation to both; two reminders
    for received in smtp_server.received:
        assert "worried" not in text(received.message).lower()
        assert b"worried" not in received.content.lower()


def test_manage_links_in_mails_use_the_public_base_url(session, now, outbox, smtp_server):
    outbox.configure(PUBLIC_BASE_URL="https://book.hospital.example/")
    booked = book(session, now)
    outbox.drain()

    (mail,) = smtp_server.inbox(booked.consultation.patient.email)
    reference = booked.consultation.reference
    assert f"https://book.hospital.example/c/{reference}#t={booked.manage_token}" in text(mail)
    assert booked.manage_token != TEST_SECRET
