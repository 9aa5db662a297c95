"""The TOTP second factor (RFC 6238 through pyotp) and its one-time recovery codes.

The secret is Fernet-encrypted with a key derived from SECRET_KEY (HKDF), so a copy of the database
alone yields no working authenticator. Keys derived from SECRET_KEY_FALLBACKS still open it, and an
accepted code re-seals it under the current key, so a rotated SECRET_KEY keeps every factor working.
Each accepted code records its time step, and only later steps are accepted after it, so a code
works once. Recovery codes are shown once and kept as
argon2 hashes.
"""

import base64
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..audit import Actor
from ..keys import derived_fernet_key, same_secret
from ..models import RecoveryCode, SessionEnd, StaffUser
from ..models.transactions import write_transaction
from . import events
from .accounts import locked_account, verify_password
from .errors import CodeRefused, OwnSecondFactor, SecondFactorUnreadable
from .sessions import close_sessions

RECOVERY_CODES = 10
DRIFT_STEPS = 1  # a code from the step before or after is accepted too: phones' clocks drift
# Recovery codes carry 80 random bits, so a slow hash adds nothing against guessing them; light
# argon2 parameters keep checking ten of them at sign-in fast.
_code_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the key to type in and the otpauth:// URI for the QR code."""

    key: str
    uri: str


def pending_enrolment(
    session: Session, user_id: int, *, secret_keys: Sequence[str], issuer: str
) -> Enrolment:
    """The secret waiting for its first code, made now if there is none; a working one stays until then."""
    user = session.get(StaffUser, user_id)
    key = _unseal(secret_keys, user.totp_pending_secret)
    if key is None:
        key = pyotp.random_base32()
        with write_transaction(session):
            user = session.get(StaffUser, user_id, with_for_update=True, populate_existing=True)
            user.totp_pending_secret = _fernet(secret_keys).encrypt(key.encode()).decode()
    return Enrolment(key=key, uri=pyotp.TOTP(key).provisioning_uri(name=user.email, issuer_name=issuer))


def enrol(
    session: Session, user: StaffUser, code: str, *, now: datetime, secret_keys: Sequence[str], actor: Actor
) -> list[str] | None:
    """Make the pending secret the account's second factor once `code` proves the app has it, in the
    caller's write transaction, `user` locked: ten new recovery codes (the old ones stop working); None if
    `code` is wrong."""
    step = _matching_step(_unseal(secret_keys, user.totp_pending_secret), code, now, after=None)
    if step is None:
        return None
    replaced = user.totp_secret is not None
    user.totp_secret = _resealed(secret_keys, user.totp_pending_secret)
    user.totp_pending_secret = None
    user.totp_last_step, user.totp_enrolled_at = step, now
    codes = _new_recovery_codes(session, user.id)
    events.record(session, user.id, "staff.mfa_enrolled", now, actor, {"replaced": replaced})
    return codes


