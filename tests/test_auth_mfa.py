"""TOTP second factor: enrol by QR code, a code or recovery code works once, admins made to enrol."""

import re
import time
from dataclasses import replace
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from clinic.audit import SYSTEM
from clinic.models import AuditEvent, RecoveryCode, StaffRole, StaffSession, StaffUser, utcnow
from clinic.staff.accounts import change_password, deactivate_staff, password_mark
from clinic.staff.errors import CodeRefused, LoginRefused, SecondFactorUnreadable
from clinic.staff.mfa import pending_enrolment, reset_mfa
from clinic.staff.sessions import Client
from clinic.staff.signin import (
    PasswordPassed,
    SecondStep,
    confirm_enrolment,
    sign_in_with_code,
    sign_in_with_password,
)
from config import DevelopmentConfig

from . import factories
from .conftest import TEST_SECRET, production_config
from .factories import sign_in

RULES = factories.sign_in_rules()


@pytest.fixture
def client(app):
    return factories.browser(app)


def enrol_in_browser(client) -> tuple[str, list[str]]:
    """Set up an authenticator through the pages; returns its key and the recovery codes shown."""
    page = client.get("/account/two-factor").text
    key = re.search(r'<code id="totp-key">([A-Z2-7]+)</code>', page).group(1)
    shown = client.post("/account/two-factor", data={"code": pyotp.TOTP(key).now()})
    assert shown.status_code == 200, shown.text
    return key, re.findall(r"<code>([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})</code>", shown.text)


def passed(user) -> PasswordPassed:
    """`user`'s password, as passed at sign-in: the code step follows it."""
    return PasswordPassed(user.id, password_mark(user))


def next_code(key: str) -> str:
    """The code of the next time step: the one just used to enrol never works again."""
    return pyotp.TOTP(key).at(time.time() + 30)


def enrolled(session, user, now) -> str:
    """Enrol `user` through the services at `now`; returns the TOTP key."""
    key = pending_enrolment(session, user.id, secret_keys=[TEST_SECRET], issuer="Clinic").key
    confirm_enrolment(
        session, user.id, pyotp.TOTP(key).at(now), now=now, rules=RULES, client=Client(), actor=SYSTEM
    )
    return key


def actions(session) -> list[str]:
    session.commit()
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_a_staff_member_enrols_and_then_signs_in_with_password_and_code(app, client, session):
    user = factories.staff(session, role=StaffRole.CLINICIAN)
    sign_in(client, user)
    page = client.get("/account/two-factor").text
    assert 'src="data:image/svg+xml' in page  # the QR code is drawn here, by no outside service

    key, codes = enrol_in_browser(client)
    client.post("/logout")
    response = sign_in(client, user)

    assert len(codes) == 10
    assert response.headers["Location"] == "/login/code"
    assert client.get("/account").status_code == 302  # half signed in is not signed in
    assert client.post("/login/code", data={"code": next_code(key)}).status_code == 303
    assert client.get("/account").status_code == 200
    assert {"staff.mfa_enrolled", "staff.mfa_verified"} <= set(actions(session))


# Digits as some phones' keyboards type them.
OTHER_DIGITS = {
    "Arabic-Indic": str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"),
    "full-width": str.maketrans("0123456789", "０１２３４５６７８９"),
}


@pytest.mark.parametrize("digits", OTHER_DIGITS)
def test_a_code_typed_in_another_scripts_digits_signs_in(app, client, session, digits):
    user = factories.staff(session, role=StaffRole.CLINICIAN)
    sign_in(client, user)
    key, _ = enrol_in_browser(client)
    client.post("/logout")
    sign_in(client, user)

    answer = client.post("/login/code", data={"code": next_code(key).translate(OTHER_DIGITS[digits])})

    assert answer.status_code == 303  # it was a 500
    assert client.get("/account").status_code == 200


def test_the_secret_and_the_recovery_codes_are_not_stored_in_the_clear(app, client, session):
    user = factories.staff(session)
    sign_in(client, user)

    key, codes = enrol_in_browser(client)

    session.commit()
    stored = session.get(StaffUser, user.id, populate_existing=True)
    assert stored.has_totp and key not in stored.totp_secret
    hashes = session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(hashes) == 10 and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(code.replace("-", "") in h for code in codes for h in hashes)


