import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

import config
from clinic.notify import wording
from clinic.notify.ics import InviteDetails, companion_invite_uid, invite_uid
from clinic.notify.mail import mail_backend
from clinic.notify.messages import compose, render
from clinic.notify.mime import make_message_id
from clinic.notify.notices import MAILS, Audience, MessageKind, Notice, Recipient
from clinic.notify.wording import ENGLISH, format_start, language
from tests.fakes.smtp import smtp_server  # noqa: F401 (fixture)

SENDER = "St Example <appointments@clinic.example>"
DOMAIN = "clinic.example"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
JOIN = "https://meet.example/room-7f3a"
HOST = "https://meet.example/host/room-7f3a?jwt=secret-host-token"
MANAGE = "https://clinic.example/manage/tok-9c1e"
GUEST = "https://clinic.example/g/K7Q2M9?t=guest-token"
REASON = "Chest pain since Tuesday"


def make_notice(**changes) -> Notice:
    notice = Notice(
        consultation_uuid="5f0c6a8e-1d2b-4c3a-9e8f-0a1b2c3d4e5f",
        reference="K7Q2M9",
        sequence=0,
        starts_at=datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
        ends_at=datetime(2026, 3, 3, 9, 30, tzinfo=UTC),
        hospital_name="St Example University Hospital",
        service_name="Heart follow-up",
        join_url=JOIN,
        host_url=HOST,
        manage_url=MANAGE,
        patient=Recipient("Sam Patient", "sam.patient@example.com", "America/New_York"),
        clinician=Recipient("Dr Ana Lee", "ana.lee@hospital.example", "Europe/London"),
        companion=Recipient("Grace Interpreter", "grace@example.net", "America/New_York"),
        companion_url=GUEST,
        companion_uuid="9b1d3f5a-7c2e-4a6b-8d0f-1e3c5a7b9d2f",
    )
    return dataclasses.replace(notice, **changes)


def compose_mail(kind: MessageKind, audience: Audience, notice: Notice, now: datetime = NOW):
    key = f"{notice.consultation_uuid}:{kind}:{audience}:{notice.sequence}"
    return compose(
        kind, audience, notice, sender=SENDER, domain=DOMAIN, message_id=make_message_id(key, DOMAIN), now=now
    )


def decoded_parts(message) -> dict[str, str]:
    """Each leaf part's decoded text by content type (the invite.ics attachment as application/ics)."""
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }


@pytest.mark.parametrize(
    ("starts_at", "zone", "expected"),
    [
        (
            datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
            "Europe/London",
            "Tuesday 3 March 2026, 09:00 (UK time, GMT+0)",
        ),
        # British Summer Time began on 29 March 2026: 08:00 UTC is 09:00 in London.
        (
            datetime(2026, 3, 30, 8, 0, tzinfo=UTC),
            "Europe/London",
            "Monday 30 March 2026, 09:00 (UK time, GMT+1)",
        ),
        # US daylight time began on 8 March 2026, three weeks before Europe's.
        (
            datetime(2026, 3, 9, 13, 0, tzinfo=UTC),
            "America/New_York",
            "Monday 9 March 2026, 09:00 (New York, GMT-4)",
        ),
        (
            datetime(2026, 3, 3, 23, 30, tzinfo=UTC),
            "Asia/Tokyo",
            "Wednesday 4 March 2026, 08:30 (Japan, GMT+9)",
        ),
    ],
)
def test_start_time_is_shown_in_the_readers_zone_with_its_name(starts_at, zone, expected):
    assert format_start(starts_at, zone) == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en-US", "4:30 pm"), ("en-us", "4:30 pm"), ("en-GB", "16:30"), ("en", "16:30"), ("nl-NL", "16:30")],
)
def test_the_time_is_on_the_readers_clock_by_the_language_their_booking_kept(language, expected):
    """The pages showed a US patient "4:30 pm" and their mail "16:30", which they may misread."""
    notice = make_notice(
        starts_at=datetime(2026, 3, 3, 21, 30, tzinfo=UTC),
        patient=Recipient("Sam Patient", "sam.patient@example.com", "America/New_York", language),
    )

    mail = render(MessageKind.CONFIRMATION, Audience.PATIENT, notice)

    assert f"Tuesday 3 March 2026, {expected} (New York, GMT-5)" in mail.text


