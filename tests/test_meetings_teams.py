"""The Teams adapter against a fake Microsoft Graph on loopback."""

from types import SimpleNamespace

import pytest

from clinic.meetings import ProviderAuthError
from clinic.meetings.teams import TeamsProvider, TeamsSettings
from tests.fakes import providers
from tests.fakes.providers import ORGANIZER_ID, PATIENT_NAME, REASON, make_consultation

# Bound here so pytest finds the fixtures (a plain import of them reads as unused to linters).
fake_providers, provider_settings = providers.fake_providers, providers.provider_settings


@pytest.fixture
def teams(provider_settings):
    return TeamsProvider(TeamsSettings.from_mapping(provider_settings))


def test_create_asks_graph_for_a_lobby_meeting_keyed_by_the_consultation(teams, fake_providers):
    consultation = make_consultation()

    meeting = teams.create(consultation)

    [call] = fake_providers.requests_to("/createOrGet")
    assert call.path == f"/graph/v1.0/users/{ORGANIZER_ID}/onlineMeetings/createOrGet"
    body = call.json()
    assert body["externalId"] == f"{consultation.uuid}.c7"  # and its clinician's id: the co-organizer
    assert body["subject"] == f"Video consultation {consultation.reference}"
    assert (body["startDateTime"], body["endDateTime"]) == ("2026-03-10T09:00:00Z", "2026-03-10T09:30:00Z")
    assert body["lobbyBypassSettings"] == {"scope": "organizer", "isDialInBypassEnabled": False}
    assert body["participants"]["attendees"] == [{"upn": "dr.jones@hospital.example", "role": "coorganizer"}]
    stored = fake_providers.graph_meetings[meeting.external_id]
    assert meeting.provider == "teams"
    assert meeting.join_url == meeting.host_url == stored["joinWebUrl"]


def test_creating_twice_for_one_consultation_gives_one_meeting(teams, fake_providers):
    consultation = make_consultation()

    first = teams.create(consultation)
    second = teams.create(consultation)

    assert first == second
    assert len(fake_providers.graph_meetings) == 1


def test_creating_for_the_clinician_a_consultation_was_handed_to_gives_another_meeting(teams, fake_providers):
    """A create whose answer was lost, retried after a hand-over, must not be answered with the meeting
    made for the first clinician, who is its co-organizer."""
    consultation = make_consultation()
    first = teams.create(consultation)

    handed = make_consultation(
        uuid=consultation.uuid,
        clinician_id=8,
        clinician=SimpleNamespace(email="dr.lewis@hospital.example", display_name="Dr Sam Lewis"),
    )
    second = teams.create(handed)

    assert second.external_id != first.external_id
    attendees = fake_providers.graph_meetings[second.external_id]["participants"]["attendees"]
    assert attendees == [{"upn": "dr.lewis@hospital.example", "role": "coorganizer"}]


def test_update_moves_the_meeting_with_both_start_and_end(teams, fake_providers):
    consultation = make_consultation()
    meeting = teams.create(consultation)
    consultation.starts_at = consultation.starts_at.replace(hour=14)
    consultation.ends_at = consultation.ends_at.replace(hour=14)

    moved = teams.update(consultation, meeting)

    [patch] = fake_providers.requests_to(f"/onlineMeetings/{meeting.external_id}")
    assert patch.method == "PATCH"
    assert patch.json() == {"startDateTime": "2026-03-10T14:00:00Z", "endDateTime": "2026-03-10T14:30:00Z"}
    assert moved == meeting


def test_cancel_deletes_the_meeting_and_a_missing_one_counts_as_cancelled(teams, fake_providers):
    consultation = make_consultation()
    meeting = teams.create(consultation)

    teams.cancel(consultation, meeting)
    teams.cancel(consultation, meeting)

    assert fake_providers.graph_meetings == {}
    assert [r.method for r in fake_providers.requests_to("/onlineMeetings/MSo")] == ["DELETE", "DELETE"]


def test_one_token_serves_several_calls(teams, fake_providers):
    consultation = make_consultation()

    meeting = teams.create(consultation)
    teams.update(consultation, meeting)
    teams.cancel(consultation, meeting)

    [token_request] = fake_providers.requests_to("/oauth2/v2.0/token")
    assert token_request.path == "/login/tenant-0001/oauth2/v2.0/token"


def test_an_expired_token_is_not_reused(teams, fake_providers):
    fake_providers.token_lifetime = 0

    teams.create(make_consultation())
    teams.create(make_consultation())

    assert len(fake_providers.requests_to("/oauth2/v2.0/token")) == 2


def test_a_refused_token_is_replaced_once_and_the_call_succeeds(teams, fake_providers):
    teams.create(make_consultation())
    fake_providers.expire_tokens()

    teams.create(make_consultation())

    assert len(fake_providers.requests_to("/oauth2/v2.0/token")) == 2
    assert len(fake_providers.graph_meetings) == 2


def test_a_fresh_token_refused_again_is_an_auth_error(teams, fake_providers):
    fake_providers.fail_next(2, 401, path_contains="/onlineMeetings")

    with pytest.raises(ProviderAuthError) as caught:
        teams.create(make_consultation())

    assert caught.value.status == 401
    assert len(fake_providers.requests_to("/oauth2/v2.0/token")) == 2
    assert len(fake_providers.requests_to("/createOrGet")) == 2


def test_wrong_client_secret_is_an_auth_error(provider_settings, fake_providers):
    teams = TeamsProvider(TeamsSettings.from_mapping(provider_settings | {"TEAMS_CLIENT_SECRET": "wrong"}))

    with pytest.raises(ProviderAuthError):
        teams.create(make_consultation())

    assert fake_providers.requests_to("/graph/") == []


def test_graph_never_sees_the_patient_or_the_reason(teams, fake_providers):
    consultation = make_consultation()

    teams.update(consultation, teams.create(consultation))

    assert PATIENT_NAME not in fake_providers.everything_received()
    assert REASON not in fake_providers.everything_received()
