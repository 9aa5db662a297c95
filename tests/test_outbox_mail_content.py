"""What the mails say, through the real worker into a real SMTP server: what the patient needs to know
and do, what applies to changing the booking, the moved-from time, booking again, and the host's invite."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

from datetime import UTC, datetime

from clinic.audit import Actor
from clinic.scheduling.lifecycle import cancel, reschedule

from . import factories
from .fakes.outbox import invite, open_clinic, outbox, text  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # 26 hours after the tests' `now`
WEDNESDAY_11 = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)
PHONE = "+44 20 7946 0000"  # the factories' department phone


def book(session, now, **service_fields):
    service = open_clinic(session, name="Heart follow-up", duration_minutes=45, **service_fields)
    return factories.booking(session, service, TUESDAY_10, now=now)


def plain(mail) -> str:
    """The text part, with the wire's CRLF line ends read as newlines."""
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_the_confirmation_names_service_clinician_length_phone_and_how_to_prepare(
    session, now, outbox, smtp_server
):
    booked = book(session, now)
    outbox.drain()

    consultation = outbox.refreshed(booked.consultation)
    (mail,) = smtp_server.inbox(consultation.patient.email)
    body = plain(mail)
    assert "Service: Heart follow-up" in body
    assert f"With: {consultation.clinician.display_name}" in body
    assert "Length: 45 minutes" in body
    assert PHONE in body
    assert "test your camera and microphone" in body
    # The service lets changes up to the start: the mail says until when, in the patient's zone.
    assert (
        "You can change or cancel this booking online until Tuesday 3 March 2026, 10:00 (UK time, GMT+0)"
        in body
    )
    assert "can no longer be changed online" not in body


def test_a_booking_made_inside_the_change_cut_off_tells_the_patient_to_phone_instead(
    session, now, outbox, smtp_server
):
    booked = book(session, now, cancel_cutoff_minutes=48 * 60)  # the start is 26 hours away
    outbox.drain()

    (mail,) = smtp_server.inbox(booked.consultation.patient.email)
    body = plain(mail)
    assert "This booking can no longer be changed online. To change or cancel it, phone" in body
    assert PHONE in body
    assert "You can change or cancel" not in body and "change or cancel\n" not in body
    # The booking page is still offered, for the camera and microphone check.
    assert "Your booking page: test your camera and microphone:\n" in body


def test_the_moved_mail_gives_the_old_and_the_new_time_as_they_were_at_the_move(
    session, now, outbox, smtp_server
):
    consultation = book(session, now).consultation
    outbox.drain()
    reschedule(session, consultation.id, WEDNESDAY_11, now=now, actor=Actor())
    # Moved again before the first update went out: that mail still names the time it moved from.
    reschedule(session, consultation.id, datetime(2026, 3, 4, 14, 0, tzinfo=UTC), now=now, actor=Actor())
    outbox.drain()

    _, first_move, second_move = smtp_server.inbox(consultation.patient.email)
    assert "The earlier time, Tuesday 3 March 2026, 10:00 (UK time, GMT+0), no longer applies." in plain(
        first_move
    )
    assert "The earlier time, Wednesday 4 March 2026, 11:00 (UK time, GMT+0), no longer applies." in plain(
        second_move
    )
    assert "has moved to Wednesday 4 March 2026, 14:00 (UK time, GMT+0)" in plain(second_move)
    _, clinician_move, _ = smtp_server.inbox(consultation.clinician.email)
    assert "Tuesday 3 March 2026, 10:00" in plain(clinician_move)


def test_the_cancelled_mail_offers_to_book_the_same_service_again(session, now, outbox, smtp_server):
    outbox.configure(PUBLIC_BASE_URL="https://book.hospital.example/")
    consultation = book(session, now).consultation
    outbox.drain()
    cancel(session, consultation.id, now=now, actor=Actor())
    outbox.drain()

    _, cancelled = smtp_server.inbox(consultation.patient.email)
    body = plain(cancelled)
    assert "Book another video consultation:\n" in body
    assert f"https://book.hospital.example/book/clinician?service={consultation.service_id}" in body
    assert consultation.meeting_join_url not in text(cancelled)
    _, clinicians = smtp_server.inbox(consultation.clinician.email)
    assert "/book/" not in plain(clinicians)


def test_the_clinicians_invite_speaks_to_the_host_and_carries_the_host_link(
    session, now, outbox, smtp_server
):
    consultation = book(session, now).consultation
    outbox.drain()

    consultation = outbox.refreshed(consultation)
    (clinicians,) = smtp_server.inbox(consultation.clinician.email)
    (patients,) = smtp_server.inbox(consultation.patient.email)
    _, host_event = invite(clinicians)
    _, guest_event = invite(patients)
    assert consultation.meeting_host_url != consultation.meeting_join_url
    host_text = str(host_event["DESCRIPTION"])
    assert host_text.startswith(f"Start the video consultation: {consultation.meeting_host_url}\n")
    assert "do not forward it" in host_text and "camera" not in host_text
    assert f"Start the video consultation:\n{consultation.meeting_host_url}" in plain(clinicians)
    assert consultation.meeting_join_url in str(guest_event["DESCRIPTION"])
    assert consultation.meeting_host_url not in text(patients)


def test_every_invite_is_also_attached_as_invite_ics(session, now, outbox, smtp_server):
    consultation = book(session, now).consultation
    outbox.drain()
    cancel(session, consultation.id, now=now, actor=Actor())
    outbox.drain()

    for received in smtp_server.received:
        mail = received.message
        assert mail.get_content_type() == "multipart/mixed"
        inline = mail.get_body(("calendar",))
        (attached,) = mail.iter_attachments()
        assert (attached.get_content_disposition(), attached.get_filename()) == ("attachment", "invite.ics")
        assert attached.get_payload(decode=True) == inline.get_payload(decode=True)


def test_a_zoom_clinicians_invite_leads_to_the_call_page_not_to_a_host_link_that_expires(
    session, now, outbox, smtp_server
):
    """Zoom's start_url expires two hours after it is issued: mailed days ahead, the invite's "Start the
    video consultation" no longer started the meeting on the day. It leads to the consultation's page,
    whose Start call asks Zoom for a link afresh; the host link, a secret, is in no mail."""
    outbox.configure(MEETING_PROVIDER="zoom")
    consultation = book(session, now).consultation
    outbox.drain()

    consultation = outbox.refreshed(consultation)
    assert consultation.meeting_provider == "zoom"
    (clinicians,) = smtp_server.inbox(consultation.clinician.email)
    _, host_event = invite(clinicians)
    page = f"{outbox.app.config['PUBLIC_BASE_URL'].rstrip('/')}/schedule/consultations/{consultation.id}"
    assert str(host_event["DESCRIPTION"]).startswith(f"Start the video consultation: {page}\n")
    assert str(host_event["LOCATION"]) == page
    assert f"Start the video consultation:\n{page}" in plain(clinicians)
    assert consultation.meeting_host_url not in text(clinicians)