def test_a_code_works_once(session, now):
    user = factories.staff(session)
    key = enrolled(session, user, now)
    code = pyotp.TOTP(key).at(now + timedelta(seconds=30))
    first = sign_in_with_password(
        session, user.email, factories.STAFF_PASSWORD, now=now, rules=RULES, client=Client()
    )
    assert first.next_step is SecondStep.CODE and first.token is None

    signed_in = sign_in_with_code(
        session, passed(user), code, now=now + timedelta(seconds=30), rules=RULES, client=Client()
    )
    assert signed_in.token

    with pytest.raises(CodeRefused):  # the same code again, still inside its 30 seconds
        sign_in_with_code(
            session, passed(user), code, now=now + timedelta(seconds=40), rules=RULES, client=Client()
        )


def test_a_code_from_long_ago_is_refused(session, now):
    user = factories.staff(session)
    key = enrolled(session, user, now)

    with pytest.raises(CodeRefused):
        sign_in_with_code(
            session,
            passed(user),
            pyotp.TOTP(key).at(now),
            now=now + timedelta(minutes=5),
            rules=RULES,
            client=Client(),
        )


def test_a_recovery_code_signs_in_once(app, client, session):
    user = factories.staff(session)
    sign_in(client, user)
    _, codes = enrol_in_browser(client)
    client.post("/logout")

    sign_in(client, user)
    used = client.post("/login/code", data={"code": codes[3].lower()})
    client.post("/logout")
    sign_in(client, user)
    again = client.post("/login/code", data={"code": codes[3]})

    assert used.status_code == 303
    assert again.status_code == 422 and "That code is wrong or was used already." in again.text
    assert "staff.mfa_recovery_code_used" in actions(session)
    assert client.post("/login/code", data={"code": codes[4]}).status_code == 303
    assert "You have 8 unused recovery codes." in client.get("/account").text


def test_an_account_deactivated_between_password_and_code_gets_no_session(session, now):
    user = factories.staff(session)
    key = enrolled(session, user, now)
    later = now + timedelta(minutes=1)
    sign_in_with_password(
        session, user.email, factories.STAFF_PASSWORD, now=later, rules=RULES, client=Client()
    )

    deactivate_staff(session, user.id, now=later, actor=SYSTEM, keep_an_admin=False)

    with pytest.raises(LoginRefused):
        sign_in_with_code(
            session, passed(user), pyotp.TOTP(key).at(later), now=later, rules=RULES, client=Client()
        )
    session.commit()
    assert session.scalars(select(StaffSession)).all() == []


def test_wrong_codes_count_like_wrong_passwords(session, now):
    user = factories.staff(session)
    enrolled(session, user, now)
    rules = factories.sign_in_rules(max_failures_per_address=100)
    for _ in range(rules.max_failures - 1):
        with pytest.raises(CodeRefused):
            sign_in_with_code(session, passed(user), "000000", now=now, rules=rules, client=Client())

    with pytest.raises(LoginRefused):  # the last wrong code locks the account
        sign_in_with_code(session, passed(user), "000000", now=now, rules=rules, client=Client())

    session.commit()
    assert session.get(StaffUser, user.id, populate_existing=True).locked_until == now + rules.lock_for


def test_a_password_changed_between_password_and_code_voids_the_half_finished_sign_in(app, client, session):
    user = factories.staff(session)
    sign_in(client, user)
    key, _ = enrol_in_browser(client)
    client.post("/logout")
    sign_in(client, user)  # the old password passed: the code is due

    change_password(session, user.id, "a new password nobody else knows", now=utcnow(), actor=SYSTEM)
    refused = client.post("/login/code", data={"code": next_code(key)})

    assert refused.status_code == 422
    assert client.get("/login/code").headers["Location"] == "/login"  # signed in again from the start
    session.commit()
    assert session.scalars(select(StaffSession).where(StaffSession.ended_at.is_(None))).all() == []


def test_an_admin_whose_password_changed_while_setting_up_a_factor_is_not_signed_in(app, client, session):
    app.config["REQUIRE_ADMIN_MFA"] = True
    admin = factories.staff(session)
    sign_in(client, admin)  # the old password passed: the admin is taken to set up a factor

    change_password(session, admin.id, "a new password nobody else knows", now=utcnow(), actor=SYSTEM)
    page = client.get("/account/two-factor").text
    key = re.search(r'<code id="totp-key">([A-Z2-7]+)</code>', page).group(1)
    refused = client.post("/account/two-factor", data={"code": pyotp.TOTP(key).now()})

    assert refused.status_code == 422
    assert client.get("/account/two-factor").headers["Location"].startswith("/login")
    session.commit()
    assert session.scalars(select(StaffSession)).all() == []
    assert not session.get(StaffUser, admin.id, populate_existing=True).has_totp