def test_naive_start_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        format_start(datetime(2026, 3, 3, 9, 0), "Europe/London")


def test_patient_and_clinician_each_read_the_time_in_their_own_zone():
    notice = make_notice(starts_at=datetime(2026, 3, 30, 13, 0, tzinfo=UTC))

    patient = render(MessageKind.CONFIRMATION, Audience.PATIENT, notice)
    clinician = render(MessageKind.CONFIRMATION, Audience.CLINICIAN, notice)

    assert "Monday 30 March 2026, 09:00 (New York, GMT-4)" in patient.text
    assert "Monday 30 March 2026, 14:00 (UK time, GMT+1)" in clinician.text
    assert "Europe/London" not in patient.text


@pytest.mark.parametrize("kind", [MessageKind.CONFIRMATION, MessageKind.UPDATE, MessageKind.REMINDER])
def test_patient_gets_the_join_and_manage_links_and_never_the_host_link(kind):
    mail = compose_mail(kind, Audience.PATIENT, make_notice())

    parts = decoded_parts(mail)
    assert JOIN in parts["text/plain"] and MANAGE in parts["text/plain"]
    assert "secret-host-token" not in mail.as_string()
    assert all("secret-host-token" not in body for body in parts.values())


@pytest.mark.parametrize("kind", [MessageKind.CONFIRMATION, MessageKind.UPDATE, MessageKind.REMINDER])
def test_patients_are_told_to_join_from_their_booking_page_which_comes_first(kind):
    """Its "Join" tells the clinician the patient is waiting; the call's own link (kept, below it) cannot:
    a patient who followed "open the link below" was never shown as waiting."""
    parts = decoded_parts(compose_mail(kind, Audience.PATIENT, make_notice()))
    for body in (parts["text/plain"], parts["text/html"]):
        assert body.index(MANAGE) < body.index(JOIN)
        assert "open your booking page (link below)" in body
        assert "your clinician then knows you are waiting" in body


@pytest.mark.parametrize("kind", [MessageKind.CONFIRMATION, MessageKind.UPDATE, MessageKind.REMINDER])
def test_clinician_gets_the_host_link_and_not_the_patients_manage_link(kind):
    rendered = render(kind, Audience.CLINICIAN, make_notice())

    assert HOST in rendered.text
    assert MANAGE not in rendered.text and MANAGE not in rendered.html


@pytest.mark.parametrize("audience", list(Audience))
def test_cancellation_names_the_cancelled_time_and_hands_out_no_call_or_manage_link(audience):
    book_again = "https://clinic.example/book/clinician?service=3"
    rendered = render(MessageKind.CANCELLATION, audience, make_notice(book_again_url=book_again))

    assert "cancelled" in rendered.subject
    assert "has been cancelled" in rendered.text
    offered = [book_again] if audience is Audience.PATIENT else []
    assert re.findall(r"https://\S+", rendered.text) == offered


