"""The webhook adapter against a fake hospital endpoint that checks every signature."""

import time

import pytest

from clinic.meetings import ProviderAuthError, ProviderUnavailable
from clinic.meetings.webhook import WebhookProvider, WebhookSettings, sign, verify_signature
from tests.fakes import providers
from tests.fakes.providers import PATIENT_NAME, REASON, WEBHOOK_SECRET, make_consultation

# Bound here so pytest finds the fixtures (a plain import of them reads as unused to linters).
fake_providers, provider_settings = providers.fake_providers, providers.provider_settings

NOW = 1_767_261_600
CREATE = b'{"event":"create"}'


@pytest.fixture
def webhook(provider_settings):
    return WebhookProvider(WebhookSettings.from_mapping(provider_settings))


def test_create_sends_a_signed_event_and_takes_the_links_answered(webhook, fake_providers):
    consultation = make_consultation()

    meeting = webhook.create(consultation)

    [call] = fake_providers.requests_to("/webhook")
    assert verify_signature(
        WEBHOOK_SECRET,
        call.headers["x-clinic-timestamp"],
        call.body,
        call.headers["x-clinic-signature"],
        time.time(),
    )
    assert call.json() == {
        "event": "create",
        "consultation": consultation.uuid,
        "key": consultation.uuid,
        "reference": consultation.reference,
        "subject": f"Video consultation {consultation.reference}",
        "starts_at": "2026-03-10T09:00:00Z",
        "ends_at": "2026-03-10T09:30:00Z",
        "host": {"email": "dr.jones@hospital.example", "display_name": "Dr Alex Jones"},
        "meeting": None,
    }
    answered = fake_providers.webhook_meetings[consultation.uuid]
    assert (meeting.provider, meeting.join_url, meeting.host_url, meeting.external_id) == (
        "webhook",
        answered["join_url"],
        answered["host_url"],
        answered["external_id"],
    )


def test_update_and_cancel_send_the_meeting_they_change(webhook, fake_providers):
    consultation = make_consultation()
    meeting = webhook.create(consultation)
    consultation.starts_at = consultation.starts_at.replace(hour=11)
    consultation.ends_at = consultation.ends_at.replace(hour=11)

    assert webhook.update(consultation, meeting) == meeting
    webhook.cancel(consultation, meeting)

    update, cancel = (r.json() for r in fake_providers.requests_to("/webhook")[1:])
    assert (update["event"], update["starts_at"]) == ("update", "2026-03-10T11:00:00Z")
    assert update["meeting"] == {
        "join_url": meeting.join_url,
        "host_url": meeting.host_url,
        "external_id": meeting.external_id,
    }
    assert cancel["event"] == "cancel"
    assert fake_providers.webhook_meetings == {}


def test_cancelling_a_meeting_the_endpoint_no_longer_knows_counts_as_done(webhook, fake_providers):
    consultation = make_consultation()
    meeting = webhook.create(consultation)
    webhook.cancel(consultation, meeting)

    webhook.cancel(consultation, meeting)

    assert len(fake_providers.requests_to("/webhook")) == 3


def test_a_wrong_secret_is_refused_by_the_endpoint(provider_settings):
    webhook = WebhookProvider(WebhookSettings.from_mapping(provider_settings | {"WEBHOOK_SECRET": "guess"}))

    with pytest.raises(ProviderAuthError):
        webhook.create(make_consultation())


@pytest.mark.parametrize(
    ("timestamp", "body", "now"),
    [
        (str(NOW), b'{"event":"cancel"}', NOW),
        (str(NOW - 1), CREATE, NOW),
        (str(NOW), CREATE, NOW + 600),
        ("soon", CREATE, NOW),
    ],
    ids=["body-changed", "timestamp-changed", "replayed-later", "not-a-timestamp"],
)
def test_a_tampered_or_stale_request_fails_verification(timestamp, body, now):
    signature = sign(WEBHOOK_SECRET, str(NOW), CREATE)

    assert not verify_signature(WEBHOOK_SECRET, timestamp, body, signature, now=now)


def test_a_signature_not_in_ascii_fails_verification_rather_than_raising():
    signature = sign(WEBHOOK_SECRET, str(NOW), CREATE)

    assert not verify_signature(WEBHOOK_SECRET, str(NOW), CREATE, signature[:-1] + "é", now=NOW)


def test_a_fresh_untouched_request_passes_verification():
    signature = sign(WEBHOOK_SECRET, str(NOW), CREATE)

    assert verify_signature(WEBHOOK_SECRET, str(NOW), CREATE, signature, now=NOW + 5)


def test_the_endpoint_never_sees_the_patient_or_the_reason(webhook, fake_providers):
    consultation = make_consultation()

    webhook.cancel(consultation, webhook.update(consultation, webhook.create(consultation)))

    assert PATIENT_NAME not in fake_providers.everything_received()
    assert REASON not in fake_providers.everything_received()


@pytest.mark.parametrize(
    "answer",
    [
        {"join_url": ""},
        {"join_url": None},
        {"join_url": "video.hospital.example/room-1"},  # no scheme: a path on the clinic's own site
        {"join_url": "javascript:alert(1)"},
        {"host_url": "/host/room-1"},
        {"external_id": ""},
    ],
)
def test_an_answer_without_a_usable_link_is_a_provider_fault_not_a_meeting(webhook, fake_providers, answer):
    """An endpoint that answers 200 with an empty or unusable link made a "meeting" the patient could never
    join: stored as made, it was never asked again, and their page said the link was being prepared until
    the end. A fault to retry, and then to fall back from, instead."""
    fake_providers.webhook_answers_with = answer

    with pytest.raises(ProviderUnavailable, match="answered with no usable"):
        webhook.create(make_consultation())
