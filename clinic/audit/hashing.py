"""How an audit event is hashed and linked to the one before it: the rule both the chain and verify
follow, version by version."""

import hashlib
import hmac
import json
from typing import Any

GENESIS = "0" * 64
# AuditEvent.hash_version, how each event was hashed: plain SHA-256 (before migration 0009); HMAC-SHA256 of
# its place, link and contents; the same with its key id signed too, so that no one can change which key an
# event claims (every event written since). A version is never followed by an older one.
UNKEYED, KEYED, KEY_ID_SIGNED = 0, 1, 2

# Every column of an event, as the chain inserts it (but the id) and verify reads it back: past the ORM.
FIELDS = (
    "id",
    "seq",
    "occurred_at",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "remote_addr",
    "details",
    "prev_hash",
    "hash_version",
    "key_id",
    "hash",
)


def event_hash(row: Any, key: bytes) -> str:
    """The event's hash: an HMAC of its place, key id (from KEY_ID_SIGNED on), link and contents, or plain
    SHA-256 of its link and contents for events before 0009."""
    fields = [
        row.prev_hash,
        row.occurred_at.isoformat(),
        row.actor,
        row.action,
        row.entity_type,
        row.entity_id,
        row.remote_addr,
        row.details,
    ]
    if row.hash_version == UNKEYED:
        return hashlib.sha256(_canonical(fields)).hexdigest()
    signed = [row.seq, *fields] if row.hash_version == KEYED else [row.seq, row.key_id, *fields]
    return hmac.new(key, _canonical(signed), hashlib.sha256).hexdigest()


def _canonical(fields: list) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