def test_the_clinician_a_consultation_was_handed_from_reads_who_has_it_and_their_calendar_drops_it():
    """Sent the ordinary "has been cancelled", they read it as the patient's cancellation."""
    notice = make_notice(sequence=1, handed_to="Dr Sam Lewis", book_again_url="https://clinic.example/book")

    mail = compose_mail(MessageKind.HANDED_OVER, Audience.CLINICIAN, notice)

    parts = decoded_parts(mail)
    assert str(mail["Subject"]) == "Video consultation K7Q2M9 handed to Dr Sam Lewis"
    said = "Video consultation K7Q2M9 on Tuesday 3 March 2026, 09:00 (UK time, GMT+0) has been handed to"
    assert f"{said} your colleague Dr Sam Lewis" in parts["text/plain"]
    assert "has been cancelled" not in parts["text/plain"] and "Reference: K7Q2M9" in parts["text/plain"]
    [event] = Calendar.from_ical(parts["text/calendar"]).events
    assert (event["STATUS"], event.sequence) == ("CANCELLED", 1)
    assert "handed to your colleague Dr Sam Lewis" in event["DESCRIPTION"]
    assert [
        part.get_param("method") for part in mail.walk() if part.get_content_type() == "text/calendar"
    ] == ["CANCEL"]
    for body in parts.values():  # no link to a call that is no longer theirs, nothing more of the patient
        assert "https://" not in body and "Sam Patient" not in body and "sam.patient" not in body


def test_without_a_department_phone_a_patient_past_the_cut_off_is_told_to_contact_the_hospital():
    rendered = render(
        MessageKind.REMINDER, Audience.PATIENT, make_notice(contact_phone="", change_deadline=None)
    )

    assert "can no longer be changed online. To change or cancel it, contact St Example" in rendered.text
    assert "Phone" not in rendered.text


def test_update_tells_the_new_time():
    earlier = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    notice = make_notice(
        sequence=1, starts_at=datetime(2026, 3, 5, 15, 0, tzinfo=UTC), previous_starts_at=earlier
    )

    rendered = render(MessageKind.UPDATE, Audience.PATIENT, notice)

    assert "has moved to Thursday 5 March 2026, 10:00 (New York, GMT-5)" in rendered.text


def test_html_escapes_every_value():
    notice = make_notice(
        hospital_name="St <b>Example</b> & Co",
        join_url='https://meet.example/r?a=1&b="2"',
        patient=Recipient("<script>alert(1)</script>", "sam.patient@example.com", "Europe/London"),
    )

    html = render(MessageKind.CONFIRMATION, Audience.PATIENT, notice).html

    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html
    assert "St &lt;b&gt;Example&lt;/b&gt; &amp; Co" in html
    assert 'href="https://meet.example/r?a=1&amp;b=&#34;2&#34;"' in html


def test_wording_falls_back_to_english_and_a_second_language_plugs_in(monkeypatch):
    assert language("en-GB") is ENGLISH
    assert language("cy") is ENGLISH
    welsh = dataclasses.replace(ENGLISH, code="cy", greeting="Helo {name},")
    monkeypatch.setitem(wording.LANGUAGES, "cy", welsh)
    patient = dataclasses.replace(make_notice().patient, language="cy")

    rendered = render(MessageKind.REMINDER, Audience.PATIENT, make_notice(patient=patient))

    assert rendered.text.startswith("Helo Sam Patient,")
    assert '<html lang="cy">' in rendered.html


def test_every_kind_and_audience_has_wording():
    assert set(ENGLISH.wording) == MAILS


def test_inputs_have_no_field_for_clinical_detail():
    # The service is named on purpose (the patient needs to know which appointment this is), but only
    # to the patient and the clinician: see the next test.
    clinical = {"reason", "notes", "note", "diagnosis"}
    for shape in (Notice, InviteDetails, Recipient):
        assert not clinical & {field.name for field in dataclasses.fields(shape)}


def test_the_patients_reason_for_visit_is_in_no_mail_or_invite():
    # What the booking form holds; the notice is made from its non-clinical fields only.
    booking = {"reason": REASON, "service": "Cardiology follow-up", "reference": "K7Q2M9"}
    notice = make_notice(reference=booking["reference"], service_name=booking["service"])

    for kind, audience in MAILS:
        mail = compose_mail(kind, audience, notice)
        parts = decoded_parts(mail)
        texts = [str(mail["Subject"]), *parts.values()]
        assert all(REASON not in text for text in texts), (kind, audience)
        # Calendars are often shared, and a companion need not know why the patient is seen.
        private = [parts.get("text/calendar", ""), parts.get("application/ics", "")]
        if audience is Audience.COMPANION:
            private = texts
        assert all(booking["service"] not in text for text in private), (kind, audience)


