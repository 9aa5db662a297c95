"""One server-side session per sign-in: a copied cookie dies with the session it names, whatever ends it."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from clinic.audit import SYSTEM
from clinic.extensions import db
from clinic.models import AuditEvent, SessionEnd, StaffRole, StaffSession, StaffUser, utcnow
from clinic.models.transactions import write_transaction
from clinic.staff.accounts import change_password, deactivate_staff
from clinic.staff.sessions import TOUCH_EVERY, Client, check_session, end_sessions, hash_token
from clinic.staff.signin import sign_in_with_password

from . import factories
from .conftest import statements_run
from .factories import sign_in


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def admin(session):
    return factories.staff(session)


def signed_in_browser(app, user):
    browser = factories.browser(app)
    assert sign_in(browser, user).status_code == 303
    return browser


def copy_of(app, browser):
    """Another browser holding a copy of `browser`'s session cookie (an attacker's, say)."""
    thief = factories.browser(app)
    thief.set_cookie("session", browser.get_cookie("session").value)
    return thief


def assert_sent_to_sign_in(browser, page="/account"):
    response = browser.get(page)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def the_session(session) -> StaffSession:
    session.commit()
    (row,) = session.scalars(select(StaffSession)).all()
    return row


def shift_session(session, **fields) -> None:
    """Move the session's clock stamps, as time passing would."""
    with write_transaction(session):
        session.execute(update(StaffSession).values(**fields))


def test_a_copied_cookie_dies_at_logout(app, client, admin, session):
    sign_in(client, admin)
    thief = copy_of(app, client)
    assert thief.get("/account").status_code == 200

    assert client.post("/logout").headers["Location"] == "/login"

    assert_sent_to_sign_in(thief)
    assert_sent_to_sign_in(client)
    assert the_session(session).end_reason is SessionEnd.LOGOUT


def test_a_copied_cookie_dies_at_the_idle_timeout(app, client, admin, session):
    sign_in(client, admin)
    thief = copy_of(app, client)
    idle = app.config["STAFF_IDLE_MINUTES"]
    shift_session(session, last_seen_at=utcnow() - timedelta(minutes=idle - 1))
    assert client.get("/account").status_code == 200  # still inside the timeout: and seen now

    shift_session(session, last_seen_at=utcnow() - timedelta(minutes=idle + 1))

    assert_sent_to_sign_in(thief)
    assert_sent_to_sign_in(client)
    assert the_session(session).end_reason is SessionEnd.IDLE


def test_an_idle_browser_is_told_why_it_was_signed_out(app, client, admin, session):
    sign_in(client, admin)
    shift_session(session, last_seen_at=utcnow() - timedelta(hours=1))

    response = client.get("/account", follow_redirects=True)

    assert f"signed out after {app.config['STAFF_IDLE_MINUTES']} minutes without activity" in response.text


def sent_to_sign_in_from(browser, response) -> tuple[str | None, str]:
    """Where the sign-in page a refused request was sent to leads back to, and what that page says."""
    assert response.status_code == 302
    address = urlsplit(response.headers["Location"])
    assert address.path == "/login"
    return parse_qs(address.query).get("next", [None])[0], browser.get(response.headers["Location"]).text


def test_a_form_sent_after_the_idle_timeout_is_said_to_be_unsaved_and_leads_back_to_its_page(
    app, client, admin, session
):
    sign_in(client, admin)
    shift_session(session, last_seen_at=utcnow() - timedelta(minutes=app.config["STAFF_IDLE_MINUTES"] + 1))
    asked = {"current_password": factories.STAFF_PASSWORD, "new_password": "x" * 20, "confirm": "x" * 20}

    back, page = sent_to_sign_in_from(client, client.post("/account/password", data=asked))

    assert back == "/account"  # the page of the form: /account/password answers posts only
    assert "signed out after 30 minutes without activity" in page and "What you sent was not saved" in page


