"""One-time links, made by an admin, with which a staff member chooses a new password.

Chosen over a temporary password: nobody but the staff member ever knows a password that works (the
admin hands over a link that cannot sign in), and nothing is stored. The link is signed with
SECRET_KEY (one signed with a fallback still works) and names the account and a fingerprint of its
current password hash, so setting any password spends it (and every other link made before), and the
account's last change of role or deactivation, so a link made for one role does not serve another, nor
outlive a deactivation; it dies after RESET_LINK_VALID unused. Using it is `change_password`: any lock
lifted, every session ended. The second factor still applies at sign-in.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from ..audit import Actor
from ..models import StaffUser
from ..models.transactions import write_transaction
from . import events
from .accounts import change_password, check_password, locked_account, password_mark, standing_version
from .errors import AccountError

RESET_LINK_VALID = timedelta(hours=24)
_SALT = "clinic.staff-password-reset"


class ResetLinkInvalid(AccountError):
    """A reset link that was tampered with, has expired, was used, or names a deactivated account."""

    def __init__(self) -> None:
        super().__init__(
            "This link does not work any more: it was used already, has expired, or a newer one was made. "
            "Ask an admin for a new link."
        )


class InactiveAccount(AccountError):
    """A password link asked for a deactivated account."""

    def __init__(self) -> None:
        super().__init__("A deactivated account cannot sign in, so it gets no password link.")


def make_reset_token(
    session: Session, user_id: int, *, secret_keys: Sequence[str], now: datetime, actor: Actor
) -> str:
    """A token for the reset link of an active account, valid for RESET_LINK_VALID; audited, commits."""
    with write_transaction(session):
        user = locked_account(session, user_id)
        if not user.active:
            raise InactiveAccount()
        events.record(session, user.id, "staff.password_link_made", now, actor)
        payload = [user.id, password_mark(user), int(now.timestamp()), standing_version(session, user.id)]
    return _serializer(secret_keys).dumps(payload)


def _account_for_token(
    session: Session, token: str, *, secret_keys: Sequence[str], now: datetime
) -> StaffUser:
    """The account whose link this is, while the link works; else ResetLinkInvalid."""
    try:
        user_id, fingerprint, issued, standing = _serializer(secret_keys).loads(token)
        issued_at = datetime.fromtimestamp(int(issued), UTC)
    except (BadSignature, ValueError, TypeError, OverflowError):
        raise ResetLinkInvalid() from None
    user = session.get(StaffUser, user_id) if isinstance(user_id, int) else None
    if user is None or not _still_works(user, fingerprint, issued_at, now):
        raise ResetLinkInvalid()
    if standing != standing_version(session, user.id):
        raise ResetLinkInvalid()
    return user


def reset_password(
    session: Session,
    token: str,
    password: str,
    *,
    secret_keys: Sequence[str],
    now: datetime,
    remote_addr: str | None,
) -> StaffUser:
    """Set the password a working link allows; ResetLinkInvalid, or InvalidAccount for a short password."""
    check_password(password)
    user = _account_for_token(session, token, secret_keys=secret_keys, now=now)
    fingerprint, standing = password_mark(user), standing_version(session, user.id)

    def still_unused(locked: StaffUser) -> None:
        # Checked again under the row lock: of two uses of one link at once, the second finds it spent;
        # a role changed or a deactivation since the check above voids it too.
        if password_mark(locked) != fingerprint or not locked.active:
            raise ResetLinkInvalid()
        if standing_version(session, locked.id) != standing:
            raise ResetLinkInvalid()

    actor = events.actor_for(user.id, remote_addr)
    return change_password(session, user.id, password, now=now, actor=actor, check=still_unused)


def _still_works(user: StaffUser, fingerprint: str, issued_at: datetime, now: datetime) -> bool:
    fresh = issued_at <= now < issued_at + RESET_LINK_VALID
    return user.active and fresh and fingerprint == password_mark(user)


def _serializer(secret_keys: Sequence[str]) -> URLSafeSerializer:
    """Signs with SECRET_KEY, the first; checks with it and each fallback (itsdangerous: newest last)."""
    return URLSafeSerializer(list(reversed(secret_keys)), salt=_SALT)
