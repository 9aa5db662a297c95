"""Recording an event onto the chain: in the caller's transaction, under the chain's lock, after its head,
signed by the current key, and the anchor moved to it once the transaction commits."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from ..models import AuditEvent
from ..models.driver import Statement, driver_batch
from ..models.inserts import insert_returning
from .anchor import Anchor, anchor_at_commit
from .events import Actor, new_event
from .handovers import handover
from .hashing import FIELDS, GENESIS, KEY_ID_SIGNED, event_hash
from .settings import AuditSettings, settings_for


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    entity_type: str,
    entity_id: str | int,
    now: datetime,
    details: dict | None = None,
    first: Sequence[Statement] = (),
) -> AuditEvent:
    """Append an event in the caller's transaction. `details` holds ids and field names, never values.
    `first`: statements of the caller's whose results it does not read, sent ahead of the chain's lock in
    its round trip (see `driver_batch`).

    Returns a detached copy of the row as written. The anchor moves to this event once the
    transaction commits (see `anchor_at_commit`).
    """
    settings = settings_for(session)
    session.flush()  # the transaction's own writes go in before the chain's lock is taken
    # From here to the commit every other append waits: hashes and INSERTs only, no ORM work.
    seq, prev, signed_by = _locked_head(session, first)
    if signed_by not in (None, settings.key_id):  # the first event since CLINIC_AUDIT_KEY changed
        seq, prev = _chain_on(session, settings, handover(session, settings, signed_by, now), seq, prev)
    audit_event = new_event(actor, action, entity_type, entity_id, now, details)
    _chain_on(session, settings, audit_event, seq, prev)
    head = Anchor(audit_event.seq, audit_event.id, audit_event.hash)
    anchor_at_commit(session, settings.anchor_path, head.signed(settings.key))
    return audit_event


def _chain_on(
    session: Session, settings: AuditSettings, audit_event: AuditEvent, seq: int, prev: str
) -> tuple[int, str]:
    """Insert `audit_event` after the event numbered `seq` with hash `prev`, signed by the current key."""
    audit_event.seq, audit_event.prev_hash = seq + 1, prev
    audit_event.hash_version, audit_event.key_id = KEY_ID_SIGNED, settings.key_id
    audit_event.hash = event_hash(audit_event, settings.key)
    row = {name: getattr(audit_event, name) for name in FIELDS if name != "id"}
    (audit_event.id,) = insert_returning(session, _INSERT, row)
    return audit_event.seq, audit_event.hash


# Serialises appends on PostgreSQL, so two transactions cannot both chain onto the same last row. The
# head is read by a statement sent after it in the same round trip: it must see the rows committed by
# the lock's previous holder, and under READ COMMITTED only a statement that starts after the lock does.
_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('clinic.audit_event'))")
_HEAD = select(AuditEvent.seq, AuditEvent.hash, AuditEvent.key_id).order_by(AuditEvent.id.desc()).limit(1)
_INSERT = insert(AuditEvent.__table__).returning(AuditEvent.id)  # past the ORM and the execution


def _locked_head(session: Session, first: Sequence[Statement]) -> tuple[int, str, str | None]:
    """The chain's last (seq, hash, key id), or (0, GENESIS, None), with appends locked until the
    transaction ends; `first` sent ahead of the lock. On the DB-API cursor: every booking runs it.

    SQLite needs no lock: the write transaction (BEGIN IMMEDIATE) already excludes other writers.
    """
    lock = [(_LOCK, {})] if session.get_bind().dialect.name == "postgresql" else []
    *_, head = driver_batch(session, *first, *lock, (_HEAD, {}))
    return (head[0][0], head[0][1], head[0][2]) if head else (0, GENESIS, None)