def test_a_page_asked_for_after_the_idle_timeout_leads_back_to_itself(app, client, admin, session):
    sign_in(client, admin)
    shift_session(session, last_seen_at=utcnow() - timedelta(hours=1))

    back, page = sent_to_sign_in_from(client, client.get("/admin/audit?action=staff.login"))

    assert back == "/admin/audit?action=staff.login"
    assert "Sign in to see that page." in page and "What you sent was not saved" not in page


def test_a_copied_cookie_dies_at_the_absolute_lifetime_however_active(app, client, admin, session):
    sign_in(client, admin)
    thief = copy_of(app, client)
    hours = app.config["STAFF_SESSION_HOURS"]
    shift_session(
        session, created_at=utcnow() - timedelta(hours=hours), expires_at=utcnow() - timedelta(seconds=1)
    )

    response = client.get("/account", follow_redirects=True)

    assert f"a sign-in lasts at most {hours} hours" in response.text
    assert_sent_to_sign_in(thief)
    assert the_session(session).end_reason is SessionEnd.EXPIRED


def test_a_copied_cookie_dies_at_a_password_change(app, client, admin, session, now):
    sign_in(client, admin)
    thief = copy_of(app, client)

    change_password(session, admin.id, "a brand new password", now=now, actor=SYSTEM)

    assert_sent_to_sign_in(thief)
    assert_sent_to_sign_in(client)
    assert the_session(session).end_reason is SessionEnd.PASSWORD_CHANGED
    assert sign_in(client, admin).status_code == 422
    assert sign_in(client, admin, password="a brand new password").status_code == 303


def test_changing_ones_own_password_ends_every_session_this_one_too(app, client, admin, session):
    sign_in(client, admin)
    thief = copy_of(app, client)
    new = {"current_password": factories.STAFF_PASSWORD, "new_password": "a brand new password"}

    response = client.post(
        "/account/password", data={**new, "confirm": new["new_password"]}, follow_redirects=True
    )

    assert "sign in with the new password" in response.text
    assert_sent_to_sign_in(thief)
    assert_sent_to_sign_in(client)
    assert sign_in(client, admin, password="a brand new password").status_code == 303


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"current_password": "not it", "new_password": "a brand new password"},
            "That is not your current password.",
        ),
        ({"new_password": "too short"}, "Use at least 12 characters."),
        ({"new_password": "a brand new password", "confirm": "another one"}, "The two new passwords differ."),
    ],
)
def test_a_password_change_that_fails_says_why_and_changes_nothing(client, admin, form, message):
    sign_in(client, admin)
    data = {"current_password": factories.STAFF_PASSWORD, "confirm": form.get("new_password"), **form}

    response = client.post("/account/password", data=data)

    assert response.status_code == 422
    assert message in response.text and 'aria-invalid="true"' in response.text
    assert client.get("/account").status_code == 200


def test_a_copied_cookie_dies_at_deactivation(app, client, admin, session, now):
    sign_in(client, admin)
    thief = copy_of(app, client)

    deactivate_staff(session, admin.id, now=now, actor=SYSTEM, keep_an_admin=False)

    assert_sent_to_sign_in(thief)
    assert the_session(session).end_reason is SessionEnd.DEACTIVATED
    assert sign_in(client, admin).status_code == 422


def test_a_copied_cookie_dies_when_an_admin_ends_the_sessions(app, client, admin, session, now):
    other = signed_in_browser(app, admin)
    sign_in(client, admin)
    thief = copy_of(app, client)

    ended = end_sessions(session, admin.id, SessionEnd.ADMIN, now=now, actor=SYSTEM)

    assert ended == 2
    for browser in (thief, client, other):
        assert_sent_to_sign_in(browser)
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "staff.session_ended")).all()
    assert [(e.actor, e.details["reason"]) for e in events] == [("system", "admin")] * 2


