"""The walk-in video queue: a department's queue, its weekly opening hours and staff on duty, and the
people waiting in it."""

import enum
from datetime import datetime, time

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, stored_enum, utcnow
from .people import Clinician, Department, Service
from .scheduling import ConsentMethod, Consultation

walk_in_duty = Table(
    "walk_in_duty",
    Base.metadata,
    Column("queue_id", ForeignKey("walk_in_queue.id", ondelete="CASCADE"), primary_key=True),
    Column("clinician_id", ForeignKey("clinician.id", ondelete="CASCADE"), primary_key=True),
)


class QueueStatus(enum.StrEnum):
    OPEN = "open"  # people may join (inside the opening hours) and staff take them
    PAUSED = "paused"  # nobody new may join; those waiting keep their place
    CLOSED = "closed"  # nobody may join; those waiting are told it closed


class EntryStatus(enum.StrEnum):
    WAITING = "waiting"
    TAKEN = "taken"  # a staff member called them: their page offers the join button
    IN_CALL = "in-call"  # they pressed join
    COMPLETED = "completed"  # the call's consultation was finished
    LEFT = "left"  # they left the queue themselves
    DROPPED = "dropped"  # taken twice without joining
    CLOSED = "closed"  # still waiting when the queue closed


# The statuses of someone still in the queue or in its call.
CURRENT_ENTRY_STATUSES = (EntryStatus.WAITING, EntryStatus.TAKEN, EntryStatus.IN_CALL)


class WalkInQueue(Base):
    """A department's (or one of its services') on-demand video queue, open in its weekly hours."""

    __tablename__ = "walk_in_queue"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    # The service whose length a call takes; None: the first the taking clinician offers in the department.
    service_id: Mapped[int | None] = mapped_column(ForeignKey("service.id"))
    # The address of its join page, /walk-in/<slug>.
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    # The zone its opening hours are kept in.
    time_zone: Mapped[str] = mapped_column(String(64))
    status: Mapped[QueueStatus] = mapped_column(stored_enum(QueueStatus, 16), default=QueueStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    department: Mapped[Department] = relationship()
    service: Mapped[Service | None] = relationship()
    hours: Mapped[list["WalkInHours"]] = relationship(
        back_populates="queue",
        cascade="all, delete-orphan",
        order_by="(WalkInHours.weekday, WalkInHours.start_time)",
    )
    staff: Mapped[list[Clinician]] = relationship(secondary=walk_in_duty, order_by="Clinician.display_name")


class WalkInHours(Base):
    """Weekly opening hours in the queue's zone; an end at or before the start runs past midnight."""

    __tablename__ = "walk_in_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("walk_in_queue.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int]  # Monday is 0, as in date.weekday()
    start_time: Mapped[time]
    end_time: Mapped[time]

    queue: Mapped[WalkInQueue] = relationship(back_populates="hours")


class WalkInEntry(Base):
    """Someone in a walk-in queue. No reason for the call is ever asked or kept."""

    __tablename__ = "walk_in_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("walk_in_queue.id", ondelete="CASCADE"))
    # Names the entry in its secret link, as a consultation's reference does in its manage link.
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    # The secret the link's token is derived from (scheduling/tokens.py); never sent anywhere.
    link_seed: Mapped[str] = mapped_column(String(64))
    # The join form's own key: the same form sent twice (a double click) joins once (walkin.queue.join).
    join_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # What that form asked, and from which browser (idempotency.fingerprint): the key is in the page, so
    # another request that carries it is refused, not given this place.
    join_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(40), default="")
    needs_interpreter: Mapped[bool] = mapped_column(default=False)
    # For staff arranging the interpreter; None unless one is needed. Personal data: in no mail or invite.
    interpreter_language: Mapped[str | None] = mapped_column(String(60))
    consent_notice_version: Mapped[str] = mapped_column(String(40))
    consent_given_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consent_method: Mapped[ConsentMethod] = mapped_column(stored_enum(ConsentMethod, 16))
    status: Mapped[EntryStatus] = mapped_column(stored_enum(EntryStatus, 16), default=EntryStatus.WAITING)
    # Order in the queue, lowest first; one sent back to the front goes below the lowest.
    position: Mapped[int]
    requeued: Mapped[bool] = mapped_column(default=False)  # sent back to the front once already
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    taken_by: Mapped[int | None] = mapped_column(ForeignKey("clinician.id"))
    # The call made when they were taken (the latest, if they were sent back and taken again). Indexed: each
    # schedule's rows look up the caller of their call by it (whether they asked for an interpreter).
    consultation_id: Mapped[int | None] = mapped_column(ForeignKey("consultation.id"), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # pressed join
    # When they completed, left, were dropped or closed out (which: `status`).
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    queue: Mapped[WalkInQueue] = relationship()
    consultation: Mapped[Consultation | None] = relationship()

    __table_args__ = (
        # Take-next reads the first waiting entry of a queue through this index.
        Index("ix_walk_in_entry_queue_status_position", "queue_id", "status", "position"),
    )
