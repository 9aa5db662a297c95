"""Staff accounts: creating them, signing in with a lockout, signing out, changing passwords.

Each sign-in outcome is an audit event with the account's id as actor; none carries an e-mail
address or a password. Sessions are identified by the account's `session_token`, so replacing the
token (logout, password change) ends every session that carries the old one.
"""

import functools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..models import StaffRole, StaffUser
from ..models.transactions import write_transaction

MIN_PASSWORD_LENGTH = 12
MAX_NAME = 120
_hasher = PasswordHasher()  # argon2id with the library's current parameters


class AccountError(Exception):
    """A staff account request that cannot be done as asked."""


class InvalidAccount(AccountError):
    """Details that fail the account rules; `errors` maps each field name to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class LoginRefused(AccountError):
    """Wrong e-mail address or password: one message for both, so accounts cannot be discovered."""

    def __init__(self, message: str = "The e-mail address or password is wrong.") -> None:
        super().__init__(message)


class AccountLocked(LoginRefused):
    """Too many wrong passwords: every password is refused until `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__("Too many wrong passwords: this account is locked for a while.")
        self.until = until


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int
    lock_for: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "LockoutPolicy":
        return cls(
            max_failures=int(config["STAFF_MAX_FAILED_LOGINS"]),
            lock_for=timedelta(minutes=float(config["STAFF_LOCKOUT_MINUTES"])),
        )


def hash_password(password: str) -> str:
    """An argon2id hash of `password`, with its salt and parameters."""
    return _hasher.hash(password)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password(password: str) -> str:
    """`password` if it is long enough for a staff account; else InvalidAccount."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidAccount({"password": f"Use at least {MIN_PASSWORD_LENGTH} characters."})
    return password


def create_staff(
    session: Session,
    *,
    email: str,
    display_name: str,
    password: str,
    role: StaffRole,
    now: datetime,
    actor: Actor,
    clinician_id: int | None = None,
) -> StaffUser:
    """Add a staff account and commit; InvalidAccount names every field that is wrong."""
    email, display_name = _checked_details(session, email, display_name, password)
    with write_transaction(session):
        user = StaffUser(
            email=email,
            display_name=display_name,
            password_hash=hash_password(password),
            role=role,
            clinician_id=clinician_id,
            session_token=_new_token(),
            created_at=now,
        )
        session.add(user)
        session.flush()
        _audit(session, user, "staff.created", now, actor, {"role": str(role)})
    return user


def staff_by_email(session: Session, email: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.email == normalise_email(email)))


def user_for_session(session: Session, token: str) -> StaffUser | None:
    """The active account whose current session token is `token` (from the signed session cookie)."""
    if not token or len(token) > 64:
        return None
    return session.scalar(
        select(StaffUser).where(StaffUser.session_token == token, StaffUser.active.is_(True))
    )


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    now: datetime,
    policy: LockoutPolicy,
    remote_addr: str | None = None,
) -> StaffUser:
    """The account these credentials open; else LoginRefused, or AccountLocked saying until when.

    An unknown address costs the same argon2 work as a known one and gets the same answer.
    """
    user = staff_by_email(session, email)
    if user is None or not user.active:
        _verify(user.password_hash if user else _dummy_hash(), password)
        reason = "unknown address" if user is None else "inactive"
        _audit_refusal(session, user, now, _actor(user, remote_addr), reason)
        raise LoginRefused()
    if _is_locked(user, now):
        _audit_refusal(session, user, now, _actor(user, remote_addr), "locked")
        raise AccountLocked(user.locked_until)
    # Verified before the write transaction, so the slow hash never holds SQLite's write lock.
    correct = _verify(user.password_hash, password)
    return _settle(session, user.id, password if correct else None, now, policy, remote_addr)


def sign_out(session: Session, user_id: int, *, now: datetime, remote_addr: str | None = None) -> None:
    """End every session of the account: a copy of its cookie no longer signs anyone in."""
    with write_transaction(session):
        user = session.get(StaffUser, user_id, with_for_update=True)
        user.session_token = _new_token()
        _audit(session, user, "staff.logout", now, _actor(user, remote_addr))


def change_password(
    session: Session, user_id: int, password: str, *, now: datetime, actor: Actor
) -> StaffUser:
    """Set a new password, lift any lock and end every session of the account; commits."""
    check_password(password)
    with write_transaction(session):
        user = session.get(StaffUser, user_id, with_for_update=True)
        user.password_hash = hash_password(password)
        user.session_token = _new_token()
        user.failed_logins, user.locked_until = 0, None
        _audit(session, user, "staff.password_changed", now, actor)
    return user


def _settle(
    session: Session,
    user_id: int,
    password: str | None,
    now: datetime,
    policy: LockoutPolicy,
    remote_addr: str | None,
) -> StaffUser:
    """Record one attempt (`password` is None when wrong) under the row lock, so every process counts."""
    with write_transaction(session):
        user = session.get(StaffUser, user_id, with_for_update=True, populate_existing=True)
        if password is None:
            action, details, refusal = _count_failure(user, now, policy)
        elif _is_locked(user, now):  # locked by a parallel attempt since we looked
            action, details, refusal = (
                "staff.login_refused",
                {"reason": "locked"},
                AccountLocked(user.locked_until),
            )
        else:
            action, details, refusal = "staff.login", {}, None
            _signed_in(user, password, now)
        _audit(session, user, action, now, _actor(user, remote_addr), details)
    if refusal is not None:
        raise refusal
    return user


def _count_failure(user: StaffUser, now: datetime, policy: LockoutPolicy) -> tuple[str, dict, LoginRefused]:
    user.failed_logins += 1
    if user.failed_logins < policy.max_failures:
        return "staff.login_failed", {"failures": user.failed_logins}, LoginRefused()
    user.failed_logins = 0  # the next lock needs as many failures again
    user.locked_until = now + policy.lock_for
    details = {"minutes": int(policy.lock_for.total_seconds() // 60)}
    return "staff.locked", details, AccountLocked(user.locked_until)


def _signed_in(user: StaffUser, password: str, now: datetime) -> None:
    user.failed_logins, user.locked_until = 0, None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):  # stored with older argon2 parameters
        user.password_hash = hash_password(password)


def _checked_details(session: Session, email: str, display_name: str, password: str) -> tuple[str, str]:
    errors = {}
    try:
        email = normalise_email(validate_email(email, check_deliverability=False).normalized)
    except EmailNotValidError:
        errors["email"] = "Enter an e-mail address like name@hospital.example."
    else:
        if staff_by_email(session, email) is not None:
            errors["email"] = "A staff account with this e-mail address exists already."
    display_name = display_name.strip()
    if not display_name or len(display_name) > MAX_NAME:
        errors["display_name"] = f"Enter a name of at most {MAX_NAME} characters."
    try:
        check_password(password)
    except InvalidAccount as invalid:
        errors.update(invalid.errors)
    if errors:
        raise InvalidAccount(errors)
    return email, display_name


def _audit_refusal(
    session: Session, user: StaffUser | None, now: datetime, actor: Actor, reason: str
) -> None:
    with write_transaction(session):
        _audit(session, user, "staff.login_refused", now, actor, {"reason": reason})


def _audit(
    session: Session,
    user: StaffUser | None,
    action: str,
    now: datetime,
    actor: Actor,
    details: dict | None = None,
) -> None:
    entity_id = user.id if user else "unknown"
    audit.record(
        session, actor, action, entity_type="staff_user", entity_id=entity_id, now=now, details=details
    )


def _actor(user: StaffUser | None, remote_addr: str | None) -> Actor:
    return Actor.staff(user.id, remote_addr) if user else Actor("anonymous", remote_addr)


def _is_locked(user: StaffUser, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _new_token() -> str:
    return secrets.token_urlsafe(32)