def test_a_second_sign_in_does_not_end_the_first(app, client, admin):
    sign_in(client, admin)
    second = signed_in_browser(app, admin)

    assert client.get("/account").status_code == 200
    assert second.get("/account").status_code == 200
    second.post("/logout")
    assert client.get("/account").status_code == 200


def test_signing_in_again_in_the_same_browser_ends_the_session_before(app, client, admin, session):
    colleague = factories.staff(session)
    sign_in(client, admin)
    thief = copy_of(app, client)

    assert sign_in(client, colleague).status_code == 303

    assert_sent_to_sign_in(thief)
    assert client.get("/account").status_code == 200


def test_sign_out_everywhere_else_ends_the_other_sessions_only(app, client, admin, session):
    sign_in(client, admin, remote_addr="198.51.100.5")
    laptop = signed_in_browser(app, admin)
    page = client.get("/account").text
    assert "198.51.100.5" in page and "(this browser)" in page

    response = client.post("/account/sessions/end-others", follow_redirects=True)

    assert "Signed out of 1 other session." in response.text
    assert_sent_to_sign_in(laptop)
    assert client.get("/account").status_code == 200


def test_a_sign_in_replaces_the_cookie_it_came_with(app, client, admin):
    """Session fixation: a cookie planted before the sign-in is not the signed-in one."""
    client.get("/login")
    planted = client.get_cookie("session")

    sign_in(client, admin)

    assert client.get_cookie("session").value != (planted.value if planted else None)


def test_the_database_keeps_only_a_hash_of_the_cookie_token(app, client, admin, session):
    sign_in(client, admin)
    token = client.application.session_interface.get_signing_serializer(app).loads(
        client.get_cookie("session").value
    )["_user_id"]

    row = the_session(session)

    assert row.token_hash == hash_token(token) and token not in row.token_hash
    assert row.user_agent and row.remote_addr == "127.0.0.1"


def test_last_seen_is_written_at_most_once_a_minute(session, admin, now):
    rules = factories.sign_in_rules().sessions
    token = _started(session, admin, now)

    check_session(session, token, now=now + TOUCH_EVERY / 2, rules=rules)
    assert the_session(session).last_seen_at == now
    check_session(session, token, now=now + TOUCH_EVERY, rules=rules)
    assert the_session(session).last_seen_at == now + TOUCH_EVERY


def test_a_session_lives_up_to_its_idle_timeout_and_lifetime(session, admin, now):
    rules = factories.sign_in_rules().sessions
    token = _started(session, admin, now)

    assert check_session(session, token, now=now + rules.idle, rules=rules).user is not None
    assert check_session(session, token, now=now + 2 * rules.idle, rules=rules).user is not None
    late = check_session(session, token, now=now + rules.lifetime, rules=rules)

    assert (late.user, late.ended) == (None, SessionEnd.EXPIRED)
    assert check_session(session, token, now=now, rules=rules).user is None  # ended stays ended


def test_the_check_reads_the_account_afresh_without_its_secrets(session, now):
    clinician = factories.clinician(session, [factories.service(session)])
    user = factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=clinician.id)
    rules = factories.sign_in_rules().sessions
    token = _started(session, user, now)

    signed_in = check_session(session, token, now=now, rules=rules).user
    with write_transaction(session):
        session.execute(update(StaffUser).values(display_name="Dr Renamed", role=StaffRole.ADMIN))
    renamed = check_session(session, token, now=now, rules=rules).user

    assert (signed_in.id, signed_in.email, signed_in.role) == (user.id, user.email, StaffRole.CLINICIAN)
    assert (signed_in.clinician_id, signed_in.has_totp, signed_in.get_id()) == (clinician.id, False, token)
    assert (renamed.display_name, renamed.is_admin) == ("Dr Renamed", True)
    secret_fields = ("password_hash", "totp_secret", "totp_pending_secret")
    assert not any(hasattr(signed_in, name) for name in secret_fields)


