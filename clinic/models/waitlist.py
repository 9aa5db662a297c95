"""The waitlist: patients waiting for a time of a service to be freed, and the offers of freed times."""

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, stored_enum, utcnow
from .people import Clinician, Service
from .scheduling import ConsentMethod


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"
    BOOKED = "booked"  # took an offer
    LEFT = "left"  # left the list from their link
    EXPIRED = "expired"  # their dates went by
    CLOSED = "closed"  # what they waited for (the service, or their clinician) is no longer offered


class WaitlistEntry(Base):
    """A patient waiting for a time of a service (with one clinician, or any) between two instants: the
    start of their first day and the end of their last, in their zone."""

    __tablename__ = "waitlist_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Names the entry in its leave link (as a booking's reference names it in the manage link).
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id"))
    clinician_id: Mapped[int | None] = mapped_column(ForeignKey("clinician.id"))  # None: any clinician
    window_starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    window_ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The details a booking needs, so an offer books in one step.
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(40))
    birth_date: Mapped[date]
    time_zone: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16), default="en")
    consent_notice_version: Mapped[str] = mapped_column(String(40))
    consent_method: Mapped[ConsentMethod] = mapped_column(stored_enum(ConsentMethod, 16))
    consent_given_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The secret the leave link's token is derived from (scheduling/tokens.py); never sent anywhere.
    link_seed: Mapped[str] = mapped_column(String(64))
    status: Mapped[WaitlistStatus] = mapped_column(
        stored_enum(WaitlistStatus, 16), default=WaitlistStatus.WAITING
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The join form's key and a keyed fingerprint of what it asked (scheduling/idempotency.py), so the form
    # sent twice joins (and mails) once.
    join_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    join_hash: Mapped[str | None] = mapped_column(String(64))

    service: Mapped[Service] = relationship()
    clinician: Mapped[Clinician | None] = relationship()

    # The offer job reads the waiting entries of a service, first come first served.
    __table_args__ = (Index("ix_waitlist_entry_service_status", "service_id", "status", "created_at"),)


class OfferStatus(enum.StrEnum):
    OFFERED = "offered"
    TAKEN = "taken"  # this patient booked it
    GONE = "gone"  # someone else did, or it was no longer free when confirmed
    EXPIRED = "expired"  # nobody confirmed in time


class WaitlistOffer(Base):
    """A freed time offered to one waiting patient, whose link books it in one step."""

    __tablename__ = "waitlist_offer"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("waitlist_entry.id", ondelete="CASCADE"))
    # The consultation whose cancellation or move freed the time: the offer's outbox rows hang on it.
    freed_by_id: Mapped[int] = mapped_column(ForeignKey("consultation.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id"))
    clinician_id: Mapped[int] = mapped_column(ForeignKey("clinician.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[OfferStatus] = mapped_column(stored_enum(OfferStatus, 16), default=OfferStatus.OFFERED)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The secret the offer link's token is derived from, as the leave link's is.
    link_seed: Mapped[str] = mapped_column(String(64))
    # The booking it became, once taken.
    consultation_id: Mapped[int | None] = mapped_column(ForeignKey("consultation.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    entry: Mapped[WaitlistEntry] = relationship()
    service: Mapped[Service] = relationship()
    clinician: Mapped[Clinician] = relationship()

    __table_args__ = (
        # Nobody is offered the same time twice, however often it is freed.
        UniqueConstraint("entry_id", "clinician_id", "starts_at", name="uq_waitlist_offer_entry_time"),
        # The offers of one time, made gone when one is taken.
        Index("ix_waitlist_offer_time", "clinician_id", "starts_at", "status"),
        Index("ix_waitlist_offer_status_expires", "status", "expires_at"),
    )
