"""The audit trail: append-only events, each hashed together with the one before it.

Changing or deleting any row breaks every hash after it, which `verify_chain` finds.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from .models import AuditEvent

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who asks, for the audit trail: "patient", "staff:<id>", "system" or "anonymous", and from where."""

    name: str = "patient"
    remote_addr: str | None = None

    @classmethod
    def staff(cls, user_id: int, remote_addr: str | None = None) -> "Actor":
        return cls(f"staff:{user_id}", remote_addr)


SYSTEM = Actor("system")


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    entity_type: str,
    entity_id: str | int,
    now: datetime,
    details: dict | None = None,
) -> AuditEvent:
    """Append an event in the caller's transaction. `details` holds ids and field names, never values."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appends so two transactions cannot both chain onto the same last row.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('clinic.audit_event'))"))
    prev = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)) or GENESIS
    event = AuditEvent(
        occurred_at=now.astimezone(UTC),
        actor=actor.name,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        remote_addr=actor.remote_addr,
        details=details or {},
        prev_hash=prev,
    )
    event.hash = _digest(event)
    session.add(event)
    session.flush()
    return event


def events_for(session: Session, entity_type: str, entity_id: str | int) -> list[AuditEvent]:
    """Every event about one record, oldest first: a consultation's history on the staff pages."""
    query = select(AuditEvent).where(
        AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id)
    )
    return list(session.scalars(query.order_by(AuditEvent.id)))


def verify_chain(session: Session) -> int | None:
    """The id of the first event whose hash or link does not check out, or None if all do."""
    prev = GENESIS
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000):
        if event.prev_hash != prev or event.hash != _digest(event):
            return event.id
        prev = event.hash
    return None


def _digest(event: AuditEvent) -> str:
    body = json.dumps(
        [
            event.prev_hash,
            event.occurred_at.isoformat(),
            event.actor,
            event.action,
            event.entity_type,
            event.entity_id,
            event.remote_addr,
            event.details,
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()
