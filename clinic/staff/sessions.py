"""Staff sessions: one `staff_session` row per sign-in, checked on every request.

The cookie carries a random token and the database only its SHA-256, so a copy of the table opens
no session. A session ends at logout, after STAFF_IDLE_MINUTES without a request, at its absolute
lifetime (STAFF_SESSION_HOURS), or for all of an account's sessions at a password change, a
deactivation, a change of role or link, a second factor's removal or an admin's word, so no session
outlives the role or the second factor it was opened with; and an admin's session opened without a
second factor ends once CLINIC_REQUIRE_ADMIN_MFA is on, as a sign-in without one would be refused then.
A copied cookie dies with its session.
"""

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from ..audit import SYSTEM, Actor
from ..models import SessionEnd, StaffRole, StaffSession, StaffUser
from ..models.driver import driver_rows
from ..models.transactions import write_transaction
from . import events

# Refreshing last_seen_at on every request would make every page a write, each holding SQLite's one
# write lock; once a minute is precise enough for an idle timeout counted in minutes.
TOUCH_EVERY = timedelta(minutes=1)
USER_AGENT_LENGTH = 200
ADDRESS_LENGTH = 64
# Run on every staff request: built once, as building it costs about a third of a millisecond of CPU, and
# run on the driver's path (models.driver), as plain columns: the session's life, then a SessionUser's. Never
# the password hash or a second factor's secret.
_BY_TOKEN_HASH = (
    select(
        StaffSession.id,
        StaffSession.ended_at,
        StaffSession.expires_at,
        StaffSession.last_seen_at,
        StaffSession.second_factor,
        StaffUser.active,
        StaffUser.id,
        StaffUser.email,
        StaffUser.display_name,
        StaffUser.role,
        StaffUser.clinician_id,
        StaffUser.department_id,
        StaffUser.totp_secret.is_not(None),
    )
    .join(StaffUser, StaffUser.id == StaffSession.staff_user_id)
    .where(StaffSession.token_hash == bindparam("token_hash"))
)


@dataclass(frozen=True)
class SessionRules:
    idle: timedelta
    lifetime: timedelta
    admin_second_factor: bool  # CLINIC_REQUIRE_ADMIN_MFA: an admin's session lives only if it had one

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SessionRules":
        return cls(
            idle=timedelta(minutes=float(config["STAFF_IDLE_MINUTES"])),
            lifetime=timedelta(hours=float(config["STAFF_SESSION_HOURS"])),
            admin_second_factor=bool(config["REQUIRE_ADMIN_MFA"]),
        )


@dataclass(frozen=True)
class Client:
    """Where a request comes from, as the web layer saw it."""

    remote_addr: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class SessionUser:
    """The account a live session signs in, as the rest of its request reads it (Flask-Login's current_user):
    who, in what role, with which second factor state; read afresh on every request, so an admin's change
    shows at once."""

    id: int
    email: str
    display_name: str
    role: StaffRole
    clinician_id: int | None
    department_id: int | None
    has_totp: bool
    session_token: str
    idle_until: datetime  # when the session ends unless a request that is activity comes first

    # What Flask-Login asks of a user: a live session's account is active (see _why_dead).
    is_authenticated = True
    is_active = True
    is_anonymous = False

    @property
    def is_admin(self) -> bool:
        return self.role is StaffRole.ADMIN

    def get_id(self) -> str:
        """Flask-Login's id: the token of the staff session, never the account's id (see StaffUser)."""
        return self.session_token