def test_a_staff_requests_session_check_runs_past_sqlalchemys_execution(app, admin, session):
    """Every staff request checks its session: on the driver's path (models.driver) it skips SQLAlchemy's
    execution and the loading of two entities, which a worker pays most for after a pause."""
    browser = signed_in_browser(app, admin)
    shift_session(session, last_seen_at=utcnow() - 2 * TOUCH_EVERY)

    with statements_run(db.engine) as run:
        assert browser.get("/healthz").status_code == 200

    assert the_session(session).last_seen_at > utcnow() - TOUCH_EVERY  # checked, and found alive
    assert not [statement for statement in run if "token_hash" in statement]


def _started(session, user, now) -> str:
    rules = factories.sign_in_rules()
    return sign_in_with_password(
        session, user.email, factories.STAFF_PASSWORD, now=now, rules=rules, client=Client("10.0.0.1")
    ).token


def test_the_keep_alive_a_note_page_asks_counts_as_activity_and_answers_nothing(app, client, admin, session):
    sign_in(client, admin)
    idle = app.config["STAFF_IDLE_MINUTES"]
    shift_session(session, last_seen_at=utcnow() - timedelta(minutes=idle - 1))

    alive = client.get("/account/alive")

    assert alive.status_code == 204 and alive.get_data() == b""
    assert utcnow() - the_session(session).last_seen_at < TOUCH_EVERY
    assert factories.browser(app).get("/account/alive").status_code == 302  # signed out: to sign-in


def test_the_time_left_a_page_asks_before_warning_counts_down_without_being_activity(
    app, client, admin, session
):
    sign_in(client, admin)
    idle = app.config["STAFF_IDLE_MINUTES"]
    shift_session(session, last_seen_at=utcnow() - timedelta(minutes=idle - 2))
    seen = the_session(session).last_seen_at

    left = client.get("/account/time-left")

    assert left.status_code == 200 and 100 < left.get_json()["seconds"] <= 120
    assert the_session(session).last_seen_at == seen  # asking is not activity: the warning asks by itself
    shift_session(session, last_seen_at=utcnow() - timedelta(minutes=idle + 1))
    assert client.get("/account/time-left").get_json() == {"seconds": 0}
    assert the_session(session).end_reason is SessionEnd.IDLE
    assert "signed out after 30 minutes without activity" in client.get("/login").text
    assert factories.browser(app).get("/account/time-left").get_json() == {"seconds": 0}


@pytest.mark.parametrize("polled", ["/schedule/updates", "/schedule/week/updates"])
def test_a_schedules_own_polling_does_not_keep_an_unattended_screen_signed_in(app, client, session, polled):
    person = factories.clinician(session, [factories.service(session)])
    doctor = factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=person.id)
    sign_in(client, doctor)
    idle = app.config["STAFF_IDLE_MINUTES"]
    shift_session(session, last_seen_at=utcnow() - timedelta(minutes=idle - 1))
    assert client.get(polled).status_code == 200  # still inside the timeout

    shift_session(session, last_seen_at=the_session(session).last_seen_at - timedelta(minutes=2))

    assert client.get(polled).status_code == 302
    assert the_session(session).end_reason is SessionEnd.IDLE


def test_a_stolen_session_cannot_guess_the_current_password_without_limit(app, client, admin, session):
    sign_in(client, admin)
    guess = {"new_password": "a thiefs new password", "confirm": "a thiefs new password"}
    per_address = app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]

    answers = [
        client.post("/account/password", data={**guess, "current_password": f"guess {n}"}).status_code
        for n in range(per_address + 1)
    ]
    right = client.post("/account/password", data={**guess, "current_password": factories.STAFF_PASSWORD})

    assert answers[:per_address] == [422] * per_address and answers[-1] == 429
    assert right.status_code == 429  # the address waits, as after failed sign-ins
    session.commit()
    failed = session.scalars(select(AuditEvent).where(AuditEvent.action == "staff.login_failed")).all()
    assert len(failed) == per_address
