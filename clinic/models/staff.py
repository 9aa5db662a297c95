"""Staff accounts, their sign-ins (one session row each), second factors and refused sign-ins."""

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, stored_enum, utcnow
from .people import Clinician, Department


class StaffRole(enum.StrEnum):
    CLINICIAN = "clinician"  # their own schedule and their consultations' notes
    RECEPTION = "reception"  # a department's bookings, on patients' behalf; never notes
    ADMIN = "admin"  # the hospital's setup, and any department's schedule


class SessionEnd(enum.StrEnum):
    """Why a staff session ended."""

    LOGOUT = "logout"
    IDLE = "idle"
    EXPIRED = "expired"  # past its absolute lifetime
    PASSWORD_CHANGED = "password_changed"
    DEACTIVATED = "deactivated"
    ADMIN = "admin"
    ROLE_CHANGED = "role_changed"  # its next sign-in meets the new role's rules (an admin's second factor)
    MFA_RESET = "mfa_reset"
    MFA_REQUIRED = "mfa_required"  # an admin's, opened without a second factor, once admins must have one


class StaffUser(UserMixin, Base):
    """A staff login. Flask-Login knows it by the token of one of its sessions, never by its id."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, with its parameters
    role: Mapped[StaffRole] = mapped_column(stored_enum(StaffRole, 16))
    clinician_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinician.id", ondelete="SET NULL"), unique=True
    )
    # The department whose bookings reception staff manage (clinicians belong to theirs already).
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True)
    # Wrong passwords and codes counted since `failures_since`, in the database so every web
    # process counts the same; the count starts again once the window has passed.
    failed_logins: Mapped[int] = mapped_column(default=0)
    failures_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # TOTP second factor: secrets Fernet-encrypted (clinic/staff/mfa.py); the pending one waits for
    # its first code, so a reset never replaces a working secret with one the phone does not have.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_pending_secret: Mapped[str | None] = mapped_column(String(255))
    totp_last_step: Mapped[int | None] = mapped_column()  # the last time step used: codes work once
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    clinician: Mapped[Clinician | None] = relationship()
    department: Mapped[Department | None] = relationship()

    # Not a column: set for the request by the session loader, or at sign-in (clinic/auth/sessions.py).
    session_token = None

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role is StaffRole.ADMIN

    @property
    def has_totp(self) -> bool:
        return self.totp_secret is not None

    def get_id(self) -> str:
        """Flask-Login's id: the token of the staff session this request runs under."""
        if self.session_token is None:
            raise RuntimeError("a staff user signs in through clinic.auth.sessions, with a session token")
        return self.session_token


class StaffSession(Base):
    """One sign-in: its cookie carries a random token, the database only the token's SHA-256."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the absolute lifetime, however active
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))  # truncated: shown to its owner only
    # Signed in with a code (TOTP or recovery) or by setting up a factor, not with a password alone: where
    # CLINIC_REQUIRE_ADMIN_MFA is on, an admin's session without it ends (sessions.SessionRules).
    second_factor: Mapped[bool] = mapped_column(default=False, server_default=false())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[SessionEnd | None] = mapped_column(stored_enum(SessionEnd, 20))

    user: Mapped[StaffUser] = relationship()


class RecoveryCode(Base):
    """A one-time code that stands in for a TOTP code; only its argon2 hash is kept."""

    __tablename__ = "staff_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginFailure(Base):
    """A refused sign-in attempt, counted per address (whatever account it named) to throttle it."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_address_time", "remote_addr", "failed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    remote_addr: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
