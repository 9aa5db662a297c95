"""The admin settings page: every declared setting with secrets redacted, and real tests of the video
provider (a meeting made and cancelled) and of the mail server (the SMTP dialogue), each audited."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import html
import re
import socket
import time

import pytest
from sqlalchemy import select

from clinic.effective_settings import HIDDEN, NOT_SET, SET, declared_names, effective_settings, is_secret_name
from clinic.extensions import db
from clinic.models import AuditEvent, StaffRole
from clinic.notify.mail import mail_folder

from . import factories
from .conftest import build_app
from .factories import sign_in
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .test_admin_outbox import csrf_token

ZOOM_CREATE = "/zoom/v2/users/"
TESTER = "it-team@hospital.example"


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def admin_client(client, session):
    sign_in(client, factories.staff(session, display_name="Ada Admin", email="ada.admin@hospital.example"))
    session.commit()
    return client


def audited(session, action: str) -> list[AuditEvent]:
    session.commit()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def result_of(page: str) -> str:
    """The outcome box of a test, as text."""
    box = re.search(r'<div class="check-result" role="status">(.*?)</div>', page, re.S)[1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", box))


# Who may open the page


def test_anonymous_visitors_are_sent_to_sign_in(client, fake_providers, smtp_server):
    assert client.get("/admin/settings").headers["Location"].startswith("/login?next=%2Fadmin%2Fsettings")
    assert client.post("/admin/settings/test-provider", data={"provider": "zoom"}).status_code == 302
    assert client.post("/admin/settings/test-mail", data={"to": TESTER}).status_code == 302
    assert fake_providers.requests_to("/") == [] and smtp_server.received == []


@pytest.mark.parametrize("role", [StaffRole.CLINICIAN, StaffRole.RECEPTION])
def test_clinicians_and_reception_may_not_see_or_test_the_settings(client, session, role, smtp_server, app):
    app.config.update(smtp_server.settings())
    fields = {"department_id": factories.department(session).id} if role is StaffRole.RECEPTION else {}
    sign_in(client, factories.staff(session, role=role, **fields))

    assert client.get("/admin/settings").status_code == 403
    assert client.post("/admin/settings/test-mail", data={"to": TESTER}).status_code == 403
    assert client.post("/admin/settings/test-provider", data={"provider": "jitsi"}).status_code == 403
    assert smtp_server.received == [] and audited(session, "settings.mail_tested") == []


def test_both_tests_need_the_pages_csrf_token(database_url, tmp_path, session, smtp_server):
    admin = factories.staff(session)
    app = build_app(database_url, str(tmp_path / "csrf"), WTF_CSRF_ENABLED=True, **smtp_server.settings())
    with app.app_context():
        client = factories.browser(app)
        sign_in(client, admin, csrf_token=csrf_token(client.get("/login")))
        forged = [
            client.post("/admin/settings/test-mail", data={"to": TESTER}),
            client.post("/admin/settings/test-provider", data={"provider": "jitsi"}),
        ]
        token = csrf_token(client.get("/admin/settings"))
        genuine = client.post("/admin/settings/test-mail", data={"to": TESTER, "csrf_token": token})
        db.session.remove()
        db.engine.dispose()

    assert [response.status_code for response in forged] == [400, 400]
    assert genuine.status_code == 200
    assert len(smtp_server.inbox(TESTER)) == 1


# The effective configuration


def test_every_declared_setting_is_listed_with_its_value_and_comment(admin_client, app):
    app.config.update(HOSPITAL_NAME="St Settings Hospital", BOOKING_DAYS_SHOWN=9)

    page = admin_client.get("/admin/settings").text

    for name in declared_names():
        assert f"<code>{name}</code>" in page
    assert "<code>St Settings Hospital</code>" in page and "<code>9</code>" in page
    assert "Days of free times shown per page of the booking calendar: at most a month" in page
    assert {"SECRET_KEY", "SMTP_PASSWORD", "NOTES_KEY", "ZOOM_CLIENT_SECRET"} <= set(declared_names())


def test_no_secret_value_appears_in_the_page_for_a_config_full_of_secrets(admin_client, app):
    secrets = {
        name: f"Sec-{n:02}-{name.lower()}-value"
        for n, name in enumerate(declared_names())
        if is_secret_name(name) and name != "SECRET_KEY"  # it signs the admin's session: kept, and checked
    }
    secrets["NOTES_KEY"] = "notes-key-one-aaaa,notes-key-two-bbbb"
    app.config.update(
        secrets,
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://clinic:db-Pa55word@db.internal:5432/clinic",
        RATELIMIT_STORAGE_URL="redis://:redis-Pa55word@cache.internal:6379/0",
        WEBHOOK_URL="https://meet.hospital.example/hook?token=url-token-value&room=1",
        SMTP_HOST="notes-key-two-bbbb",  # a secret pasted where it does not belong
    )

    page = admin_client.get("/admin/settings").text

    for leaked in [
        app.config["SECRET_KEY"],
        *secrets.values(),
        "notes-key-one-aaaa",
        "notes-key-two-bbbb",
        "db-Pa55word",
        "redis-Pa55word",
        "url-token-value",
    ]:
        assert leaked not in page
    assert "postgresql+psycopg://clinic:(password set)@db.internal:5432/clinic" in page
    assert "redis://:(password set)@cache.internal:6379/0" in page
    assert "https://meet.hospital.example/hook?token=set&amp;room=1" in page
    assert len(secrets) >= 7 and page.count("<em>set</em>") >= len(secrets) + 1


def test_secrets_that_are_empty_say_not_set():
    shown = {
        s.name: s.shown
        for s in effective_settings({"SMTP_PASSWORD": "", "ZOOM_CLIENT_SECRET": None, "SECRET_KEY": "k" * 40})
    }

    assert shown["SMTP_PASSWORD"] == NOT_SET and shown["ZOOM_CLIENT_SECRET"] == NOT_SET
    assert shown["SECRET_KEY"] == SET


def test_values_inside_structures_and_malformed_urls_are_redacted_too():
    config = {
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "connect_args": {"password": "nested-secret"}},
        "PUBLIC_BASE_URL": "http://[::1:5000",  # malformed: never shown, in case it hides a password
        "SMTP_HOST": "relay nested-secret",
        "SMTP_PASSWORD": "nested-secret",
    }

    shown = {s.name: s.shown for s in effective_settings(config, config)}

    assert shown["SQLALCHEMY_ENGINE_OPTIONS"] == "{pool_pre_ping: true, connect_args: {password: set}}"
    assert shown["PUBLIC_BASE_URL"] == SET
    assert shown["SMTP_HOST"] == HIDDEN


# Test provider


def test_testing_the_provider_makes_and_cancels_a_real_meeting_and_shows_the_times(
    admin_client, app, session, fake_providers
):
    app.config.update(fake_providers.settings(), MEETING_PROVIDER="zoom")
    assert '<option selected value="zoom">Zoom</option>' in admin_client.get("/admin/settings").text

    response = admin_client.post("/admin/settings/test-provider", data={"provider": "zoom"})

    outcome = result_of(response.text)
    assert response.status_code == 200
    assert re.search(r"Zoom works\. Made the meeting in \d+ ms and cancelled it in \d+ ms\.", outcome)
    (created,) = fake_providers.requests_to(ZOOM_CREATE)
    assert created.json()["topic"].startswith("Video consultation TEST-")
    assert fake_providers.live_meetings("zoom") == []
    (event,) = audited(session, "settings.provider_tested")
    assert event.details == {"provider": "zoom", "ok": True, "failed_step": None}
    assert event.actor.startswith("staff:")


@pytest.mark.parametrize(("provider", "label"), [("teams", "Microsoft Teams"), ("webhook", "Webhook (the")])
def test_testing_each_provider_with_a_meeting_api_makes_and_cancels_a_real_meeting(
    admin_client, app, fake_providers, provider, label
):
    app.config.update(fake_providers.settings())

    response = admin_client.post("/admin/settings/test-provider", data={"provider": provider})

    outcome = result_of(response.text)
    assert response.status_code == 200
    assert outcome.strip().startswith(label)
    assert re.search(r" works\. Made the meeting in \d+ ms and cancelled it in \d+ ms\.", outcome)
    assert fake_providers.live_meetings(provider) == []


@pytest.mark.parametrize(
    ("status", "shown"),
    [(500, "ProviderUnavailable (HTTP 500)"), (401, "ProviderAuthError (HTTP 401)")],
)
def test_a_provider_that_fails_shows_the_exact_error(
    admin_client, app, session, fake_providers, status, shown
):
    app.config.update(fake_providers.settings())
    fake_providers.fail_next(2, status, path_contains=ZOOM_CREATE)

    response = admin_client.post("/admin/settings/test-provider", data={"provider": "zoom"})

    outcome = result_of(response.text)
    assert response.status_code == 200
    assert "Zoom failed to create the meeting" in outcome and shown in outcome
    (event,) = audited(session, "settings.provider_tested")
    assert event.details == {"provider": "zoom", "ok": False, "failed_step": "create"}


@pytest.mark.parametrize(
    ("provider", "create"), [("zoom", ZOOM_CREATE), ("teams", "/createOrGet"), ("webhook", "/webhook")]
)
def test_a_create_that_timed_out_names_the_meeting_it_may_have_made_so_an_admin_can_remove_it(
    admin_client, app, fake_providers, provider, create
):
    """A create with no answer in time (timed out, cut off, a gateway's 5xx) may still have made the test
    meeting: the page said only "failed to create the meeting", and "Video consultation TEST-…" stood in
    the organiser's calendar for tomorrow, nobody told."""
    app.config.update(fake_providers.settings())
    stall = app.config["PROVIDER_READ_TIMEOUT"] * 2
    fake_providers.stall_next(1, stall, path_contains=create)

    outcome = result_of(admin_client.post("/admin/settings/test-provider", data={"provider": provider}).text)

    assert "failed to create the meeting" in outcome and "timed out" in outcome
    time.sleep(stall)  # the provider answers at last, to nobody: the meeting is made
    (meeting,) = fake_providers.live_meetings(provider)
    assert f"It may have made the test meeting “{meeting.subject}” all the same" in html.unescape(outcome)


def test_a_meeting_made_but_not_cancelled_is_named_so_an_admin_can_remove_it(
    admin_client, app, fake_providers
):
    app.config.update(fake_providers.settings())
    fake_providers.fail_next(1, 400, path_contains="/zoom/v2/meetings/")

    outcome = result_of(admin_client.post("/admin/settings/test-provider", data={"provider": "zoom"}).text)

    (meeting,) = fake_providers.live_meetings("zoom")
    assert "Zoom failed to cancel the meeting" in outcome and "ProviderRejected (HTTP 400)" in outcome
    assert f"The test meeting {meeting.external_id} still exists" in outcome


def test_a_provider_without_its_settings_says_which_are_missing(admin_client, app):
    app.config.update(TEAMS_TENANT_ID=None, TEAMS_CLIENT_ID=None)

    outcome = result_of(admin_client.post("/admin/settings/test-provider", data={"provider": "teams"}).text)

    assert (
        "ProviderNotConfigured: missing settings: CLINIC_TEAMS_TENANT_ID, CLINIC_TEAMS_CLIENT_ID" in outcome
    )


# Jitsi has no meeting API to call: its test checks the server and the JWT settings instead

JITSI_SECRET = "jitsi-shared-secret-of-at-least-32-bytes"


@pytest.fixture
def jitsi_on_fake(app, fake_providers):
    """Jitsi with JWTs, its server the fake's /jitsi."""
    app.config.update(
        fake_providers.settings(),
        JITSI_BASE_URL=f"{fake_providers.url}/jitsi",
        JITSI_APP_ID="clinic",
        JITSI_APP_SECRET=JITSI_SECRET,
    )
    return fake_providers


def test_testing_jitsi_fetches_its_api_script_and_reads_back_a_token_of_its_jwt_settings(
    admin_client, session, jitsi_on_fake
):
    """The test made a room name, which calls nothing, and said "Jitsi works. Made the meeting in 0 ms"
    whatever the address or the JWT settings."""
    page = admin_client.post("/admin/settings/test-provider", data={"provider": "jitsi"}).text
    outcome = html.unescape(result_of(page))

    assert "Jitsi works." in outcome
    assert re.search(rf"{jitsi_on_fake.url}/jitsi/external_api.js answered in \d+ ms", outcome)
    assert "tokens that Jitsi's token authentication accepts (issuer clinic, for 127.0.0.1)" in outcome
    assert len(jitsi_on_fake.requests_to("/jitsi/external_api.js")) == 1
    (event,) = audited(session, "settings.provider_tested")
    assert event.details == {"provider": "jitsi", "ok": True, "failed_step": None}


def closed_port_url() -> str:
    """An address on this machine where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/jitsi"


@pytest.mark.parametrize(
    ("fault", "shown"),
    [
        ("unreachable", "could not connect to the server (ConnectionError)"),
        ("stalled", "timed out (ReadTimeout)"),
        (404, "ProviderRejected (HTTP 404)"),
        (503, "ProviderUnavailable (HTTP 503)"),
        ("another page", "answered 200, but not with Jitsi Meet's external_api.js"),
        ("no scheme", "CLINIC_JITSI_BASE_URL 'meet.hospital.example' names no server"),
        ("no secret", "missing settings: CLINIC_JITSI_APP_SECRET"),
    ],
)
def test_a_jitsi_check_that_fails_says_what_failed(admin_client, app, session, jitsi_on_fake, fault, shown):
    if fault == "unreachable":
        app.config["JITSI_BASE_URL"] = closed_port_url()
    elif fault == "stalled":
        jitsi_on_fake.stall_next(1, 3.0, path_contains="external_api.js")
    elif fault == "another page":
        jitsi_on_fake.jitsi_script = b"<html><body>Welcome to nginx!</body></html>"
    elif fault == "no scheme":
        app.config["JITSI_BASE_URL"] = "meet.hospital.example"
    elif fault == "no secret":
        app.config["JITSI_APP_SECRET"] = None
    else:
        jitsi_on_fake.fail_next(1, fault, path_contains="external_api.js")

    response = admin_client.post("/admin/settings/test-provider", data={"provider": "jitsi"})

    outcome = html.unescape(result_of(response.text))
    assert response.status_code == 200
    assert "Jitsi failed the check" in outcome and shown in outcome, outcome
    (event,) = audited(session, "settings.provider_tested")
    assert event.details == {"provider": "jitsi", "ok": False, "failed_step": "check"}


def test_a_provider_not_in_the_list_is_refused_beside_the_field(admin_client, session):
    response = admin_client.post("/admin/settings/test-provider", data={"provider": "skype"})

    assert response.status_code == 422 and "Choose one of the options in the list." in response.text
    assert audited(session, "settings.provider_tested") == []


# Send test mail


def test_a_test_mail_is_sent_and_the_servers_replies_shown(admin_client, app, session, smtp_server):
    app.config.update(smtp_server.settings())

    response = admin_client.post("/admin/settings/test-mail", data={"to": TESTER})

    outcome = result_of(response.text)
    assert response.status_code == 200 and outcome.startswith(" Accepted")
    assert "RCPT TO 250 OK" in outcome and "DATA 250 Message accepted for delivery" in outcome
    (message,) = smtp_server.inbox(TESTER)
    assert message["Subject"] == "Clinic test message"
    (event,) = audited(session, "settings.mail_tested")
    assert event.details == {"backend": "smtp", "accepted": True, "last_reply_code": 250}
    assert TESTER not in str(event.details)


def test_a_refused_recipient_shows_the_servers_refusal(admin_client, app, session, smtp_server):
    app.config.update(smtp_server.settings())
    smtp_server.refuse_recipient(TESTER)

    outcome = result_of(admin_client.post("/admin/settings/test-mail", data={"to": TESTER}).text)

    assert outcome.startswith(" Refused")
    assert f"RCPT TO 550 5.1.1 &lt;{TESTER}&gt;: Recipient address rejected" in outcome
    assert "DATA" not in outcome and smtp_server.received == []
    (event,) = audited(session, "settings.mail_tested")
    assert event.details == {"backend": "smtp", "accepted": False, "last_reply_code": 550}


def test_a_mail_server_that_does_not_answer_shows_the_exception(admin_client, app, smtp_server):
    app.config.update(smtp_server.settings())
    smtp_server.stop()

    outcome = result_of(admin_client.post("/admin/settings/test-mail", data={"to": TESTER}).text)

    assert outcome.startswith(" Not sent") and "ConnectionRefusedError" in outcome


def test_the_file_backend_says_where_it_wrote_the_message(admin_client, app):
    app.config.update(MAIL_BACKEND="file")

    outcome = result_of(admin_client.post("/admin/settings/test-mail", data={"to": TESTER}).text)

    assert outcome.startswith(" Accepted") and "the file backend sends nothing" in outcome
    assert len(list(mail_folder(app.instance_path).iterdir())) == 1


def test_an_address_that_is_not_one_is_refused_beside_the_field(admin_client, app, session, smtp_server):
    app.config.update(smtp_server.settings())

    response = admin_client.post("/admin/settings/test-mail", data={"to": "not an address"})

    assert response.status_code == 422
    assert "Enter an e-mail address like name@hospital.example." in response.text
    assert 'aria-describedby="to-error"' in response.text
    assert smtp_server.received == [] and audited(session, "settings.mail_tested") == []
