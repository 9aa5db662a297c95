"""Manage and join links come from their own key and a per-booking seed that nothing sent carries:
the invite's UID with any key opens nothing, links sent before still open, and keys rotate."""

import hashlib
import hmac
from base64 import urlsafe_b64encode

import pytest

from clinic.models import Consultation, utcnow
from clinic.notify.ics import invite_uid
from clinic.scheduling.companions import companion_for_token
from clinic.scheduling.errors import NotFound
from clinic.scheduling.tokens import LinkKeys, manage_token

from . import factories
from .conftest import TEST_KEYS, TEST_SECRET, build_app
from .test_booking_pages import next_week_at
from .test_manage_link import follow

FIRST, SECOND = "first-manage-token-key-0123456789", "second-manage-token-key-0123456789"


@pytest.fixture
def service(session):
    service = factories.service(session, name="Skin check review")
    factories.clinician(session, [service])
    session.commit()
    return service


def old_token(secret_key: str, purpose: str, uuid: str) -> str:
    """A link's token as it was made before CLINIC_MANAGE_TOKEN_KEY: from SECRET_KEY and the UUID."""
    digest = hmac.new(secret_key.encode(), f"{purpose}:{uuid}".encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode()


def sent_before(consultation: Consultation) -> str:
    """Make `consultation` a booking from before the change (only its old token's hash was kept)."""
    token = old_token(TEST_SECRET, "manage-link", consultation.uuid)
    consultation.link_seed = hashlib.sha256(token.encode()).hexdigest()
    return token


def opens(client, consultation: Consultation, token: str) -> bool:
    answer = client.get(
        f"/api/v1/bookings/{consultation.reference}", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code in (200, 404)
    return answer.status_code == 200


def app_with(database_url, tmp_path, **settings):
    return build_app(database_url, str(tmp_path / "other"), **settings)


def test_a_token_rederived_from_the_invites_uid_opens_nothing(client, session, service):
    consultation = factories.booking(session, service, next_week_at(10), now=utcnow()).consultation
    uid = invite_uid(consultation.uuid, "clinic.example").partition("@")[0]  # what every invite carries

    for key in (TEST_SECRET, *TEST_KEYS.keys):
        assert not opens(client, consultation, old_token(key, "manage-link", uid))
    assert opens(client, consultation, manage_token(TEST_KEYS, consultation))


def test_a_manage_link_sent_before_the_change_still_opens_its_booking(client, session, service):
    consultation = factories.booking(session, service, next_week_at(10), now=utcnow()).consultation
    token = sent_before(consultation)
    session.commit()

    assert opens(client, consultation, token)
    assert opens(client, consultation, manage_token(TEST_KEYS, consultation))  # the link later mails carry


def test_a_join_link_sent_before_the_change_still_opens_the_companions_invitation(session, service):
    companion = factories.companion_details()
    consultation = factories.booking(session, service, next_week_at(10), now=utcnow(), companion=companion)
    invited = consultation.consultation.companion
    token = old_token(TEST_SECRET, "companion-link", invited.uuid)
    invited.link_seed = hashlib.sha256(token.encode()).hexdigest()
    session.commit()
    reference = consultation.consultation.reference

    found = companion_for_token(session, reference, token, keys=TEST_KEYS, now=utcnow(), grace_days=7)

    assert found.id == invited.id
    with pytest.raises(NotFound):  # a manage token is no join token, old or new
        companion_for_token(
            session, reference, consultation.manage_token, keys=TEST_KEYS, now=utcnow(), grace_days=7
        )


def test_a_new_manage_token_key_put_first_keeps_the_old_keys_links_working(
    database_url, tmp_path, session, service
):
    consultation = factories.booking(session, service, next_week_at(10), now=utcnow()).consultation
    sent = manage_token(LinkKeys((FIRST,)), consultation)
    rotated = app_with(database_url, tmp_path, MANAGE_TOKEN_KEY=f"{SECOND},{FIRST}")
    retired = app_with(database_url, tmp_path, MANAGE_TOKEN_KEY=SECOND)

    new = manage_token(LinkKeys.from_config(rotated.config), consultation)

    assert new != sent and new == manage_token(LinkKeys((SECOND,)), consultation)
    assert opens(rotated.test_client(), consultation, sent) and opens(
        rotated.test_client(), consultation, new
    )
    assert not opens(retired.test_client(), consultation, sent) and opens(
        retired.test_client(), consultation, new
    )


def test_a_new_secret_key_with_the_old_one_as_fallback_keeps_sessions_and_links(
    client, database_url, tmp_path, session, service
):
    booked = factories.booking(session, service, next_week_at(10), now=utcnow())
    reference = booked.consultation.reference
    follow(client, f"/c/{reference}#t={booked.manage_token}")  # this browser's session now holds the token
    cookie = client.get_cookie("session").value

    rotated = app_with(
        database_url, tmp_path, SECRET_KEY="a-new-secret-key", SECRET_KEY_FALLBACKS=[TEST_SECRET]
    )
    replaced = app_with(database_url, tmp_path, SECRET_KEY="a-new-secret-key", SECRET_KEY_FALLBACKS=[])
    pages = {}
    for name, app in (("rotated", rotated), ("replaced", replaced)):
        browser = app.test_client()
        browser.set_cookie("session", cookie)
        pages[name] = browser.get(f"/c/{reference}").get_data(as_text=True)

    assert "data-link-form" not in pages["rotated"] and reference in pages["rotated"]
    assert "data-link-form" in pages["replaced"]  # the session is unreadable: the page asks for the link
    assert opens(rotated.test_client(), booked.consultation, booked.manage_token)
    assert not opens(replaced.test_client(), booked.consultation, booked.manage_token)
