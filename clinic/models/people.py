"""Departments, their services and clinicians, and patients."""

from datetime import date, datetime

from sqlalchemy import Column, ColumnElement, ForeignKey, String, Table, Text, and_, case
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from .base import Base, UTCDateTime, utcnow

clinician_service = Table(
    "clinician_service",
    Base.metadata,
    Column("clinician_id", ForeignKey("clinician.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("service.id", ondelete="CASCADE"), primary_key=True),
)


class Department(Base):
    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # Shown to patients who can no longer cancel online.
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    active: Mapped[bool] = mapped_column(default=True)

    services: Mapped[list["Service"]] = relationship(back_populates="department", order_by="Service.name")
    clinicians: Mapped[list["Clinician"]] = relationship(
        back_populates="department", order_by="Clinician.display_name"
    )


class Service(Base):
    """A kind of consultation: how long it lasts and the booking rules around it."""

    __tablename__ = "service"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    duration_minutes: Mapped[int]
    buffer_before_minutes: Mapped[int] = mapped_column(default=0)
    buffer_after_minutes: Mapped[int] = mapped_column(default=0)
    min_notice_minutes: Mapped[int] = mapped_column(default=120)
    horizon_days: Mapped[int] = mapped_column(default=60)
    slot_interval_minutes: Mapped[int] = mapped_column(default=15)
    # Patients may cancel or reschedule online until this long before the start.
    cancel_cutoff_minutes: Mapped[int] = mapped_column(default=24 * 60)
    # The video provider for this service's meetings; None uses the hospital's MEETING_PROVIDER.
    meeting_provider: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)

    department: Mapped[Department] = relationship(back_populates="services")
    clinicians: Mapped[list["Clinician"]] = relationship(
        secondary=clinician_service, back_populates="services", order_by="Clinician.id"
    )

    @property
    def offered(self) -> bool:
        """Whether patients may book it: it and its department are active."""
        return self.active and self.department.active


class Clinician(Base):
    """A clinician's profile: who patients see and the zone their weekly hours are kept in."""

    __tablename__ = "clinician"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(254), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)

    department: Mapped[Department] = relationship(back_populates="clinicians")
    services: Mapped[list[Service]] = relationship(secondary=clinician_service, back_populates="clinicians")
    availability_rules: Mapped[list["AvailabilityRule"]] = relationship(  # noqa: F821
        back_populates="clinician", cascade="all, delete-orphan"
    )


def email_key(email: str) -> str:
    """How an e-mail address is matched: in any case. In Python, not SQL: SQLite's lower() leaves
    non-ASCII letters as they are."""
    return email.lower()


class Patient(Base):
    __tablename__ = "patient"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # None for a patient booked by phone who has no e-mail: staff give them the details instead.
    email: Mapped[str | None] = mapped_column(String(254))
    # The address lower-cased (set with it), by which bookings are matched and counted (scheduling/holders).
    email_key: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str] = mapped_column(String(40))
    birth_date: Mapped[date | None]  # None for a walk-in caller, who is not asked it
    time_zone: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When retention replaced the details above with placeholders (clinic.privacy.retention).
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @validates("email")
    def _set_email_key(self, _field: str, email: str | None) -> str | None:
        self.email_key = email_key(email) if email else None
        return email

    # Retention keeps a booking's patient's date of birth as a placeholder (the column is how a walk-in
    # caller, who has none, is told apart): these two say what staff pages may show of it, in Python and SQL.
    @hybrid_property
    def known_birth_date(self) -> date | None:
        """The date of birth the patient gave: None for a walk-in caller (never asked) and once retention
        anonymised the details."""
        return None if self.anonymised_at else self.birth_date

    @known_birth_date.inplace.expression
    @classmethod
    def _known_birth_date(cls) -> ColumnElement[date | None]:
        return case((cls.anonymised_at.is_(None), cls.birth_date))

    @hybrid_property
    def details_anonymised(self) -> bool:
        """Whether this is a booking's patient whose details retention anonymised (a walk-in caller's record
        has no date of birth to withhold, and reads as a caller's)."""
        return self.anonymised_at is not None and self.birth_date is not None

    @details_anonymised.inplace.expression
    @classmethod
    def _details_anonymised(cls) -> ColumnElement[bool]:
        return and_(cls.anonymised_at.is_not(None), cls.birth_date.is_not(None))
