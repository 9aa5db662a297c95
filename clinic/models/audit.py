"""The append-only, hash-chained audit trail."""

from datetime import datetime

from sqlalchemy import JSON, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Position in the chain, 1, 2, 3 … without gaps (ids may skip): the anchor's count.
    seq: Mapped[int] = mapped_column(unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))  # "patient", "staff:<id>", "system"
    action: Mapped[str] = mapped_column(String(80))  # "consultation.booked", ...
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    # Identifiers and changed field names only: never personal or clinical values.
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    # 0: plain SHA-256 (events from before migration 0009); 1: HMAC-SHA256 with CLINIC_AUDIT_KEY; 2: the
    # same over the key id too (every event since it was signed; audit.KEY_ID_SIGNED).
    hash_version: Mapped[int] = mapped_column(SmallInteger, default=2)
    # Which key signed a keyed event (audit.key_id: configured keys are known by it, never stored);
    # None for unkeyed events and for keyed ones from before migration 0012.
    key_id: Mapped[str | None] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    # A record's history (a consultation's, on the staff pages) is read by entity; the admin viewer
    # filters by actor, action and time, newest first (hence the id: a million rows, one page read).
    __table_args__ = (
        Index("ix_audit_event_entity", "entity_type", "entity_id"),
        Index("ix_audit_event_actor", "actor", "id"),
        Index("ix_audit_event_action", "action", "id"),
        Index("ix_audit_event_occurred_at", "occurred_at"),
    )
