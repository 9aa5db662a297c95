"""How every HTTP adapter reports a provider's failures: typed errors the outbox can act on."""

import time

import pytest

import config
from clinic.meetings import ProviderRateLimited, ProviderRejected, ProviderUnavailable
from clinic.meetings.teams import TeamsProvider
from clinic.meetings.webhook import WebhookProvider
from clinic.meetings.zoom import ZoomProvider
from tests.fakes import providers
from tests.fakes.providers import make_consultation, settings_for

# Bound here so pytest finds the fixtures (a plain import of them reads as unused to linters).
fake_providers, provider_settings = providers.fake_providers, providers.provider_settings

# Each adapter, and a path fragment of its meeting calls (not of its token requests).
ADAPTERS = {
    "teams": (TeamsProvider, "/graph/"),
    "zoom": (ZoomProvider, "/zoom/v2/"),
    "webhook": (WebhookProvider, "/webhook"),
}


@pytest.fixture(params=ADAPTERS)
def adapter(request, provider_settings):
    provider_type, _ = ADAPTERS[request.param]
    return provider_type(provider_type.settings_type.from_mapping(provider_settings))


@pytest.fixture
def api_path(adapter):
    return ADAPTERS[adapter.name][1]


def test_a_server_error_is_unavailable_without_a_delay(adapter, api_path, fake_providers):
    fake_providers.fail_next(1, 500, path_contains=api_path)

    with pytest.raises(ProviderUnavailable) as caught:
        adapter.create(make_consultation())

    assert type(caught.value) is ProviderUnavailable
    assert (caught.value.status, caught.value.retry_after) == (500, None)


def test_a_busy_server_passes_on_its_retry_after(adapter, api_path, fake_providers):
    fake_providers.fail_next(1, 503, path_contains=api_path, retry_after="120")

    with pytest.raises(ProviderUnavailable) as caught:
        adapter.create(make_consultation())

    assert caught.value.retry_after == 120


def test_too_many_requests_is_rate_limited_with_the_seconds_to_wait(adapter, api_path, fake_providers):
    fake_providers.fail_next(1, 429, path_contains=api_path, retry_after="7")

    with pytest.raises(ProviderRateLimited) as caught:
        adapter.create(make_consultation())

    assert (caught.value.status, caught.value.retry_after) == (429, 7)


def test_retry_after_may_be_an_http_date(adapter, api_path, fake_providers):
    in_a_minute = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    fake_providers.fail_next(1, 429, path_contains=api_path, retry_after=in_a_minute)

    with pytest.raises(ProviderRateLimited) as caught:
        adapter.create(make_consultation())

    assert 55 <= caught.value.retry_after <= 60


def test_a_bad_request_is_rejected_not_retried(adapter, api_path, fake_providers):
    fake_providers.fail_next(1, 400, path_contains=api_path)

    with pytest.raises(ProviderRejected) as caught:
        adapter.create(make_consultation())

    assert caught.value.status == 400


def test_a_provider_slower_than_the_read_timeout_is_unavailable_in_time(
    adapter, api_path, fake_providers, provider_settings
):
    read_timeout = provider_settings["PROVIDER_READ_TIMEOUT"]
    fake_providers.stall_next(1, read_timeout * 4, path_contains=api_path)
    started = time.monotonic()

    with pytest.raises(ProviderUnavailable):
        adapter.create(make_consultation())

    assert time.monotonic() - started < read_timeout * 2  # gave up at the timeout, not after the stall


def test_a_provider_dripping_its_answer_is_unavailable_in_time_and_the_next_call_works(
    adapter, api_path, fake_providers, provider_settings
):
    # Each byte comes well within the read timeout, which bounds each read, not the answer: a meeting's JSON
    # dripped so took a minute here, hours at a real provider's size and pace, and held the worker (and every
    # message of its batch behind it) till the end.
    connect, read = provider_settings["PROVIDER_CONNECT_TIMEOUT"], provider_settings["PROVIDER_READ_TIMEOUT"]
    fake_providers.drip_next(1, read / 10, path_contains=api_path)
    started = time.monotonic()

    with pytest.raises(ProviderUnavailable, match="timed out"):
        adapter.create(make_consultation())

    assert time.monotonic() - started < connect + read * 2  # the whole answer within its timeouts
    assert adapter.create(make_consultation()).join_url.startswith("https://")


@pytest.mark.parametrize("lifetime", [None, "an hour", [3599], {"seconds": 3599}])
@pytest.mark.parametrize("name", ["teams", "zoom"])
def test_a_token_answer_of_the_wrong_shape_is_a_provider_fault(
    provider_settings, fake_providers, name, lifetime
):
    # float() of it raised TypeError or ValueError out of the adapter: the outbox, which falls back only from
    # a ProviderError, retried the meeting until it was a dead letter, and a walk-in caller waited for a link.
    provider_type, _ = ADAPTERS[name]
    adapter = provider_type(provider_type.settings_type.from_mapping(provider_settings))
    fake_providers.token_lifetime = lifetime

    with pytest.raises(ProviderUnavailable, match="token"):
        adapter.create(make_consultation())


def test_the_call_after_a_failure_succeeds(adapter, api_path, fake_providers):
    fake_providers.fail_next(1, 502, path_contains=api_path)
    consultation = make_consultation()
    with pytest.raises(ProviderUnavailable):
        adapter.create(consultation)

    meeting = adapter.create(consultation)

    assert meeting.join_url.startswith("https://")


def test_an_unreachable_provider_is_unavailable(adapter):
    # Port 9 (discard): nothing listens on loopback, so the connection is refused.
    settings = type(adapter).settings_type.from_mapping(
        config.defaults() | settings_for("http://127.0.0.1:9")
    )

    with pytest.raises(ProviderUnavailable) as caught:
        type(adapter)(settings).create(make_consultation())

    assert caught.value.status is None
