from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from clinic.notify.ics import InviteDetails, Method, build_invite, invite_uid

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_details(**changes) -> InviteDetails:
    details = InviteDetails(
        uid=invite_uid("5f0c6a8e-1d2b-4c3a-9e8f-0a1b2c3d4e5f", "clinic.example"),
        sequence=0,
        # 09:00 in London on a summer-time date: 08:00 UTC.
        starts_at=datetime(2026, 4, 7, 9, 0, tzinfo=LONDON),
        ends_at=datetime(2026, 4, 7, 9, 30, tzinfo=LONDON),
        organizer_email="appointments@clinic.example",
        organizer_name="St Example University Hospital",
        attendee_email="sam.patient@example.com",
        attendee_name="Sam Pätient",
        link="https://meet.example/room-7f3a",
        hospital_name="St Example University Hospital",
        description="Join the video consultation: https://meet.example/room-7f3a",
    )
    return replace(details, **changes)


def parse(data: bytes):
    calendar = Calendar.from_ical(data)
    [event] = calendar.events
    return calendar, event


def test_uid_is_the_consultation_uuid_at_the_invite_domain():
    assert invite_uid("abc-123", "hospital.example") == "abc-123@hospital.example"


def test_request_carries_what_itip_requires():
    invite = build_invite(make_details(sequence=3), Method.REQUEST, NOW)

    calendar, event = parse(invite.data)
    assert invite.method is Method.REQUEST
    assert calendar["METHOD"] == "REQUEST"
    assert calendar["VERSION"] == "2.0"
    assert "UID" not in calendar
    assert event.uid == "5f0c6a8e-1d2b-4c3a-9e8f-0a1b2c3d4e5f@clinic.example"
    assert event.sequence == 3
    assert event["STATUS"] == "CONFIRMED"
    assert event.stamp == NOW


def test_times_are_written_in_utc_without_vtimezone():
    invite = build_invite(make_details(), Method.REQUEST, datetime(2026, 3, 1, 13, 0, tzinfo=LONDON))

    calendar, event = parse(invite.data)
    lines = invite.data.decode().split("\r\n")
    assert "DTSTART:20260407T080000Z" in lines
    assert "DTEND:20260407T083000Z" in lines
    assert "DTSTAMP:20260301T130000Z" in lines
    assert calendar.timezones == []
    assert event.start == datetime(2026, 4, 7, 8, 0, tzinfo=UTC)
    assert event.start.utcoffset() == timedelta(0)


def test_naive_times_are_refused_rather_than_written_as_floating_times():
    with pytest.raises(ValueError, match="timezone-aware"):
        build_invite(make_details(starts_at=datetime(2026, 4, 7, 9, 0)), Method.REQUEST, NOW)


def test_organizer_and_attendee_are_mailto_addresses_asked_to_respond():
    _, event = parse(build_invite(make_details(), Method.REQUEST, NOW).data)

    assert event["ORGANIZER"] == "mailto:appointments@clinic.example"
    assert event["ORGANIZER"].params["CN"] == "St Example University Hospital"
    [attendee] = event.attendees
    assert attendee == "mailto:sam.patient@example.com"
    assert dict(attendee.params) == {
        "CN": "Sam Pätient",
        "CUTYPE": "INDIVIDUAL",
        "PARTSTAT": "NEEDS-ACTION",
        "ROLE": "REQ-PARTICIPANT",
        "RSVP": "TRUE",
    }


def test_request_puts_the_link_in_location_url_and_description_under_a_generic_summary():
    _, event = parse(build_invite(make_details(), Method.REQUEST, NOW).data)

    assert event["SUMMARY"] == "Video consultation – St Example University Hospital"
    assert event["LOCATION"] == "https://meet.example/room-7f3a"
    assert event["URL"] == "https://meet.example/room-7f3a"
    assert "https://meet.example/room-7f3a" in event["DESCRIPTION"]


def test_cancel_reuses_the_uid_with_the_raised_sequence_and_cancelled_status():
    request = make_details(sequence=1)
    cancel = build_invite(replace(request, sequence=2), Method.CANCEL, NOW + timedelta(days=1))

    calendar, event = parse(cancel.data)
    assert cancel.method is Method.CANCEL
    assert calendar["METHOD"] == "CANCEL"
    assert event.uid == request.uid
    assert event.sequence == 2
    assert event["STATUS"] == "CANCELLED"
    assert event.attendees == ["mailto:sam.patient@example.com"]
    # The room is of no use any more: the cancellation does not hand it out again.
    assert b"room-7f3a" not in cancel.data


def test_output_uses_crlf_and_folds_long_lines():
    long_name = "The Royal Infirmary of Somewhere With A Very Long Name Indeed"
    data = build_invite(make_details(hospital_name=long_name), Method.REQUEST, NOW).data

    assert data.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 75


# Names as people write them: any script, quotes, commas, semicolons, colons, backslashes, carets, and
# long; never a control character (input refuses them, and `notices.plain` strips them before an invite).
_NAMES = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")) | st.sampled_from("\",;:\\^'<>"),
    min_size=1,
    max_size=300,
).filter(str.strip)


def as_a_calendar_shows_it(name: str) -> str:
    """The name, its backslashes as spaces: the one change a parameter value needs (see ics._named)."""
    return " ".join(name.replace("\\", " ").split())


@settings(max_examples=300, deadline=None)
@given(attendee=_NAMES, hospital=_NAMES, method=st.sampled_from(Method))
def test_any_name_reads_back_as_its_own_parameter_from_lines_folded_at_75_octets_between_characters(
    attendee, hospital, method
):
    """A name ending in a backslash, written bare (CN=Ann\\;CUTYPE=...), was read by icalendar (and, as
    reported, Thunderbird's ical.js) as escaping the separator after it: the CN swallowed the attendee's
    other parameters (PARTSTAT, RSVP...), and the organizer's its mailto address."""
    data = build_invite(
        make_details(attendee_name=attendee, organizer_name=hospital, hospital_name=hospital), method, NOW
    ).data

    lines = data.split(b"\r\n")
    assert lines[-1] == b"" and all(b"\r" not in line and b"\n" not in line for line in lines)
    assert max(len(line) for line in lines) <= 75
    for line in lines:
        line.decode()  # RFC 5545 §3.1: a fold never splits a character's octets
    _, event = parse(data)
    [attendee_read] = event.attendees
    assert attendee_read == "mailto:sam.patient@example.com"
    assert attendee_read.params.get("CN", "") == as_a_calendar_shows_it(attendee)
    assert attendee_read.params["PARTSTAT"] == "NEEDS-ACTION" and attendee_read.params["RSVP"] == "TRUE"
    assert event["ORGANIZER"] == "mailto:appointments@clinic.example"
    assert event["ORGANIZER"].params.get("CN", "") == as_a_calendar_shows_it(hospital)
    assert event["SUMMARY"] == f"Video consultation – {hospital}"
