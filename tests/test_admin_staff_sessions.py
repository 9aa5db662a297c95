"""What an admin's change to an account does to the sessions it has open: a new role or link, or a second
factor removed, signs it out, so its next sign-in meets the rules that apply now; an admin's own second
factor is replaced with a code from it, never removed with the session alone."""

import pytest
from sqlalchemy import select

from clinic.models import AuditEvent, RecoveryCode, SessionEnd, StaffRole, StaffUser, utcnow

from . import factories
from .factories import sign_in
from .test_auth_mfa import enrolled, next_code


@pytest.fixture(autouse=True)
def admins_need_a_second_factor(app):
    app.config["REQUIRE_ADMIN_MFA"] = True  # as in production


@pytest.fixture
def admin(session) -> StaffUser:
    return factories.staff(session, display_name="Ada Admin")


@pytest.fixture
def admin_key(session, admin) -> str:
    return enrolled(session, admin, utcnow())


@pytest.fixture
def admin_client(app, session, admin, admin_key):
    browser = signed_in_with_code(app, admin, admin_key)
    session.commit()  # the sign-in wrote in its own session: the test's writes start on the latest data
    return browser


def signed_in_with_code(app, user: StaffUser, key: str):
    """A browser of its own signed in as `user` with the password and a code from the app holding `key`."""
    browser = factories.browser(app)
    assert sign_in(browser, user).headers["Location"] == "/login/code"
    assert browser.post("/login/code", data={"code": next_code(key)}).status_code == 303
    return browser


def ended_sessions(session, user: StaffUser) -> list[str]:
    """Why each of the account's sessions ended, as the audit trail records it."""
    session.commit()
    query = select(AuditEvent).where(
        AuditEvent.entity_id == str(user.id), AuditEvent.action == "staff.session_ended"
    )
    return [event.details["reason"] for event in session.scalars(query.order_by(AuditEvent.id))]


def signed_out(response) -> bool:
    """Whether `response` sends its browser to sign in."""
    return response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def reception(session, **fields) -> StaffUser:
    return factories.staff(
        session, role=StaffRole.RECEPTION, department_id=factories.department(session).id, **fields
    )


# A change of role or link


def test_a_receptionist_made_admin_is_signed_out_and_signs_in_again_with_a_second_factor(
    app, session, admin_client
):
    user = reception(session)
    theirs = factories.browser(app)
    sign_in(theirs, user)
    assert theirs.get("/admin/").status_code == 403

    response = admin_client.post(
        f"/admin/staff/{user.id}/role", data={"role": "admin", "clinician": "", "department": ""}
    )

    assert response.status_code == 303
    for page in ("/admin/", "/admin/staff"):
        assert signed_out(theirs.get(page))
    assert ended_sessions(session, user) == [SessionEnd.ROLE_CHANGED]
    assert sign_in(theirs, user).headers["Location"] == "/account/two-factor"
    assert theirs.get("/admin/").status_code == 302  # no session until the second factor is set up


def account_and_change(session, change: str) -> tuple[StaffUser, dict]:
    """An account, and the role form changing its `change`: its department, clinician, or being admin."""
    if change == "clinician":
        first, second = (factories.clinician(session, [factories.service(session)]) for _ in range(2))
        user = factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=first.id)
        return user, {"role": "clinician", "clinician": second.id}
    user = reception(session) if change == "department" else factories.staff(session, role=StaffRole.ADMIN)
    return user, {"role": "reception", "department": factories.department(session).id}


@pytest.mark.parametrize("change", ["department", "clinician", "demotion"])
def test_every_change_of_role_or_link_signs_the_account_out(app, session, admin_client, change):
    app.config["REQUIRE_ADMIN_MFA"] = False  # the admin stepping down signs in with the password alone
    user, data = account_and_change(session, change)
    session.commit()
    theirs = factories.browser(app)
    sign_in(theirs, user)
    assert theirs.get("/account").status_code == 200

    assert admin_client.post(f"/admin/staff/{user.id}/role", data=data).status_code == 303

    assert signed_out(theirs.get("/account"))
    assert ended_sessions(session, user) == [SessionEnd.ROLE_CHANGED]


def test_saving_a_role_unchanged_keeps_the_session(app, session, admin_client):
    user = reception(session)
    theirs = factories.browser(app)
    sign_in(theirs, user)

    data = {"role": "reception", "department": user.department_id}
    assert admin_client.post(f"/admin/staff/{user.id}/role", data=data).status_code == 303

    assert theirs.get("/account").status_code == 200
    assert ended_sessions(session, user) == []


# The second factor


def test_an_admins_own_page_offers_no_removal_of_their_second_factor_but_the_way_to_replace_it(
    admin, admin_client
):
    page = admin_client.get(f"/admin/staff/{admin.id}").text

    assert "Remove the second factor" not in page
    assert "This is your own account: to move your second factor to a new phone or app" in page
    assert '<a href="/account">your account page</a>' in page


def test_an_admin_cannot_remove_their_own_second_factor(session, admin, admin_client):
    response = admin_client.post(f"/admin/staff/{admin.id}/reset-mfa")

    assert response.status_code == 409
    assert "You cannot remove your own second factor here." in response.text
    assert "ask another admin to remove it" in response.text
    session.commit()
    assert session.get(StaffUser, admin.id, populate_existing=True).has_totp
    codes = select(RecoveryCode).where(RecoveryCode.staff_user_id == admin.id, RecoveryCode.used_at.is_(None))
    assert len(session.scalars(codes).all()) == 10
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == str(admin.id))).all()
    assert "staff.mfa_reset" not in actions
    assert admin_client.get("/admin/").status_code == 200  # still signed in: nothing changed
    assert 'name="current_code"' in admin_client.get("/account/two-factor").text  # replacing needs a code


def test_removing_another_admins_second_factor_signs_them_out(app, session, admin_client):
    other = factories.staff(session, role=StaffRole.ADMIN)
    theirs = signed_in_with_code(app, other, enrolled(session, other, utcnow()))
    assert theirs.get("/admin/").status_code == 200
    assert "Remove the second factor" in admin_client.get(f"/admin/staff/{other.id}").text

    response = admin_client.post(f"/admin/staff/{other.id}/reset-mfa", follow_redirects=True)

    assert signed_out(theirs.get("/admin/"))
    assert ended_sessions(session, other) == [SessionEnd.MFA_RESET]
    assert "Second factor removed, and they are signed out everywhere" in response.text
    assert sign_in(theirs, other).headers["Location"] == "/account/two-factor"


def test_removing_a_clinicians_second_factor_signs_them_out_too(app, session, admin_client):
    user = factories.staff(session, role=StaffRole.CLINICIAN)
    theirs = signed_in_with_code(app, user, enrolled(session, user, utcnow()))

    assert admin_client.post(f"/admin/staff/{user.id}/reset-mfa").status_code == 303

    assert signed_out(theirs.get("/account"))
    assert ended_sessions(session, user) == [SessionEnd.MFA_RESET]
