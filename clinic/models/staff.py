"""Staff accounts: the people who sign in to run schedules or administer the hospital."""

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow
from .people import Clinician, Department


class StaffRole(enum.StrEnum):
    CLINICIAN = "clinician"  # their own schedule and their consultations' notes
    RECEPTION = "reception"  # a department's bookings, on patients' behalf; never notes
    ADMIN = "admin"  # the hospital's setup, and any department's schedule


class StaffUser(UserMixin, Base):
    """A staff login. Its session is identified by `session_token`, never by its id (see get_id)."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, with its parameters
    role: Mapped[StaffRole] = mapped_column(
        Enum(StaffRole, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    clinician_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinician.id", ondelete="SET NULL"), unique=True
    )
    # The department whose bookings reception staff manage (clinicians belong to theirs already).
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True)
    # Random; replaced at logout and password change, so every cookie that carries the old one dies.
    session_token: Mapped[str] = mapped_column(String(64), unique=True)
    # In the database, not in memory, so every web process counts the same failures.
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    clinician: Mapped[Clinician | None] = relationship()
    department: Mapped[Department | None] = relationship()

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role is StaffRole.ADMIN

    def get_id(self) -> str:
        return self.session_token