def test_an_admin_who_must_have_a_second_factor_is_taken_to_set_it_up(app, client, session):
    app.config["REQUIRE_ADMIN_MFA"] = True
    admin = factories.staff(session)

    response = sign_in(client, admin, next="/admin/outbox")

    assert response.headers["Location"] == "/account/two-factor"
    assert client.get("/admin/").headers["Location"].startswith("/login")  # nothing else opens
    assert client.get("/login/code").headers["Location"] == "/login"  # nor can the code step be skipped to
    session.commit()
    assert session.scalars(select(StaffSession)).all() == []
    _, codes = enrol_in_browser(client)
    assert len(codes) == 10
    assert client.get("/admin/outbox").status_code == 200


def test_a_half_signed_in_account_with_a_factor_cannot_enrol_a_new_one(app, client, session, now):
    app.config["REQUIRE_ADMIN_MFA"] = True
    admin = factories.staff(session)
    enrolled(session, admin, now)

    sign_in(client, admin)  # the password alone: the code is still due

    assert client.get("/account/two-factor").headers["Location"].startswith("/login")


def test_a_reset_removes_the_factor_and_its_codes(session, now):
    user = factories.staff(session)
    enrolled(session, user, now)

    reset_mfa(session, user.id, now=now, actor=SYSTEM)

    session.commit()
    assert not session.get(StaffUser, user.id, populate_existing=True).has_totp
    assert session.scalars(select(RecoveryCode)).all() == []
    assert "staff.mfa_reset" in actions(session)


def test_a_new_authenticator_replaces_the_old_one_only_once_confirmed(session, now):
    user = factories.staff(session)
    old_key = enrolled(session, user, now)
    new_key = pending_enrolment(session, user.id, secret_keys=[TEST_SECRET], issuer="Clinic").key
    later = now + timedelta(minutes=1)

    signed_in = sign_in_with_code(
        session, passed(user), pyotp.TOTP(old_key).at(later), now=later, rules=RULES, client=Client()
    )
    assert signed_in.token  # the old app still works while the new one waits
    confirm_enrolment(
        session,
        user.id,
        pyotp.TOTP(new_key).at(later),
        now=later,
        rules=RULES,
        client=Client(),
        actor=SYSTEM,
        current_code=pyotp.TOTP(old_key).at(later + timedelta(seconds=30)),
    )

    latest = later + timedelta(minutes=1)
    with pytest.raises(CodeRefused):
        sign_in_with_code(
            session, passed(user), pyotp.TOTP(old_key).at(latest), now=latest, rules=RULES, client=Client()
        )


def test_admins_need_a_second_factor_in_production_unless_told_otherwise(database_url):
    assert production_config(database_url).REQUIRE_ADMIN_MFA is True
    assert DevelopmentConfig.REQUIRE_ADMIN_MFA is False


def test_a_signed_in_session_alone_cannot_replace_the_second_factor(app, client, session):
    user = factories.staff(session)
    sign_in(client, user)
    old_key, _ = enrol_in_browser(client)
    page = client.get("/account/two-factor").text
    new_key = re.search(r'<code id="totp-key">([A-Z2-7]+)</code>', page).group(1)

    without = client.post("/account/two-factor", data={"code": pyotp.TOTP(new_key).now()})
    wrong = client.post(
        "/account/two-factor", data={"code": pyotp.TOTP(new_key).now(), "current_code": "000000"}
    )
    proven = client.post(
        "/account/two-factor", data={"code": pyotp.TOTP(new_key).now(), "current_code": next_code(old_key)}
    )

    assert 'id="current_code"' in page
    assert without.status_code == 422 and wrong.status_code == 422 and 'id="current_code-error"' in wrong.text
    assert proven.status_code == 200
    session.commit()
    assert session.get(StaffUser, user.id, populate_existing=True).totp_pending_secret is None


def replacing_form(client) -> tuple[str, str]:
    """Open the page that replaces a second factor; returns the new key it shows and its text."""
    page = client.get("/account/two-factor").text
    return re.search(r'<code id="totp-key">([A-Z2-7]+)</code>', page).group(1), page


