"""The Zoom adapter against a fake Zoom API and OAuth server on loopback."""

from datetime import UTC, datetime, timedelta

import pytest

from clinic.meetings import ProviderAuthError
from clinic.meetings.zoom import ZoomProvider, ZoomSettings
from tests.fakes import providers
from tests.fakes.providers import PATIENT_NAME, REASON, make_consultation

# Bound here so pytest finds the fixtures (a plain import of them reads as unused to linters).
fake_providers, provider_settings = providers.fake_providers, providers.provider_settings


@pytest.fixture
def zoom(provider_settings):
    return ZoomProvider(ZoomSettings.from_mapping(provider_settings))


def test_create_schedules_a_waiting_room_meeting_for_the_default_user(zoom, fake_providers):
    consultation = make_consultation()

    meeting = zoom.create(consultation)

    [call] = fake_providers.requests_to("/meetings")
    assert call.path == "/zoom/v2/users/me/meetings"
    assert call.json() == {
        "topic": f"Video consultation {consultation.reference}",
        "type": 2,
        "start_time": "2026-03-10T09:00:00Z",
        "duration": 30,
        "settings": {"waiting_room": True, "join_before_host": False},
    }
    stored = fake_providers.zoom_meetings[meeting.external_id]
    assert (meeting.provider, meeting.join_url, meeting.host_url) == (
        "zoom",
        stored["join_url"],
        stored["start_url"],
    )


def test_meetings_are_hosted_by_the_configured_user(provider_settings, fake_providers):
    zoom = ZoomProvider(
        ZoomSettings.from_mapping(provider_settings | {"ZOOM_USER_ID": "host@hospital.example"})
    )

    zoom.create(make_consultation())

    assert fake_providers.requests_to("/users/")[0].path == "/zoom/v2/users/host@hospital.example/meetings"


def test_token_comes_from_account_credentials_with_basic_auth(zoom, fake_providers):
    zoom.create(make_consultation())

    [token_request] = fake_providers.requests_to("/oauth/token")
    assert token_request.query == {"grant_type": ["account_credentials"], "account_id": ["zoom-account"]}
    assert token_request.headers["authorization"].startswith("Basic ")


def test_update_moves_the_meeting_and_keeps_its_links(zoom, fake_providers):
    consultation = make_consultation()
    meeting = zoom.create(consultation)
    consultation.ends_at = consultation.ends_at.replace(minute=45)

    moved = zoom.update(consultation, meeting)

    [patch] = fake_providers.requests_to(f"/meetings/{meeting.external_id}")
    assert patch.method == "PATCH"
    assert patch.json() == {"start_time": "2026-03-10T09:00:00Z", "duration": 45}
    assert fake_providers.zoom_meetings[meeting.external_id]["duration"] == 45
    assert moved == meeting


def test_cancel_deletes_the_meeting_and_a_missing_one_counts_as_cancelled(zoom, fake_providers):
    consultation = make_consultation()
    meeting = zoom.create(consultation)

    zoom.cancel(consultation, meeting)
    zoom.cancel(consultation, meeting)

    assert fake_providers.zoom_meetings == {}


def test_one_token_serves_several_calls(zoom, fake_providers):
    consultation = make_consultation()

    meeting = zoom.create(consultation)
    zoom.update(consultation, meeting)
    zoom.cancel(consultation, meeting)

    assert len(fake_providers.requests_to("/oauth/token")) == 1


def test_a_refused_token_is_replaced_once_and_the_call_succeeds(zoom, fake_providers):
    consultation = make_consultation()
    meeting = zoom.create(consultation)
    fake_providers.expire_tokens()

    zoom.cancel(consultation, meeting)

    assert len(fake_providers.requests_to("/oauth/token")) == 2
    assert fake_providers.zoom_meetings == {}


def test_wrong_client_secret_is_an_auth_error(provider_settings):
    zoom = ZoomProvider(ZoomSettings.from_mapping(provider_settings | {"ZOOM_CLIENT_SECRET": "wrong"}))

    with pytest.raises(ProviderAuthError) as caught:
        zoom.create(make_consultation())

    assert caught.value.status == 400


def test_zoom_never_sees_the_patient_or_the_reason(zoom, fake_providers):
    consultation = make_consultation()

    zoom.update(consultation, zoom.create(consultation))

    assert PATIENT_NAME not in fake_providers.everything_received()
    assert REASON not in fake_providers.everything_received()


def test_a_retried_create_adopts_the_meeting_a_lost_response_made_and_deletes_extras(zoom, fake_providers):
    consultation = make_consultation()
    other = make_consultation(reference="OTHER1")
    first, second = zoom.create(consultation), zoom.create(consultation)  # two responses "lost"
    bystander = zoom.create(other)

    adopted = zoom.create(consultation, retry=True)

    # The oldest, with its host link fetched from the meeting itself (a start_url Zoom issues afresh).
    assert (adopted.external_id, adopted.join_url) == (first.external_id, first.join_url)
    assert adopted.host_url.startswith(f"https://zoom.example/s/{first.external_id}?zak=")
    assert set(fake_providers.zoom_meetings) == {first.external_id, bystander.external_id}
    assert second.external_id not in fake_providers.zoom_meetings
    assert not fake_providers.requests_to("/users/me/meetings")[-1].method == "POST"


def test_a_retried_create_finds_the_meeting_a_lost_response_made_once_its_start_has_passed(
    zoom, fake_providers
):
    """A walk-in call's meeting starts when it is made: by the retry of a create whose answer was lost, its
    start has passed and nobody has started it, so Zoom lists it among the previous meetings, not among the
    upcoming ones the retry asked for. The retry made a second meeting, and the first stayed at Zoom."""
    taken = datetime.now(UTC) - timedelta(minutes=1)
    consultation = make_consultation(starts_at=taken, ends_at=taken + timedelta(minutes=15))
    lost = zoom.create(consultation)  # its answer never came back

    again = zoom.create(consultation, retry=True)

    assert again.external_id == lost.external_id
    assert [m.external_id for m in fake_providers.live_meetings("zoom")] == [lost.external_id]


def test_a_retried_create_with_nothing_made_earlier_creates_one(zoom, fake_providers):
    fake_providers.zoom_meetings.update(
        {
            str(n): {
                "id": n,
                "topic": f"Video consultation X{n}",
                "start_time": "",
                "duration": 30,
                "join_url": "",
                "start_url": "",
            }
            for n in range(1, 302)
        }
    )  # more than one page of other consultations' meetings

    meeting = zoom.create(make_consultation(), retry=True)

    listings = [r for r in fake_providers.requests_to("/users/me/meetings") if r.method == "GET"]
    assert [r.query.get("next_page_token") for r in listings] == [None, ["300"]]
    assert meeting.external_id in fake_providers.zoom_meetings
