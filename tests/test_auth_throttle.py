"""The per-address throttle stands in front of the per-account lockout: one address cannot lock anyone out."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from clinic.models import AuditEvent, StaffUser
from clinic.staff.errors import AddressThrottled, LoginRefused
from clinic.staff.sessions import Client
from clinic.staff.signin import sign_in_with_password

from . import factories
from .factories import STAFF_PASSWORD, sign_in

RULES = factories.sign_in_rules()  # 3 failures per address, 5 per account, within 15 minutes
ATTACKER, OWNER = Client("203.0.113.7"), Client("198.51.100.20")


@pytest.fixture
def client(app):
    return factories.browser(app)


def attempt(session, user, password, now, client=ATTACKER, rules=RULES):
    return sign_in_with_password(session, user.email, password, now=now, rules=rules, client=client)


def fresh(session, user: StaffUser) -> StaffUser:
    session.commit()
    return session.get(StaffUser, user.id, populate_existing=True)


def test_one_address_cannot_lock_an_account_and_its_owner_still_signs_in(session, now):
    victim = factories.staff(session)

    outcomes = []
    for minute in range(0, 60, 2):  # an attacker guessing every other minute for an hour
        try:
            attempt(session, victim, "guess", now + timedelta(minutes=minute))
        except (LoginRefused, AddressThrottled) as refused:
            outcomes.append(type(refused).__name__)

    assert outcomes.count("LoginRefused") > RULES.max_failures  # more wrong passwords than lock an account
    assert outcomes.count("AddressThrottled") > 15
    assert fresh(session, victim).locked_until is None
    signed_in = attempt(session, victim, STAFF_PASSWORD, now + timedelta(minutes=60), client=OWNER)
    assert signed_in.user.id == victim.id and signed_in.token


def test_a_throttled_address_is_refused_before_any_account_is_looked_at(session, now):
    victim = factories.staff(session)
    for _ in range(3):
        with pytest.raises(LoginRefused):
            attempt(session, victim, "guess", now)
    events_before = session.scalar(select(func.count()).select_from(AuditEvent))

    with pytest.raises(AddressThrottled) as throttled:
        attempt(session, victim, STAFF_PASSWORD, now + timedelta(minutes=5))

    assert throttled.value.retry_after == 10 * 60
    assert fresh(session, victim).failed_logins == 3  # the throttled attempt counts against no account
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == events_before


def test_unknown_addresses_count_against_the_address_too(session, now):
    nobody = StaffUser(email="nobody@hospital.example")
    for _ in range(3):
        with pytest.raises(LoginRefused):
            attempt(session, nobody, "guess", now)

    with pytest.raises(AddressThrottled):
        attempt(session, nobody, "guess", now)


def test_an_ipv6_attacker_changing_address_within_its_network_is_throttled_all_the_same(session, now):
    """Each IPv6 address was counted apart, and anyone holds a /64 of them: an attacker trying one password
    on every account (below each account's lockout) from a fresh address each time was never throttled."""
    accounts = [factories.staff(session) for _ in range(4)]
    for n, account in enumerate(accounts[:3], start=1):
        with pytest.raises(LoginRefused):
            attempt(session, account, "Winter2026!", now, client=Client(f"2001:db8:7:7::{n:x}"))

    with pytest.raises(AddressThrottled):
        attempt(session, accounts[3], "Winter2026!", now, client=Client("2001:db8:7:7:abcd::1"))
    assert attempt(session, accounts[3], STAFF_PASSWORD, now, client=Client("2001:db8:7:8::1")).token


def test_the_throttle_lifts_once_the_window_has_passed(session, now):
    user = factories.staff(session)
    for _ in range(3):
        with pytest.raises(LoginRefused):
            attempt(session, user, "guess", now)

    signed_in = attempt(session, user, STAFF_PASSWORD, now + RULES.window + timedelta(seconds=1))

    assert signed_in.token


def test_attackers_from_many_addresses_lock_the_account_even_against_the_right_password(session, now):
    victim = factories.staff(session)
    for n in range(RULES.max_failures):
        with pytest.raises(LoginRefused):
            attempt(session, victim, "guess", now, client=Client(f"203.0.113.{n}"))

    with pytest.raises(LoginRefused):
        attempt(session, victim, STAFF_PASSWORD, now + timedelta(minutes=14), client=OWNER)
    assert fresh(session, victim).locked_until == now + RULES.lock_for

    signed_in = attempt(session, victim, STAFF_PASSWORD, now + timedelta(minutes=16), client=OWNER)
    assert (signed_in.user.failed_logins, signed_in.user.locked_until) == (0, None)


def test_failures_spread_beyond_the_window_never_add_up_to_a_lock(session, now):
    user = factories.staff(session)
    for n in range(2 * RULES.max_failures):  # 4 failures per window, from a fresh address each time
        with pytest.raises(LoginRefused):
            attempt(session, user, "guess", now + n * RULES.window / 4, client=Client(f"203.0.113.{n}"))

    assert fresh(session, user).locked_until is None


def test_a_throttled_address_gets_429_naming_no_account(client, app, session):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 2
    user = factories.staff(session)
    for _ in range(2):
        sign_in(client, user, password="guess", remote_addr="203.0.113.9")

    response = sign_in(client, user, remote_addr="203.0.113.9")

    page = response.get_data(as_text=True)
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins from your network. Try again in" in page
    assert "locked" not in page and "wrong" not in page  # says nothing of the account named
    assert sign_in(client, user, remote_addr="198.51.100.1").status_code == 303