def test_a_stolen_session_guessing_the_current_code_is_throttled_like_a_sign_in(app, client, session):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    user = factories.staff(session)
    sign_in(client, user)
    old_key, _ = enrol_in_browser(client)
    new_key, _ = replacing_form(client)
    guess = {"code": pyotp.TOTP(new_key).now(), "current_code": "000000"}

    guesses = [client.post("/account/two-factor", data=guess).status_code for _ in range(3)]
    right = client.post(
        "/account/two-factor", data={"code": pyotp.TOTP(new_key).now(), "current_code": next_code(old_key)}
    )

    assert guesses == [422, 422, 422]
    assert right.status_code == 429 and right.headers["Retry-After"]
    session.commit()
    assert session.get(StaffUser, user.id, populate_existing=True).totp_pending_secret is not None


def test_wrong_current_codes_lock_the_account_and_a_locked_account_replaces_no_factor(app, client, session):
    app.config.update(LOGIN_MAX_FAILURES_PER_ADDRESS=100, STAFF_MAX_FAILED_LOGINS=3)
    user = factories.staff(session)
    sign_in(client, user)
    old_key, _ = enrol_in_browser(client)
    new_key, _ = replacing_form(client)
    guess = {"code": pyotp.TOTP(new_key).now(), "current_code": "000000"}

    for _ in range(3):
        client.post("/account/two-factor", data=guess)
    right = client.post(
        "/account/two-factor", data={"code": pyotp.TOTP(new_key).now(), "current_code": next_code(old_key)}
    )

    assert right.status_code == 422 and "locked" in right.text
    session.commit()
    locked = session.get(StaffUser, user.id, populate_existing=True)
    assert locked.locked_until is not None and locked.totp_pending_secret is not None
    assert "staff.locked" in actions(session)


NEW_SECRET = "a new secret key that replaced the test one"


def test_a_rotated_secret_key_keeps_the_second_factor_and_moves_it_under_the_new_key(session, now):
    user = factories.staff(session)
    key = enrolled(session, user, now)
    rotated = replace(RULES, secret_keys=(NEW_SECRET, TEST_SECRET))
    new_only = replace(RULES, secret_keys=(NEW_SECRET,))
    old_only = replace(RULES, secret_keys=(TEST_SECRET,))
    later, latest = now + timedelta(minutes=1), now + timedelta(minutes=2)

    def sign_in_at(when, rules):
        return sign_in_with_code(
            session, passed(user), pyotp.TOTP(key).at(when), now=when, rules=rules, client=Client()
        )

    during = sign_in_at(later, rotated)

    with pytest.raises(SecondFactorUnreadable):  # sealed under the new key now, not the old one
        sign_in_at(latest, old_only)
    after = sign_in_at(latest, new_only)  # the fallback dropped
    assert during.token and after.token


def test_a_second_factor_under_a_key_no_longer_configured_says_to_use_a_recovery_code_or_ask_an_admin(
    app, client, session
):
    user = factories.staff(session)
    sign_in(client, user)
    key, codes = enrol_in_browser(client)
    client.post("/logout")
    app.config["SECRET_KEY"] = NEW_SECRET  # replaced without keeping the old one as a fallback

    sign_in(client, user)
    refused = client.post("/login/code", data={"code": next_code(key)})
    with_recovery_code = client.post("/login/code", data={"code": codes[0]})

    assert refused.status_code == 422
    assert "cannot be checked since the server&#39;s keys changed" in refused.text
    assert "ask an admin to reset your second factor" in refused.text
    assert with_recovery_code.status_code == 303
    assert "staff.login_failed" in actions(session)  # counted like a wrong code: no guessing for free


def test_after_an_admin_resets_an_unreadable_second_factor_its_owner_signs_in_and_enrols_again(
    app, client, session, now
):
    user = factories.staff(session, role=StaffRole.CLINICIAN)
    enrolled(session, user, now)
    app.config["SECRET_KEY"] = NEW_SECRET

    reset_mfa(session, user.id, now=now, actor=SYSTEM)
    response = sign_in(client, user)

    assert response.status_code == 303 and response.headers["Location"] != "/login/code"
    assert client.get("/account").status_code == 200
    new_key, _ = enrol_in_browser(client)
    assert new_key
