"""The outbox: side effects of a change, written in the change's own transaction and run by the worker."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, stored_enum, utcnow


class OutboxKind(enum.StrEnum):
    MEETING_CREATE = "meeting.create"
    MEETING_UPDATE = "meeting.update"
    MEETING_CANCEL = "meeting.cancel"
    CONFIRMATION = "mail.confirmation"
    UPDATE = "mail.update"
    CANCELLATION = "mail.cancellation"
    # To the clinician a consultation was handed from: off their calendar, yet no cancellation (0027).
    HANDED_OVER = "mail.handed_over"
    REMINDER = "mail.reminder"
    LINK = "mail.link"  # a booking's link, mailed again at the patient's request
    NEW_ROOM = "mail.new_room"  # the call's new meeting link, after someone was taken out of it
    PLAN_REMINDERS = "reminders.plan"
    # The waitlist's, hung on the consultation that freed a time: offer it, and tell each patient.
    WAITLIST_OFFERS = "waitlist.offers"
    WAITLIST_OFFER_MAIL = "mail.waitlist_offer"
    WAITLIST_GONE_MAIL = "mail.waitlist_gone"
    # Hung on the waitlist entry itself: its patient is told they are on the list, and how to leave it;
    # that their place ended because what they waited for is no longer offered; or with its last day.
    WAITLIST_JOINED_MAIL = "mail.waitlist_joined"
    WAITLIST_CLOSED_MAIL = "mail.waitlist_closed"
    WAITLIST_EXPIRED_MAIL = "mail.waitlist_expired"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"
    CANCELLED = "cancelled"


UNFINISHED = (OutboxStatus.PENDING, OutboxStatus.RUNNING)
_UNFINISHED_SQL = f"status IN ({', '.join(repr(status.value) for status in UNFINISHED)})"
_ONE_OWNER_SQL = "(consultation_id IS NULL) <> (waitlist_entry_id IS NULL)"


class OutboxMessage(Base):
    """One side effect to run at or after `due_at`; `payload` holds ids and numbers, never personal data.

    It belongs to a consultation, or (a waitlist entry's own mail, before any consultation) to a waitlist
    entry: exactly one of the two, and it is deleted with it."""

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int | None] = mapped_column(
        ForeignKey("consultation.id", ondelete="CASCADE"), index=True
    )
    waitlist_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("waitlist_entry.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[OutboxKind] = mapped_column(stored_enum(OutboxKind, 32))
    # "patient" or "clinician" for mails; a column because the claim orders each recipient's mails.
    audience: Mapped[str | None] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[OutboxStatus] = mapped_column(stored_enum(OutboxStatus, 16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    # The failure's kind and what the far end said (an SMTP reply, addresses masked; an HTTP status): see
    # jobs/failures.py. Never a message of our own, which could quote personal data.
    last_error: Mapped[str | None] = mapped_column(String(300))
    # How a finished message ended when it is worth telling: "expired", "superseded", "fallback:jitsi".
    outcome: Mapped[str | None] = mapped_column(String(80))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # For the claim (migration 0016): the due index ends with id, the claim's tie-break, so a claim reads
    # its batch off it in order; the unfinished messages of a consultation, which a due one may wait for,
    # have an index of their own, a probe of a row or two however much has been done or updated.
    __table_args__ = (
        Index("ix_outbox_message_status_due", "status", "due_at", "id"),
        Index(
            "ix_outbox_message_unfinished",
            "consultation_id",
            "id",
            postgresql_where=text(_UNFINISHED_SQL),
            sqlite_where=text(_UNFINISHED_SQL),
        ),
        CheckConstraint(_ONE_OWNER_SQL, name="one_owner"),
    )


class WorkerHeartbeat(Base):
    """A running outbox worker as it last reported itself: for /readyz, and to keep SQLite to one worker."""

    __tablename__ = "worker_heartbeat"

    worker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
