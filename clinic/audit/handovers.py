"""Handing the chain from one key to the next: `audit.key_rotated` from a key still configured,
`audit.key_declared_lost` from one declared lost (CLINIC_AUDIT_LOST_KEY_IDS); from any other key, nothing
chains on (`UnconfiguredHeadKey`), and start says why before anything tries to."""

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..models import AuditEvent
from .events import SYSTEM, new_event
from .settings import AuditSettings

KEY_ROTATED = "audit.key_rotated"
KEY_DECLARED_LOST = "audit.key_declared_lost"

log = logging.getLogger(__name__)

# The newest event's id and key id, by the primary key: read at start, and when the head's key is not
# the current one.
_NEWEST_KEY = select(AuditEvent.id, AuditEvent.key_id).order_by(AuditEvent.id.desc()).limit(1)
_HANDOVERS = select(AuditEvent.entity_id, AuditEvent.details).where(AuditEvent.entity_type == "audit_key")


class UnconfiguredHeadKey(RuntimeError):
    """The chain's latest event is signed by a key that is not configured: CLINIC_AUDIT_KEY changed without
    the former key among the fallbacks. An event chained on after it, the handover to the new key first,
    could never be verified, nor could anything before it: nothing is appended until the key is back."""

    def __init__(self, event_id: int, signed_by: str) -> None:
        super().__init__(
            f"the audit chain's latest event ({event_id}) is signed by key id {signed_by}, which is not "
            "configured: add that key (the former CLINIC_AUDIT_KEY) to CLINIC_AUDIT_KEY_FALLBACKS, or no "
            "event chained on after it can be verified; if that key is truly lost, declare it so with "
            f"CLINIC_AUDIT_LOST_KEY_IDS={signed_by} (the events it signed stay unverifiable)"
        )


def handover(session: Session, settings: AuditSettings, signed_by: str, now: datetime) -> AuditEvent:
    """The event that hands the chain from the head's key to the current one, naming the events that key
    signed at the chain's end (first and last id), so that a verified event says where they begin should that
    key be lost one day: `audit.key_rotated` from a configured key; from a key declared lost,
    `audit.key_declared_lost`, and verify reports those events as unverifiable; from any other, none."""
    connection = session.connection()
    if signed_by not in settings.keys_by_id and (refused := unconfigured_head_key(connection, settings)):
        raise refused
    first, last = _signed_last_by(connection, signed_by)
    if signed_by in settings.keys_by_id:
        rotated = {"from": signed_by, "first_event": first, "last_event": last}
        return new_event(SYSTEM, KEY_ROTATED, "audit_key", settings.key_id, now, rotated)
    details = {"lost": signed_by, "first_event": first, "last_event": last, "to": settings.key_id}
    # Declared by the admin, it was warned of at start; a development key (`derived`) is lost unannounced.
    level = logging.INFO if signed_by in settings.lost_key_ids else logging.WARNING
    log.log(level, "audit key id %s declared lost: events %s to %s unverifiable", signed_by, first, last)
    return new_event(SYSTEM, KEY_DECLARED_LOST, "audit_key", signed_by, now, details)


def unconfigured_head_key(connection: Connection, settings: AuditSettings) -> UnconfiguredHeadKey | None:
    """Why nothing can chain on (at start, before anything tries to): the chain's latest event signed by
    a key neither among `settings`' keys nor declared lost. One read of the newest row by its primary key;
    an empty chain, or a latest event from before key ids (migration 0012), is fine."""
    head = _unconfigured_head(connection, settings)
    if head is None or settings.declared_lost(head.key_id):
        return None
    return UnconfiguredHeadKey(head.id, head.key_id)


def lost_key_warnings(connection: Connection, settings: AuditSettings) -> list[str]:
    """What the key ids declared lost come to, at start: the head's is handed over at the next append (a
    warning, naming it); one that no key handover in the chain names either (a key rotated to or from, or
    declared lost) signed nothing there and is ignored (a warning: mistyped, or nothing of it to declare).
    By the newest row and the (entity) index: a chain has few handovers."""
    head = _unconfigured_head(connection, settings)
    named = {
        name
        for row in connection.execute(_HANDOVERS)
        for name in (row.entity_id, (row.details or {}).get("from"))
    }
    warnings = []
    for lost in sorted(settings.lost_key_ids):
        if head is not None and lost == head.key_id:
            warnings.append(
                f"the audit key with key id {lost} is declared lost (CLINIC_AUDIT_LOST_KEY_IDS): the next "
                f"audited change records {KEY_DECLARED_LOST} after event {head.id}, and the events that "
                "key signed cannot be verified"
            )
        elif lost not in named:
            warnings.append(
                f"CLINIC_AUDIT_LOST_KEY_IDS names key id {lost}, which signed neither the audit chain's "
                "latest event nor any events a key handover in it names: ignored"
            )
    return warnings


def _unconfigured_head(connection: Connection, settings: AuditSettings) -> Any:
    """The newest event (id, key_id) if a key id it has is not configured; else None."""
    head = connection.execute(_NEWEST_KEY).first()
    if head is None or head.key_id is None or head.key_id in settings.keys_by_id:
        return None
    return head


def _signed_last_by(connection: Connection, signed_by: str) -> tuple[int, int]:
    """The first and last id of the events at the chain's end signed by key id `signed_by`: back from the
    newest by the primary key, as far as they go (at a key's handover only)."""
    last = connection.execute(_NEWEST_KEY).one().id
    before = connection.execute(
        select(func.max(AuditEvent.id)).where(
            or_(AuditEvent.key_id != signed_by, AuditEvent.key_id.is_(None))
        )
    ).scalar()
    first = connection.execute(select(func.min(AuditEvent.id)).where(AuditEvent.id > (before or 0))).scalar()
    return first, last