def accept_code(
    session: Session, user: StaffUser, code: str, *, now: datetime, secret_keys: Sequence[str], actor: Actor
) -> str | None:
    """In the caller's write transaction, `user` locked: "totp" or "recovery_code" if `code` is one
    the account may use now (and it is used up), else None."""
    step = _matching_step(_unseal(secret_keys, user.totp_secret), code, now, after=user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
        user.totp_secret = _resealed(secret_keys, user.totp_secret)
        events.record(session, user.id, "staff.mfa_verified", now, actor)
        return "totp"
    recovery = _unused_recovery_code(session, user.id, code)
    if recovery is None:
        return None
    recovery.used_at = now
    events.record(session, user.id, "staff.mfa_recovery_code_used", now, actor, {"code": recovery.id})
    return "recovery_code"


def reset_mfa(session: Session, user_id: int, *, now: datetime, actor: Actor) -> bool:
    """Remove the account's second factor and recovery codes (a lost phone) and end its sessions; commits.
    False, with nothing changed or recorded, if it has none (not even one being set up).

    Its sessions end too, a thief's among them if the phone was stolen, and an admin's next sign-in sets
    up a factor where one is required. OwnSecondFactor when `actor` is the account itself: a session alone
    must not swap the factor, which takes a code from it (`signin.confirm_enrolment`)."""
    if actor == Actor.staff(user_id, actor.remote_addr):
        raise OwnSecondFactor()
    with write_transaction(session):
        user = locked_account(session, user_id)
        codes = select(RecoveryCode.id).where(RecoveryCode.staff_user_id == user_id).limit(1)
        if user.totp_secret is None and user.totp_pending_secret is None and session.scalar(codes) is None:
            return False
        user.totp_secret = user.totp_pending_secret = None
        user.totp_last_step = user.totp_enrolled_at = None
        session.execute(delete(RecoveryCode).where(RecoveryCode.staff_user_id == user_id))
        events.record(session, user.id, "staff.mfa_reset", now, actor)
        close_sessions(session, user.id, SessionEnd.MFA_RESET, now=now, actor=actor)
    return True


def recovery_codes_left(session: Session, user_id: int) -> int:
    return session.scalar(
        select(func.count()).where(RecoveryCode.staff_user_id == user_id, RecoveryCode.used_at.is_(None))
    )


def _matching_step(key: str | None, code: str, now: datetime, *, after: int | None) -> int | None:
    """The time step near `now` whose code is `code` and that comes after `after`, else None."""
    code = re.sub(r"\s", "", code)
    if key is None or not re.fullmatch(r"\d{6}", code):
        return None
    code = f"{int(code):06d}"  # \d and int() take any script's digits, as some phones' keyboards type
    totp, current = pyotp.TOTP(key), pyotp.TOTP(key).timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if (after is None or step > after) and same_secret(code, totp.generate_otp(step)):
            return step
    return None


def _new_recovery_codes(session: Session, user_id: int) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.staff_user_id == user_id))
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(
        RecoveryCode(staff_user_id=user_id, code_hash=_code_hasher.hash(_plain(c))) for c in codes
    )
    return codes


def _unused_recovery_code(session: Session, user_id: int, code: str) -> RecoveryCode | None:
    plain = _plain(code)
    if len(plain) != 16:
        return None
    unused = session.scalars(
        select(RecoveryCode).where(RecoveryCode.staff_user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return next((row for row in unused if _code_matches(row.code_hash, plain)), None)


def _code_matches(code_hash: str, plain: str) -> bool:
    return verify_password(code_hash, plain, hasher=_code_hasher)


def _recovery_code() -> str:
    """16 base32 characters (80 random bits) in groups of four: ABCD-EFGH-JKLM-NPQR."""
    plain = base64.b32encode(secrets.token_bytes(10)).decode()
    return "-".join(plain[i : i + 4] for i in range(0, 16, 4))


def _plain(code: str) -> str:
    return re.sub(r"[\s-]", "", code).upper()


def code_refusal(user: StaffUser, secret_keys: Sequence[str], field: str = "code") -> CodeRefused:
    """Why a code was refused: wrong, or the account's TOTP secret opens under no configured key (a
    secret key replaced without its fallback), when only a recovery code or an admin's reset helps."""
    unreadable = user.totp_secret is not None and _unseal(secret_keys, user.totp_secret) is None
    return SecondFactorUnreadable(field) if unreadable else CodeRefused(field)


def _fernet(secret_keys: Sequence[str]) -> MultiFernet:
    """Seals under the key derived from SECRET_KEY; opens with it or one derived from a fallback."""
    return MultiFernet([Fernet(derived_fernet_key(key, "staff totp secret")) for key in secret_keys])


def _resealed(secret_keys: Sequence[str], token: str) -> str:
    """`token` sealed under the current key: a sign-in after a SECRET_KEY rotation moves it there."""
    return _fernet(secret_keys).rotate(token.encode()).decode()


def _unseal(secret_keys: Sequence[str], token: str | None) -> str | None:
    """The secret in `token`; None if there is none, or no key (current or fallback) opens it."""
    if token is None:
        return None
    try:
        return _fernet(secret_keys).decrypt(token.encode()).decode()
    except InvalidToken:
        return None
