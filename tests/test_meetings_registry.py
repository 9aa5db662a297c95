"""Choosing and configuring a provider from the app's settings, and reading Retry-After."""

from datetime import UTC, datetime

import pytest

import config
from clinic.meetings import PROVIDER_NAMES, ProviderNotConfigured, get_provider
from clinic.meetings.http import parse_retry_after
from clinic.meetings.teams import TeamsSettings
from tests.fakes.providers import make_consultation

DEFAULTS = config.defaults()


def test_the_default_config_gives_jitsi_links():
    provider = get_provider(DEFAULTS["MEETING_PROVIDER"], DEFAULTS)

    meeting = provider.create(make_consultation())

    assert provider.name == "jitsi"
    assert meeting.join_url.startswith("https://meet.jit.si/")


def test_every_provider_is_registered_under_its_own_name():
    settings = DEFAULTS | {
        "TEAMS_TENANT_ID": "t",
        "TEAMS_CLIENT_ID": "c",
        "TEAMS_CLIENT_SECRET": "s",
        "TEAMS_ORGANIZER_ID": "o",
        "ZOOM_ACCOUNT_ID": "a",
        "ZOOM_CLIENT_ID": "c",
        "ZOOM_CLIENT_SECRET": "s",
        "WEBHOOK_URL": "https://integration.hospital.example/meetings",
        "WEBHOOK_SECRET": "s",
    }

    assert [get_provider(name, settings).name for name in PROVIDER_NAMES] == [
        "jitsi",
        "teams",
        "zoom",
        "webhook",
    ]


def test_equal_settings_share_one_adapter_so_its_token_stays_cached():
    first = get_provider("jitsi", dict(DEFAULTS))

    assert get_provider("jitsi", dict(DEFAULTS)) is first
    assert get_provider("jitsi", DEFAULTS | {"JITSI_BASE_URL": "https://meet.hospital.example"}) is not first


def test_an_unknown_provider_is_not_configured():
    with pytest.raises(ProviderNotConfigured, match="'skype'; choose one of jitsi, teams, zoom, webhook"):
        get_provider("skype", DEFAULTS)


def test_missing_credentials_are_named_by_their_environment_variable():
    with pytest.raises(ProviderNotConfigured) as caught:
        get_provider("teams", DEFAULTS | {"TEAMS_TENANT_ID": "t"})

    assert str(caught.value) == (
        "missing settings: CLINIC_TEAMS_CLIENT_ID, CLINIC_TEAMS_CLIENT_SECRET, CLINIC_TEAMS_ORGANIZER_ID"
    )


def test_a_jitsi_secret_without_its_app_id_is_not_configured():
    with pytest.raises(ProviderNotConfigured, match="CLINIC_JITSI_APP_ID"):
        get_provider("jitsi", DEFAULTS | {"JITSI_APP_SECRET": "secret"})


def test_secrets_stay_out_of_settings_reprs():
    settings = TeamsSettings.from_mapping(
        DEFAULTS
        | {
            "TEAMS_TENANT_ID": "t",
            "TEAMS_CLIENT_ID": "c",
            "TEAMS_CLIENT_SECRET": "hunter2",
            "TEAMS_ORGANIZER_ID": "o",
        }
    )

    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("30", 30.0),
        (" 0 ", 0.0),
        ("Tue, 10 Mar 2026 09:01:30 GMT", 90.0),
        ("Tue, 10 Mar 2026 08:59:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        ("²", None),  # byte 0xB2 as a header decodes it, which str.isdigit() takes for a digit
        ("", None),
        (None, None),
        # Past any wait a consultation can take, and past the calendar's end: a week.
        ("99999999999999", 7 * 86400.0),
        ("1" + "0" * 400, 7 * 86400.0),  # past what a float holds, too
        ("Fri, 31 Dec 9999 23:59:59 GMT", 7 * 86400.0),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(header, seconds):
    now = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)

    assert parse_retry_after(header, now=now) == seconds
