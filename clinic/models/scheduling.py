"""Weekly hours, time off, consultations, and the idempotency keys of booking requests."""

import enum
from collections.abc import Collection
from datetime import date, datetime, time
from typing import Protocol

from sqlalchemy import ColumnElement, ForeignKey, Index, String, Text, or_, text
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from .base import Base, UTCDateTime, stored_enum, utcnow
from .people import Clinician, Department, Patient, Service
from .sealed_text import opened, sealed

# The fields a sealed reason is bound to: a token copied into the other one, or another row, is unreadable.
REASON_FIELD, CANCEL_REASON_FIELD = "consultation.reason", "consultation.cancel_reason"


class AvailabilityRule(Base):
    """Weekly hours in the clinician's own zone; an end at or before the start runs past midnight."""

    __tablename__ = "availability_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("clinician.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int]  # Monday is 0, as in date.weekday()
    start_time: Mapped[time]
    end_time: Mapped[time]
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]

    clinician: Mapped[Clinician] = relationship(back_populates="availability_rules")


class TimeOff(Base):
    __tablename__ = "time_off"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("clinician.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    label: Mapped[str] = mapped_column(String(120), default="")

    clinician: Mapped[Clinician] = relationship()

    __table_args__ = (Index("ix_time_off_clinician_start", "clinician_id", "starts_at"),)


class Closure(Base):
    """A clinic closure: no bookings in [starts_at, ends_at) for one department, or the whole hospital."""

    __tablename__ = "closure"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None closes every department.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    label: Mapped[str] = mapped_column(String(120), default="")

    department: Mapped[Department | None] = relationship()

    # The slot search reads the closures overlapping its window through this index.
    __table_args__ = (Index("ix_closure_starts_at", "starts_at"),)

    @classmethod
    def covers(cls, department: ColumnElement[int] | int | Collection[int]) -> ColumnElement[bool]:
        """Whether the closure covers `department` (an id, a column of the enclosing query, or any of several
        ids): its own, or the whole hospital's. It is time off for every clinician of a department it
        covers."""
        if isinstance(department, Collection):
            return or_(cls.department_id.is_(None), cls.department_id.in_(list(department)))
        return or_(cls.department_id.is_(None), cls.department_id == department)


class ConsultationStatus(enum.StrEnum):
    """FHIR Appointment.status codes (with Encounter's in-progress for a call under way)."""

    BOOKED = "booked"
    ARRIVED = "arrived"  # the patient checked in from the waiting room, or staff marked them here
    IN_PROGRESS = "in-progress"
    FULFILLED = "fulfilled"
    NOSHOW = "noshow"
    CANCELLED = "cancelled"


# Every status but cancelled keeps the clinician's time taken.
ACTIVE_STATUSES = tuple(s for s in ConsultationStatus if s is not ConsultationStatus.CANCELLED)
_ACTIVE_SQL = "status <> 'cancelled'"


class ConsultationFacts(Protocol):
    """What the rules read of a consultation (whose, when, its status): the entity, or a schedule's row
    of its columns (scheduling.listing.Listed)."""

    @property
    def status(self) -> ConsultationStatus: ...

    @property
    def clinician_id(self) -> int: ...

    @property
    def starts_at(self) -> datetime: ...

    @property
    def ends_at(self) -> datetime: ...


class ConsentMethod(enum.StrEnum):
    """How the patient agreed to the privacy notice."""

    ONLINE = "online"  # ticked the box on the booking page, or an app sent it through the API
    VERBAL = "verbal"  # told staff on the phone, who ticked the box for them


class Consultation(Base):
    __tablename__ = "consultation"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("clinician.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The consultation with the service's buffers around it: the time no other booking may touch.
    blocked_from: Mapped[datetime] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[ConsultationStatus] = mapped_column(
        stored_enum(ConsultationStatus, 20),
        default=ConsultationStatus.BOOKED,
    )
    # Clinical detail: shown to the clinician only, never in mail, invites or logs. Sealed, as is
    # cancel_reason: read and write them through reason_text and write_reason (models.sealed_text).
    reason: Mapped[str] = mapped_column(Text, default="")
    patient_time_zone: Mapped[str] = mapped_column(String(64))
    meeting_provider: Mapped[str | None] = mapped_column(String(32))
    meeting_join_url: Mapped[str | None] = mapped_column(String(2000))
    meeting_host_url: Mapped[str | None] = mapped_column(String(2000))
    meeting_external_id: Mapped[str | None] = mapped_column(String(255))
    invite_sequence: Mapped[int] = mapped_column(default=0)
    # The domain of the invites' UID (INVITE_DOMAIN when the first went out): kept, so that a later change
    # of the setting leaves calendars able to match the updates and cancellation to the event.
    invite_domain: Mapped[str | None] = mapped_column(String(253))
    # How many times the call moved to a new meeting (someone taken out of it knew the old one's address):
    # providers that find a meeting by a key of ours tell the new one from the old by it (meetings.base).
    meetings_replaced: Mapped[int] = mapped_column(default=0, server_default="0")
    # The secret the manage link's token is derived from (scheduling/tokens.py); never sent anywhere.
    # Its column keeps its first name: rows from before hold the hash of their old token, as their seed.
    link_seed: Mapped[str] = mapped_column("manage_token_hash", String(64))
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the lifecycle moved on: the patient checked in, the call started, it ended (or was a no-show).
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The privacy notice the patient agreed to when booking, when and how; None for bookings from before
    # consent was recorded (and demo data).
    consent_notice_version: Mapped[str | None] = mapped_column(String(40))
    consent_given_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_method: Mapped[ConsentMethod | None] = mapped_column(stored_enum(ConsentMethod, 16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    patient: Mapped[Patient] = relationship()
    clinician: Mapped[Clinician] = relationship()
    service: Mapped[Service] = relationship()
    companions: Mapped[list["Companion"]] = relationship(
        back_populates="consultation", order_by="Companion.id", cascade="all, delete-orphan"
    )
    # The walk-in caller whose call this is, if it is one: their queue's rules end it, not a cancellation.
    walk_in_entry: Mapped["WalkInEntry | None"] = relationship(viewonly=True)  # noqa: F821

    @property
    def is_walk_in(self) -> bool:
        """Whether this is a walk-in call: its patient record is the caller's, made when they were taken, with
        no date of birth (never asked of a caller, always of a booking). Unlike `walk_in_entry`, it holds for
        an earlier call of a caller taken again too, whose entry has moved on to the later call."""
        return self.patient.birth_date is None

    @property
    def reason_text(self) -> str:
        """The reason for the visit as the patient wrote it, "" if none."""
        return opened(self, self.reason, row=self.uuid, field=REASON_FIELD)

    @property
    def cancel_reason_text(self) -> str:
        """The reason given for cancelling, "" if none."""
        return opened(self, self.cancel_reason, row=self.uuid, field=CANCEL_REASON_FIELD)

    def write_reason(self, session: Session, text: str) -> None:
        self.reason = sealed(session, text, row=self.uuid, field=REASON_FIELD)

    def write_cancel_reason(self, session: Session, text: str) -> None:
        self.cancel_reason = sealed(session, text, row=self.uuid, field=CANCEL_REASON_FIELD)

    __table_args__ = (
        # The busy-interval query reads one clinician's window through this index.
        Index("ix_consultation_clinician_blocked", "clinician_id", "blocked_from"),
        # The admin reports read the consultations starting in their weeks through this one.
        Index("ix_consultation_starts_at", "starts_at"),
        # The clashes page and housekeeping read the few past consultations still booked (those missed in
        # their clinician's absence, and those not yet marked no-shows) through this one, not the history.
        Index("ix_consultation_status_starts_at", "status", "starts_at"),
        # A cheap backstop for identical slots on every database; PostgreSQL adds an
        # exclusion constraint for overlaps in the migration.
        Index(
            "uq_consultation_clinician_start_active",
            "clinician_id",
            "starts_at",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
    )

    @property
    def is_active(self) -> bool:
        return self.status is not ConsultationStatus.CANCELLED

    @property
    def companion(self) -> "Companion | None":
        """The second participant taking part now (one at most), if any."""
        return next((c for c in self.companions if c.removed_at is None), None)


class CompanionRole(enum.StrEnum):
    INTERPRETER = "interpreter"
    RELATIVE = "relative"
    CARER = "carer"


class Companion(Base):
    """A second participant (interpreter, relative or carer): their own invite and join link, and no
    say over the booking. Removed ones stay on record, for the audit of who was invited."""

    __tablename__ = "companion"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultation.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[CompanionRole] = mapped_column(stored_enum(CompanionRole, 16))
    # The secret the join link's token is derived from, as the manage token is (scheduling/tokens.py).
    link_seed: Mapped[str] = mapped_column("join_token_hash", String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    consultation: Mapped[Consultation] = relationship(back_populates="companions")


class IdempotencyKey(Base):
    """A booking request's key, so a replayed request returns the booking it made."""

    __tablename__ = "idempotency_key"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
