"""The Jitsi adapter: unguessable rooms and, when configured, short-lived JWTs per link."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

import config
from clinic.meetings.jitsi import JitsiProvider, JitsiSettings
from tests.fakes.providers import PATIENT_NAME, REASON, make_consultation

SECRET = "jitsi-shared-secret-of-at-least-32-bytes"
SETTINGS = config.defaults() | {
    "JITSI_BASE_URL": "https://meet.hospital.example/",
    "JITSI_APP_ID": "clinic",
    "JITSI_APP_SECRET": SECRET,
}


@pytest.fixture
def jitsi():
    return JitsiProvider(JitsiSettings.from_mapping(SETTINGS))


def claims(url):
    [token] = parse_qs(urlsplit(url).query)["jwt"]
    # Signature and audience are checked; the time claims are asserted by the tests themselves.
    return jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        audience="jitsi",
        options={"verify_nbf": False, "verify_exp": False},
    )


def test_links_open_one_room_on_the_configured_server(jitsi):
    meeting = jitsi.create(make_consultation())

    room_url = f"https://meet.hospital.example/{meeting.external_id}"
    assert meeting.provider == "jitsi"
    assert meeting.join_url.startswith(f"{room_url}?jwt=")
    assert meeting.host_url.startswith(f"{room_url}?jwt=")


def test_room_names_are_unique_and_carry_at_least_128_random_bits(jitsi):
    consultation = make_consultation()

    rooms = {jitsi.create(consultation).external_id for _ in range(2000)}

    assert len(rooms) == 2000
    for room in rooms:
        # Lowercase base32: five bits a character, and case-proof since Jitsi lowercases room names.
        assert len(room) * 5 >= 128
        assert set(room) <= set("abcdefghijklmnopqrstuvwxyz234567")


def test_room_name_is_not_derived_from_the_consultation(jitsi):
    consultation = make_consultation()

    room = jitsi.create(consultation).external_id

    assert consultation.uuid.replace("-", "") not in room
    assert consultation.reference.lower() not in room


def test_tokens_admit_only_this_room_from_before_the_start_until_after_the_end(jitsi):
    consultation = make_consultation()

    meeting = jitsi.create(consultation)

    token = claims(meeting.join_url)
    assert token["iss"] == "clinic"
    assert token["aud"] == "jitsi"
    assert token["sub"] == "meet.hospital.example"
    assert token["room"] == meeting.external_id
    assert consultation.starts_at.timestamp() - 3600 < token["nbf"] < consultation.starts_at.timestamp()
    assert (
        consultation.ends_at.timestamp()
        < token["exp"]
        < (consultation.ends_at + timedelta(hours=3)).timestamp()
    )


def test_only_the_clinicians_link_makes_a_moderator(jitsi):
    meeting = jitsi.create(make_consultation())

    host, patient = claims(meeting.host_url), claims(meeting.join_url)

    assert host["context"]["user"] == {
        "moderator": True,
        "name": "Dr Alex Jones",
        "email": "dr.jones@hospital.example",
    }
    assert patient["context"]["user"] == {"moderator": False}


def test_update_keeps_the_room_and_issues_tokens_for_the_new_time(jitsi):
    consultation = make_consultation()
    meeting = jitsi.create(consultation)
    consultation.starts_at += timedelta(days=1)
    consultation.ends_at += timedelta(days=1)

    moved = jitsi.update(consultation, meeting)

    assert moved.external_id == meeting.external_id
    assert claims(moved.join_url)["nbf"] == claims(meeting.join_url)["nbf"] + 86400
    assert claims(moved.host_url)["exp"] == claims(meeting.host_url)["exp"] + 86400


def test_cancel_needs_no_call(jitsi):
    consultation = make_consultation()

    assert jitsi.cancel(consultation, jitsi.create(consultation)) is None


def test_without_a_secret_links_are_plain_room_urls():
    jitsi = JitsiProvider(JitsiSettings.from_mapping(config.defaults()))

    meeting = jitsi.create(make_consultation())

    assert meeting.join_url == meeting.host_url == f"https://meet.jit.si/{meeting.external_id}"


def test_links_name_neither_the_patient_nor_the_reason(jitsi):
    meeting = jitsi.create(make_consultation())

    for url in (meeting.join_url, meeting.host_url):
        assert PATIENT_NAME not in str(claims(url)) and REASON not in str(claims(url))