@dataclass(frozen=True)
class SessionCheck:
    """The account a token signs in, or None; `ended` says why, when this check ended the session."""

    user: SessionUser | None
    ended: SessionEnd | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    session: Session,
    user: StaffUser,
    *,
    now: datetime,
    rules: SessionRules,
    client: Client,
    second_factor: bool,
) -> tuple[StaffSession, str]:
    """Add a session for `user` in the caller's write transaction, signed in with a `second_factor` or with
    a password alone; returns it and its cookie token."""
    token = secrets.token_urlsafe(32)
    row = StaffSession(
        staff_user_id=user.id,
        token_hash=hash_token(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + rules.lifetime,
        remote_addr=(client.remote_addr or "")[:ADDRESS_LENGTH] or None,
        user_agent=(client.user_agent or "")[:USER_AGENT_LENGTH] or None,
        second_factor=second_factor,
    )
    session.add(row)
    session.flush()
    return row, token


def check_session(
    session: Session, token: str, *, now: datetime, rules: SessionRules, activity: bool = True
) -> SessionCheck:
    """The account signed in with `token` while its session lives; a session found dead is ended here.

    `activity` False is a page's own background request (polling): it is checked, but it does not
    count as the staff member being there, so an unattended screen still times out.
    """
    if not token or len(token) > 128:
        return SessionCheck(None)
    found = driver_rows(session, _BY_TOKEN_HASH, {"token_hash": hash_token(token)})
    if not found:
        return SessionCheck(None)
    row_id, ended_at, expires_at, last_seen_at, second_factor, active, *account = found[0]
    if ended_at is not None:
        return SessionCheck(None)
    bare_admin = _is_admin(account[3]) and not second_factor
    reason = _why_dead(expires_at, last_seen_at, active, bare_admin, now, rules)
    if reason is not None:
        with write_transaction(session):
            _close(session, _locked(session, row_id), reason, now, SYSTEM)
        return SessionCheck(None, reason)
    if activity and now - last_seen_at >= TOUCH_EVERY:
        with write_transaction(session):
            session.execute(update(StaffSession).where(StaffSession.id == row_id).values(last_seen_at=now))
        last_seen_at = now
    return SessionCheck(SessionUser(*account, session_token=token, idle_until=last_seen_at + rules.idle))


def end_session(session: Session, token: str, *, now: datetime, actor: Actor) -> None:
    """Log out: end the session that `token` names, so no copy of its cookie signs in again."""
    with write_transaction(session):
        row = session.scalar(
            select(StaffSession).where(StaffSession.token_hash == hash_token(token)).with_for_update()
        )
        _close(session, row, SessionEnd.LOGOUT, now, actor)


def end_sessions(session: Session, user_id: int, reason: SessionEnd, *, now: datetime, actor: Actor) -> int:
    """End every live session of the account, for `reason`; returns how many."""
    with write_transaction(session):
        return close_sessions(session, user_id, reason, now=now, actor=actor)


def end_other_sessions(session: Session, user_id: int, token: str, *, now: datetime, actor: Actor) -> int:
    """ "Sign out everywhere else": end the account's live sessions but the one `token` names."""
    with write_transaction(session):
        return close_sessions(session, user_id, SessionEnd.LOGOUT, now=now, actor=actor, keep_token=token)


def close_sessions(
    session: Session,
    user_id: int,
    reason: SessionEnd,
    *,
    now: datetime,
    actor: Actor,
    keep_token: str | None = None,
) -> int:
    """End the account's live sessions (but `keep_token`'s) in the caller's write transaction."""
    query = select(StaffSession).where(StaffSession.staff_user_id == user_id, StaffSession.ended_at.is_(None))
    if keep_token is not None:
        query = query.where(StaffSession.token_hash != hash_token(keep_token))
    rows = session.scalars(query.order_by(StaffSession.id).with_for_update()).all()
    for row in rows:
        _close(session, row, reason, now, actor)
    return len(rows)


def live_sessions(
    session: Session, user_id: int, *, now: datetime, rules: SessionRules
) -> list[StaffSession]:
    """The account's sessions that would still sign in, newest first."""
    rows = session.scalars(
        select(StaffSession)
        .where(StaffSession.staff_user_id == user_id, StaffSession.ended_at.is_(None))
        .order_by(StaffSession.created_at.desc(), StaffSession.id.desc())
    )
    return [
        row
        for row in rows
        if _why_dead(row.expires_at, row.last_seen_at, row.user.active, _bare_admin(row), now, rules) is None
    ]


def live(now: datetime, rules: SessionRules, *, since: datetime | None = None) -> ColumnElement[bool]:
    """Whether a session still signs in, in SQL over `staff_session` joined with its `staff_user`: the rule
    of _why_dead, for counting who is signed in without reading each row. With `since`, whether it signed in
    at any moment from `since` to `now`: one ended, expired or idled out after `since` counts too (the
    account's state and the second factor's rule as they are now)."""
    if since is None:
        alive = and_(
            StaffSession.ended_at.is_(None),
            StaffSession.expires_at > now,
            StaffSession.last_seen_at >= now - rules.idle,
        )
    else:
        alive = and_(
            or_(StaffSession.ended_at.is_(None), StaffSession.ended_at > since),
            StaffSession.expires_at > since,
            StaffSession.last_seen_at >= since - rules.idle,
        )
    alive = and_(alive, StaffUser.active.is_(True))
    if rules.admin_second_factor:
        return and_(alive, or_(StaffUser.role != StaffRole.ADMIN, StaffSession.second_factor.is_(True)))
    return alive


def _why_dead(
    expires_at: datetime,
    last_seen_at: datetime,
    user_active: bool,
    bare_admin: bool,
    now: datetime,
    rules: SessionRules,
) -> SessionEnd | None:
    """Why a session not ended yet is dead by now, or None while it lives. `bare_admin`: an admin's
    session signed in without a second factor."""
    if now >= expires_at:
        return SessionEnd.EXPIRED
    if now - last_seen_at > rules.idle:
        return SessionEnd.IDLE
    if not user_active:  # deactivation ends sessions too; this covers a row changed by hand
        return SessionEnd.DEACTIVATED
    if bare_admin and rules.admin_second_factor:  # the rule came in force after it signed in
        return SessionEnd.MFA_REQUIRED
    return None


def _is_admin(role: StaffRole | str) -> bool:
    return role == StaffRole.ADMIN


def _bare_admin(row: StaffSession) -> bool:
    return _is_admin(row.user.role) and not row.second_factor


def _locked(session: Session, session_id: int) -> StaffSession:
    return session.get(StaffSession, session_id, with_for_update=True, populate_existing=True)


def _close(
    session: Session, row: StaffSession | None, reason: SessionEnd, now: datetime, actor: Actor
) -> None:
    if row is None or row.ended_at is not None:  # a parallel request ended it first
        return
    row.ended_at, row.end_reason = now, reason
    action = "staff.logout" if reason is SessionEnd.LOGOUT else "staff.session_ended"
    events.record(session, row.staff_user_id, action, now, actor, {"session": row.id, "reason": str(reason)})
