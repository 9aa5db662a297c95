"""Staff sign in with a password, are locked out after repeated failures, and stay signed out at logout."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.auth.sessions import LAST_SEEN, local_path
from clinic.extensions import db
from clinic.models import AuditEvent, StaffRole, StaffUser
from clinic.staff.accounts import AccountLocked, LockoutPolicy, LoginRefused, authenticate, change_password

from . import factories
from .conftest import build_app
from .factories import STAFF_PASSWORD, sign_in

POLICY = LockoutPolicy(max_failures=5, lock_for=timedelta(minutes=15))


@pytest.fixture
def client(app):
    app.test_client_class = factories.RequestScopedClient
    return app.test_client()


def events(session, action: str) -> list[AuditEvent]:
    session.commit()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def fresh(session, user: StaffUser) -> StaffUser:
    session.commit()
    return session.get(StaffUser, user.id, populate_existing=True)


def test_an_admin_signs_in_and_lands_on_the_admin_pages(client, session):
    admin = factories.staff(session, email="ada@hospital.example")

    response = client.post("/login", data={"email": "  ADA@Hospital.example ", "password": STAFF_PASSWORD})

    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert fresh(session, admin).last_login_at is not None
    (event,) = events(session, "staff.login")
    assert (event.actor, event.entity_id) == (f"staff:{admin.id}", str(admin.id))
    assert "ada" not in str(event.details)


def test_a_clinician_signs_in_to_a_page_that_says_who_they_are(client, session):
    clinician = factories.staff(session, role=StaffRole.CLINICIAN, display_name="Dr Lee")

    response = sign_in(client, clinician)

    assert response.headers["Location"] == "/login"
    page = client.get("/login").get_data(as_text=True)
    assert "You are signed in" in page and "Dr Lee" in page


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(client, session):
    admin = factories.staff(session)

    wrong = sign_in(client, admin, password="not the password")
    unknown = client.post("/login", data={"email": "nobody@hospital.example", "password": "whatever"})

    for response in (wrong, unknown):
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "The e-mail address or password is wrong." in page
        assert 'aria-describedby="password-error"' in page
    assert client.get("/admin/").status_code == 302
    refused = events(session, "staff.login_refused")
    assert [(e.actor, e.details) for e in refused] == [("anonymous", {"reason": "unknown address"})]
    assert "nobody" not in str([(e.details, e.entity_id) for e in refused])


def test_an_empty_form_says_what_is_missing_beside_each_field(client):
    response = client.post("/login", data={"email": "", "password": ""})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter your e-mail address." in page and "Enter your password." in page
    assert 'aria-describedby="email-error"' in page


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(client, session):
    admin = factories.staff(session)
    for _ in range(4):
        assert sign_in(client, admin, password="guess").status_code == 422

    fifth = sign_in(client, admin, password="guess")
    right = sign_in(client, admin)

    for response in (fifth, right):
        assert response.status_code == 429
        assert "locked until" in response.get_data(as_text=True)
        assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert client.get("/admin/").status_code == 302
    assert fresh(session, admin).locked_until is not None
    assert len(events(session, "staff.login_failed")) == 4
    assert len(events(session, "staff.locked")) == 1


def test_a_locked_account_opens_again_once_the_lockout_is_over(session, now):
    admin = factories.staff(session)
    for _ in range(5):
        with pytest.raises(LoginRefused):
            authenticate(session, admin.email, "guess", now=now, policy=POLICY)

    with pytest.raises(AccountLocked) as locked:
        authenticate(session, admin.email, STAFF_PASSWORD, now=now + timedelta(minutes=14), policy=POLICY)
    assert locked.value.until == now + timedelta(minutes=15)

    user = authenticate(session, admin.email, STAFF_PASSWORD, now=now + timedelta(minutes=16), policy=POLICY)
    assert (user.id, user.failed_logins, user.locked_until) == (admin.id, 0, None)


def test_failures_are_counted_in_the_database_across_web_processes(database_url, tmp_path, session):
    admin = factories.staff(session)
    first, second = (build_app(database_url, str(tmp_path / name)) for name in ("a", "b"))

    for app, tries in ((first, 3), (second, 2)):
        with app.app_context():
            client = app.test_client()
            responses = [sign_in(client, admin, password="guess") for _ in range(tries)]
            db.session.remove()
            db.engine.dispose()

    assert responses[-1].status_code == 429
    assert fresh(session, admin).locked_until is not None


def test_an_inactive_account_cannot_sign_in(client, session):
    admin = factories.staff(session, active=False)

    response = sign_in(client, admin)

    assert response.status_code == 422
    assert "The e-mail address or password is wrong." in response.get_data(as_text=True)


def test_logout_kills_a_copy_of_the_session_cookie(client, app, session):
    admin = factories.staff(session)
    sign_in(client, admin)
    copied = client.get_cookie("session").value

    response = client.post("/logout")
    assert response.headers["Location"] == "/login"
    assert client.get("/admin/").status_code == 302

    thief = app.test_client()
    thief.set_cookie("session", copied)
    replay = thief.get("/admin/outbox")
    assert replay.status_code == 302
    assert replay.headers["Location"].startswith("/login?next=")
    (event,) = events(session, "staff.logout")
    assert event.actor == f"staff:{admin.id}"


def test_a_password_change_ends_every_session_of_the_account(client, session, now):
    admin = factories.staff(session)
    sign_in(client, admin)
    assert client.get("/admin/").status_code == 200

    change_password(session, admin.id, "a brand new password", now=now, actor=Actor("system"))

    assert client.get("/admin/").status_code == 302
    assert sign_in(client, admin).status_code == 422
    assert sign_in(client, admin, password="a brand new password").status_code == 303


def test_a_session_idle_for_longer_than_the_timeout_is_signed_out(client, app, session):
    admin = factories.staff(session)
    sign_in(client, admin)
    minutes = app.config["STAFF_IDLE_MINUTES"]

    with client.session_transaction() as cookie:
        cookie[LAST_SEEN] = time.time() - (minutes - 1) * 60
    assert client.get("/admin/").status_code == 200

    with client.session_transaction() as cookie:
        cookie[LAST_SEEN] = time.time() - (minutes + 1) * 60
    response = client.get("/admin/")
    assert response.status_code == 302
    assert f"signed out after {minutes} minutes" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert client.get("/admin/").status_code == 302


def test_next_takes_the_admin_to_the_page_they_asked_for(client, session):
    admin = factories.staff(session)
    asked = client.get("/admin/services")
    assert asked.headers["Location"] == "/login?next=%2Fadmin%2Fservices"

    response = sign_in(client, admin, next="/admin/services")

    assert response.headers["Location"] == "/admin/services"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
def test_next_never_leads_off_the_site(client, session, target):
    admin = factories.staff(session)

    response = sign_in(client, admin, next=target)

    assert response.headers["Location"] == "/admin/"
    assert local_path(target) is None


def test_logout_needs_a_post(client, session):
    sign_in(client, factories.staff(session))

    assert client.get("/logout").status_code == 405
    assert client.get("/admin/").status_code == 200


def test_the_sign_in_form_is_protected_against_cross_site_posts(database_url, tmp_path, session):
    admin = factories.staff(session)
    app = build_app(database_url, str(tmp_path / "csrf"), WTF_CSRF_ENABLED=True)
    with app.app_context():
        response = sign_in(app.test_client(), admin)
        db.session.remove()
        db.engine.dispose()

    assert response.status_code == 400
    assert fresh(session, admin).last_login_at is None


def test_pages_show_who_is_signed_in_and_offer_sign_out(client, session):
    admin = factories.staff(session, display_name="Ada Admin")
    assert "Staff sign in" in client.get("/book").get_data(as_text=True)

    sign_in(client, admin)
    page = client.get("/book").get_data(as_text=True)

    assert "Ada Admin" in page and 'action="/logout"' in page
