"""Signing in: the password, then (if the account has one) the second factor, then a session.

An unknown address, a wrong password, an inactive and a locked account get one answer after the
same work (one argon2 verification and one write transaction), so neither the answer nor its timing
tells which accounts exist or are locked. In front of that, an address with too many recent
failures is refused before any account is looked at (clinic/staff/throttle.py). Wrong codes count
like wrong passwords. No staff session exists until every factor has passed.
"""

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ..audit import Actor
from ..keys import secret_keys
from ..models import StaffUser
from ..models.transactions import write_transaction
from . import events, mfa, throttle
from .accounts import (
    MIN_PASSWORD_LENGTH,
    change_password,
    check_password,
    clear_failures,
    dummy_hash,
    password_mark,
    rehash_if_outdated,
    staff_by_email,
    verify_password,
)
from .errors import AccountError, CodeRefused, FactorChangeLocked, InvalidAccount, LoginRefused
from .sessions import Client, SessionRules, open_session


class SecondStep(enum.StrEnum):
    CODE = "code"  # the account has a second factor: ask for its code
    ENROL = "enrol"  # an admin without one where CLINIC_REQUIRE_ADMIN_MFA is on: set it up first


@dataclass(frozen=True)
class SignInRules:
    max_failures: int  # wrong passwords or codes within `window` that lock an account
    lock_for: timedelta
    window: timedelta
    max_failures_per_address: int  # below max_failures: one address cannot lock an account
    require_admin_mfa: bool
    secret_keys: tuple[str, ...]  # SECRET_KEY and its fallbacks: derive the keys of TOTP secrets
    sessions: SessionRules

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SignInRules":
        return cls(
            max_failures=int(config["STAFF_MAX_FAILED_LOGINS"]),
            lock_for=timedelta(minutes=float(config["STAFF_LOCKOUT_MINUTES"])),
            window=timedelta(minutes=float(config["LOGIN_FAILURE_WINDOW_MINUTES"])),
            max_failures_per_address=int(config["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
            require_admin_mfa=bool(config["REQUIRE_ADMIN_MFA"]),
            secret_keys=secret_keys(config),
            sessions=SessionRules.from_config(config),
        )

    @property
    def lock_minutes(self) -> int:
        return int(self.lock_for.total_seconds() // 60)

    def refused(self) -> LoginRefused:
        return LoginRefused(self.lock_minutes)


@dataclass(frozen=True)
class PasswordPassed:
    """An account whose password passed, and a mark of that password: the steps still due after it take
    this, so that another password set meanwhile voids them."""

    user_id: int
    password_mark: str


@dataclass(frozen=True)
class SignedIn:
    """A finished sign-in (`token` for the cookie), or one that waits for `next_step` after `passed`."""

    user: StaffUser
    token: str | None = None
    next_step: SecondStep | None = None
    recovery_codes: tuple[str, ...] = ()
    passed: PasswordPassed | None = None


PASSWORD_ONLY = "password"  # the proof of a sign-in with no second step: no second factor


@dataclass(frozen=True)
class _Proof:
    method: str
    recovery_codes: tuple[str, ...] = ()


def sign_in_with_password(
    session: Session, email: str, password: str, *, now: datetime, rules: SignInRules, client: Client
) -> SignedIn:
    """Check the password; signed in unless a second step is due. LoginRefused or AddressThrottled."""
    _refuse_if_throttled(session, client, now, rules)
    user = staff_by_email(session, email)
    correct = verify_password(user.password_hash if user else dummy_hash(), password)
    reason = _refusal(user, correct, now)
    if reason is not None:
        _count_refusal(session, user, reason, now, rules, client)
        raise rules.refused()
    rehash_if_outdated(session, user, password)
    passed = PasswordPassed(user.id, password_mark(user))
    step = second_step(user, rules)
    if step is not None:
        return SignedIn(user, next_step=step, passed=passed)

    def proof(user: StaffUser) -> _Proof | None:
        # A factor enrolled since the password was checked is asked for: no session without it.
        return None if second_step(user, rules) else _Proof(PASSWORD_ONLY)

    return _complete(session, passed, now, rules, client, proof)


def sign_in_with_code(
    session: Session, passed: PasswordPassed, code: str, *, now: datetime, rules: SignInRules, client: Client
) -> SignedIn:
    """The second step, a TOTP or recovery code, after `passed`: CodeRefused, LoginRefused (locked, or
    another password set since) or AddressThrottled."""
    _refuse_if_throttled(session, client, now, rules)

    def proof(user: StaffUser) -> _Proof | None:
        actor = events.actor_for(user.id, client.remote_addr)
        method = mfa.accept_code(session, user, code, now=now, secret_keys=rules.secret_keys, actor=actor)
        return _Proof(method) if method else None

    return _complete(session, passed, now, rules, client, proof)


def sign_in_enrolling(
    session: Session, passed: PasswordPassed, code: str, *, now: datetime, rules: SignInRules, client: Client
) -> SignedIn:
    """The second step for an admin who must set up a second factor, after `passed`: confirm it, then
    sign in."""
    _refuse_if_throttled(session, client, now, rules)

    def proof(user: StaffUser) -> _Proof | None:
        if user.has_totp:  # an account with a factor proves it with its code, never by enrolling anew
            return None
        actor = events.actor_for(user.id, client.remote_addr)
        codes = mfa.enrol(session, user, code, now=now, secret_keys=rules.secret_keys, actor=actor)
        return _Proof("totp_enrolled", tuple(codes)) if codes else None

    return _complete(session, passed, now, rules, client, proof)


def confirm_enrolment(
    session: Session,
    user_id: int,
    code: str,
    *,
    now: datetime,
    rules: SignInRules,
    client: Client,
    actor: Actor,
    current_code: str = "",
) -> list[str]:
    """A signed-in staff member's new authenticator, once `code` proves the app has it: ten new recovery
    codes (the old ones stop working); CodeRefused, naming the field, if a code is wrong.

    Replacing a factor needs `current_code` from the old one (or a recovery code) too, so a stolen session
    alone cannot swap it for the thief's; and a wrong one counts like a wrong sign-in (the address
    throttle and the account's lockout), so the session cannot guess it without limit. A locked account
    changes nothing.
    """
    refusal: AccountError | None = None
    with write_transaction(session):
        user = session.get(StaffUser, user_id, with_for_update=True, populate_existing=True)
        if user.has_totp:  # a first factor is set up whatever the address did: it proves nothing old
            _refuse_if_throttled(session, client, now, rules)
        if user.has_totp and _is_locked(user, now):
            refusal = FactorChangeLocked(rules.lock_minutes)
        elif user.has_totp and not mfa.accept_code(
            session, user, current_code, now=now, secret_keys=rules.secret_keys, actor=actor
        ):
            throttle.count_failure(session, client.remote_addr, now=now, window=rules.window)
            counted = {"factor": "current_code"}
            if _count_account_failure(session, user, now, rules, client, counted):
                refusal = FactorChangeLocked(rules.lock_minutes)
            else:
                refusal = mfa.code_refusal(user, rules.secret_keys, field="current_code")
        else:
            codes = mfa.enrol(session, user, code, now=now, secret_keys=rules.secret_keys, actor=actor)
            if codes is None:
                raise CodeRefused()
    if refusal is not None:
        raise refusal
    return codes


def change_own_password(
    session: Session,
    user_id: int,
    current: str,
    new: str,
    *,
    now: datetime,
    rules: SignInRules,
    client: Client,
    actor: Actor,
) -> StaffUser:
    """`change_password` for a signed-in staff member, who proves the current password first.

    A wrong current password counts like a wrong sign-in (the address throttle and the account's
    lockout), so a stolen session cannot guess it without limit; a locked account changes nothing.
    """
    _refuse_if_throttled(session, client, now, rules)
    user = session.get(StaffUser, user_id)
    correct = verify_password(user.password_hash, current)
    reason = _refusal(user, correct, now)
    if reason is not None:
        _count_refusal(session, user, reason, now, rules, client)
        raise InvalidAccount({"current_password": "That is not your current password."})
    try:
        check_password(new)
    except InvalidAccount:
        raise InvalidAccount({"new_password": f"Use at least {MIN_PASSWORD_LENGTH} characters."}) from None
    return change_password(session, user_id, new, now=now, actor=actor)


def second_step(user: StaffUser, rules: SignInRules) -> SecondStep | None:
    """What the account must do after its password, if anything."""
    if user.has_totp:
        return SecondStep.CODE
    if user.is_admin and rules.require_admin_mfa:
        return SecondStep.ENROL
    return None


def _complete(
    session: Session,
    passed: PasswordPassed,
    now: datetime,
    rules: SignInRules,
    client: Client,
    proof_of: Callable[[StaffUser], _Proof | None],
) -> SignedIn:
    """Under the account's row lock: check it may sign in still, with the password that `passed`, take the
    last factor's proof, open a session."""
    refusal: AccountError | None = None
    with write_transaction(session):
        user = session.get(StaffUser, passed.user_id, with_for_update=True, populate_existing=True)
        known_id = user.id if user else None
        actor = events.actor_for(known_id, client.remote_addr)
        # The account may have changed since its password passed: deactivated, locked, another password.
        if (reason := _refusal(user, True, now, passed.password_mark)) is not None:
            refusal = rules.refused()
            events.record(session, known_id, "staff.login_refused", now, actor, {"reason": reason})
        elif (proof := proof_of(user)) is None:
            throttle.count_failure(session, client.remote_addr, now=now, window=rules.window)
            locked = _count_account_failure(session, user, now, rules, client, {"factor": "code"})
            refusal = rules.refused() if locked else mfa.code_refusal(user, rules.secret_keys)
        else:
            clear_failures(user)
            user.last_login_at = now
            second_factor = proof.method != PASSWORD_ONLY
            row, token = open_session(
                session, user, now=now, rules=rules.sessions, client=client, second_factor=second_factor
            )
            details = {"session": row.id, "method": proof.method}
            events.record(session, user.id, "staff.login", now, actor, details)
    if refusal is not None:
        raise refusal
    return SignedIn(user, token, recovery_codes=proof.recovery_codes)


def _refusal(
    user: StaffUser | None, correct: bool, now: datetime, passed_mark: str | None = None
) -> str | None:
    if user is None:
        return "unknown address"
    if not user.active:
        return "inactive"
    if _is_locked(user, now):
        return "locked"
    if passed_mark is not None and passed_mark != password_mark(user):
        return "password changed"  # another was set after this one passed: it no longer signs in
    return None if correct else "wrong password"


def _count_refusal(
    session: Session, user: StaffUser | None, reason: str, now: datetime, rules: SignInRules, client: Client
) -> None:
    """One write for every refusal, whatever its reason, so all of them take the same time."""
    with write_transaction(session):
        throttle.count_failure(session, client.remote_addr, now=now, window=rules.window)
        user_id = user.id if user else None
        if reason == "wrong password":
            locked_user = session.get(StaffUser, user_id, with_for_update=True, populate_existing=True)
            _count_account_failure(session, locked_user, now, rules, client)
        else:
            actor = events.actor_for(user_id, client.remote_addr)
            events.record(session, user_id, "staff.login_refused", now, actor, {"reason": reason})


def _count_account_failure(
    session: Session,
    user: StaffUser,
    now: datetime,
    rules: SignInRules,
    client: Client,
    details: dict | None = None,
) -> bool:
    """Count a failure against the account (`user` locked); True if it locks the account now.

    The count starts again once `rules.window` has passed since its first failure, the window in
    which one address may fail fewer times than it takes to lock an account.
    """
    if user.failures_since is None or user.failures_since <= now - rules.window:
        user.failed_logins, user.failures_since = 0, now
    user.failed_logins += 1
    locked = user.failed_logins >= rules.max_failures
    if locked:
        user.failed_logins, user.failures_since = 0, None  # the next lock needs as many failures again
        user.locked_until = now + rules.lock_for
        action, counted = "staff.locked", {"minutes": rules.lock_minutes}
    else:
        action, counted = "staff.login_failed", {"failures": user.failed_logins}
    actor = events.actor_for(user.id, client.remote_addr)
    events.record(session, user.id, action, now, actor, {**(details or {}), **counted})
    return locked


def _refuse_if_throttled(session: Session, client: Client, now: datetime, rules: SignInRules) -> None:
    throttle.refuse_if_throttled(
        session, client.remote_addr, now=now, limit=rules.max_failures_per_address, window=rules.window
    )


def _is_locked(user: StaffUser, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now
