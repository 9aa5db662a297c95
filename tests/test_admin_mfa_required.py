"""Turning on CLINIC_REQUIRE_ADMIN_MFA (admins must sign in with a second factor) ends the admin sessions
that were opened without one: each would be refused at a sign-in now, so none lives on past the change. A
session signed in with a code, and any account's that is no admin, goes on."""

import pytest

from clinic.models import StaffRole, StaffUser, utcnow

from . import factories
from .factories import sign_in
from .test_admin_staff_sessions import ended_sessions, signed_in_with_code, signed_out
from .test_auth_mfa import enrolled


@pytest.fixture(autouse=True)
def admins_need_no_second_factor_yet(app):
    app.config["REQUIRE_ADMIN_MFA"] = False


def signed_in_with_password(app, user: StaffUser):
    browser = factories.browser(app)
    assert sign_in(browser, user).status_code == 303
    return browser


def test_turning_the_rule_on_signs_out_admins_without_a_second_factor_and_no_one_else(app, session):
    without = factories.staff(session, display_name="Pat Password")
    with_code = factories.staff(session, display_name="Tess Totp")
    key = enrolled(session, with_code, utcnow())
    session.commit()
    clinician = factories.staff(
        session, role=StaffRole.RECEPTION, department_id=factories.department(session).id
    )
    browsers = [signed_in_with_password(app, without), signed_in_with_code(app, with_code, key)]
    theirs = signed_in_with_password(app, clinician)
    assert all(browser.get("/admin/").status_code == 200 for browser in browsers)

    app.config["REQUIRE_ADMIN_MFA"] = True

    assert signed_out(browsers[0].get("/admin/"))
    assert browsers[1].get("/admin/").status_code == 200
    assert theirs.get("/account").status_code == 200
    assert ended_sessions(session, without) == ["mfa_required"]
    assert ended_sessions(session, with_code) == [] and ended_sessions(session, clinician) == []
    again = sign_in(factories.browser(app), without)
    assert again.headers["Location"] == "/account/two-factor"  # the next sign-in sets up the factor


def test_a_factor_set_up_after_a_password_only_sign_in_does_not_keep_that_session(app, session):
    """The session never passed a second factor, though its account has one now."""
    admin = factories.staff(session)
    browser = signed_in_with_password(app, admin)
    enrolled(session, admin, utcnow())
    session.commit()

    app.config["REQUIRE_ADMIN_MFA"] = True

    assert signed_out(browser.get("/admin/"))
    assert ended_sessions(session, admin) == ["mfa_required"]


def test_the_admins_staff_page_counts_no_session_the_rule_has_ended(app, session):
    watcher = factories.staff(session, display_name="Watcher")
    key = enrolled(session, watcher, utcnow())
    session.commit()
    admin_client = signed_in_with_code(app, watcher, key)
    session.commit()
    admin = factories.staff(session, display_name="Pat Password")
    signed_in_with_password(app, admin)
    page = f"/admin/staff/{admin.id}"
    listed = admin_client.get(page).get_data(as_text=True)

    app.config["REQUIRE_ADMIN_MFA"] = True

    assert "1 live session<" in listed
    assert "0 live sessions" in admin_client.get(page).get_data(as_text=True)