def test_reminders_carry_no_invite_and_the_others_carry_the_matching_method():
    expected = {
        MessageKind.CONFIRMATION: "REQUEST",
        MessageKind.UPDATE: "REQUEST",
        MessageKind.CANCELLATION: "CANCEL",
        MessageKind.REMINDER: None,
    }
    for kind, method in expected.items():
        mail = compose_mail(kind, Audience.PATIENT, make_notice())
        calendars = [part for part in mail.walk() if part.get_content_type() == "text/calendar"]
        assert [part.get_param("method") for part in calendars] == ([method] if method else [])


def test_invites_sent_over_smtp_keep_their_uid_and_raise_their_sequence(smtp_server, tmp_path):  # noqa: F811
    booked = make_notice()
    two_days = timedelta(days=2)
    moved = make_notice(sequence=1, starts_at=booked.starts_at + two_days, ends_at=booked.ends_at + two_days)
    cancelled = dataclasses.replace(moved, sequence=2)
    steps = [
        (MessageKind.CONFIRMATION, booked),
        (MessageKind.UPDATE, moved),
        (MessageKind.CANCELLATION, cancelled),
    ]
    backend = mail_backend(config.defaults() | smtp_server.settings(), tmp_path)
    sent_ids = []
    for hours, (kind, notice) in enumerate(steps):
        for audience in Audience:
            mail = compose_mail(kind, audience, notice, now=NOW + timedelta(hours=hours))
            sent_ids.append(mail["Message-ID"])
            backend.send(mail)
    backend.close()

    assert [str(r.message["Message-ID"]) for r in smtp_server.received] == sent_ids
    own_invites = [
        (booked.patient, JOIN, invite_uid(booked.consultation_uuid, DOMAIN)),
        (booked.clinician, HOST, invite_uid(booked.consultation_uuid, DOMAIN)),
        # Apart, as they may share the patient's mailbox.
        (booked.companion, GUEST, companion_invite_uid(booked.companion_uuid, DOMAIN)),
    ]
    for recipient, own_link, uid in own_invites:
        events = []
        for hours, mail in enumerate(smtp_server.inbox(recipient.email)):
            assert mail.get_content_type() == "multipart/mixed"
            alternative, attached = mail.iter_parts()
            text, html, invite = alternative.iter_parts()
            assert [p.get_content_type() for p in (text, html, invite)] == [
                "text/plain",
                "text/html",
                "text/calendar",
            ]
            assert attached.get_filename() == "invite.ics"
            assert attached.get_payload(decode=True) == invite.get_payload(decode=True)
            assert invite.get_content_charset() == "utf-8"
            calendar = Calendar.from_ical(invite.get_content())
            assert invite.get_param("method") == calendar["METHOD"]
            [event] = calendar.events
            assert event.stamp == NOW + timedelta(hours=hours)
            assert event["ORGANIZER"] == "mailto:appointments@clinic.example"
            assert event.attendees == [f"mailto:{recipient.email}"]
            events.append((str(calendar["METHOD"]), event))

        assert [method for method, _ in events] == ["REQUEST", "REQUEST", "CANCEL"]
        assert {event.uid for _, event in events} == {uid}
        assert [event.sequence for _, event in events] == [0, 1, 2]
        assert [event["STATUS"] for _, event in events] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
        assert [event.start for _, event in events] == [booked.starts_at, moved.starts_at, moved.starts_at]
        assert all(event.start.utcoffset() == timedelta(0) for _, event in events)
        assert [event.get("LOCATION") for _, event in events] == [own_link, own_link, None]

    patient_mail = b"".join(r.content for r in smtp_server.received if booked.patient.email in r.rcpt_tos)
    assert b"secret-host-token" not in patient_mail
