"""Staff sign in with a password; unknown, wrong, inactive and locked get one answer; redirects stay local."""

import re
import time
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from clinic.auth.sessions import local_path
from clinic.extensions import db
from clinic.models import AuditEvent, StaffRole, StaffUser, utcnow

from . import factories
from .conftest import build_app
from .factories import STAFF_PASSWORD, sign_in

REFUSED = "The e-mail address or password is wrong, or the account is locked after too many attempts."


@pytest.fixture
def client(app):
    return factories.browser(app)


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
    assert event.details["method"] == "password"
    assert "ada" not in str(event.details)


@pytest.mark.parametrize("role", [StaffRole.CLINICIAN, StaffRole.RECEPTION])
def test_clinicians_and_reception_sign_in_to_their_schedule_which_says_who_they_are(client, session, role):
    person = factories.clinician(session, [factories.service(session)])
    user = factories.linked_staff(session, person, role, display_name="Dr Lee")

    response = sign_in(client, user)
    again = client.get("/login")

    assert response.headers["Location"] == again.headers["Location"] == "/schedule/"
    page = client.get("/schedule/").get_data(as_text=True)
    assert "Dr Lee" in page and 'action="/logout"' in page


def test_unknown_wrong_inactive_and_locked_accounts_get_the_same_answer(client, session):
    admin = factories.staff(session)
    inactive = factories.staff(session, active=False)
    locked = factories.staff(session, locked_until=utcnow() + timedelta(minutes=10))

    answers = [
        sign_in(client, admin, password="not the password"),
        client.post("/login", data={"email": "nobody@hospital.example", "password": "whatever"}),
        sign_in(client, inactive),
        sign_in(client, locked),
        sign_in(client, locked, password="not the password"),
    ]

    for response in answers:
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "Retry-After" not in response.headers
        assert REFUSED in page
        assert 'aria-describedby="password-error"' in page
    assert client.get("/admin/").status_code == 302
    refused = events(session, "staff.login_refused")
    assert [(e.actor, e.details["reason"]) for e in refused] == [
        ("anonymous", "unknown address"),
        (f"staff:{inactive.id}", "inactive"),
        (f"staff:{locked.id}", "locked"),
        (f"staff:{locked.id}", "locked"),
    ]
    assert "nobody" not in str([(e.details, e.entity_id) for e in refused])


def test_a_locked_account_answers_as_slowly_as_an_unknown_one(client, session):
    """The fault: a locked account answered 429 in 18 ms, an unknown address 422 in 400 ms."""
    admin = factories.staff(session)
    locked = factories.staff(session, locked_until=utcnow() + timedelta(minutes=10))
    attempts = {
        "unknown": {"email": "nobody@hospital.example", "password": "whatever"},
        "wrong": {"email": admin.email, "password": "not the password"},
        "locked": {"email": locked.email, "password": STAFF_PASSWORD},
    }
    client.post("/login", data=attempts["unknown"], environ_base={"REMOTE_ADDR": "10.9.9.9"})  # warm up

    # Round by round, so a busy moment of the machine slows every kind alike; the fastest of each kind.
    times: dict[str, list[float]] = {kind: [] for kind in attempts}
    for n in range(4):
        for number, (kind, form) in enumerate(attempts.items()):
            address = {"REMOTE_ADDR": f"10.0.{number}.{n}"}  # a fresh one: the throttle must not answer
            started = time.perf_counter()
            response = client.post("/login", data=form, environ_base=address)
            times[kind].append(time.perf_counter() - started)
            assert response.status_code == 422
    fastest = {kind: min(taken) for kind, taken in times.items()}

    assert max(fastest.values()) / min(fastest.values()) < 3, fastest


def test_an_empty_form_says_what_is_missing_beside_each_field(client):
    response = client.post("/login", data={"email": "", "password": ""})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter your e-mail address." in page and "Enter your password." in page
    assert 'aria-describedby="email-error"' in page


def test_failures_are_counted_in_the_database_across_web_processes(database_url, tmp_path, session):
    admin = factories.staff(session)
    overrides = {"STAFF_MAX_FAILED_LOGINS": 5, "LOGIN_MAX_FAILURES_PER_ADDRESS": 3}
    first, second = (build_app(database_url, str(tmp_path / name), **overrides) for name in ("a", "b"))

    for app, address in ((first, "10.1.0.1"), (second, "10.1.0.2")):
        with app.app_context():
            client = app.test_client()
            for _ in range(3):
                sign_in(client, admin, password="guess", remote_addr=address)
            db.session.remove()
            db.engine.dispose()

    assert fresh(session, admin).locked_until is not None
    assert len(events(session, "staff.login_failed")) == 4
    assert len(events(session, "staff.locked")) == 1


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


def leaves_the_site(target: str) -> bool:
    """Whether a browser on this site, sent to `target`, goes to another host: the WHATWG URL parser's
    steps that matter here (outer C0 controls and spaces dropped, tabs and newlines dropped anywhere, "\\"
    read as "/" in an https URL), then a scheme or "//" names another origin."""
    target = re.sub(r"[\t\n\r]", "", target.strip("".join(map(chr, range(33))))).replace("\\", "/")
    return bool(re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", target)) or target.startswith("//")


# Text made mostly of the pieces that turn a path into another address.
_PIECES = st.sampled_from(
    ["/", "\\", "\t", "\n", "\r", " ", "\x00", "\x7f", ":", "@", "%2F", "https:", "evil.example"]
)
_NEXT_TEXT = st.lists(_PIECES | st.characters(), max_size=8).map("".join)


@given(target=_NEXT_TEXT | _NEXT_TEXT.map(lambda text: "/" + text))
def test_a_next_path_kept_never_leads_off_the_site(target):
    kept = local_path(target)

    assert kept in (None, target)
    assert kept is None or not leaves_the_site(kept)


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

    assert "Ada Admin" in page and 'action="/logout"' in page and 'href="/account"' in page
