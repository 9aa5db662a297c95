"""The audit trail: append-only events, each chained to the one before by an HMAC under a key kept
outside the database, and anchored outside it by a signed checkpoint of the chain's head.

Changing, deleting or inserting a row breaks the chain at that row; rehashing it needs the key;
cutting rows off the end leaves the chain shorter than the newest anchor. `verify` finds each.

Each keyed event names the key that signed it by its key id, so the key can be rotated: the current
key (CLINIC_AUDIT_KEY) signs new events and the anchor, former ones (CLINIC_AUDIT_KEY_FALLBACKS)
still verify the events they signed, and the first event under a new key is preceded by an
`audit.key_rotated` event, signed by the new key over the old key's last hash: the handover is a
link of the chain like any other. Only from a key still configured: nothing chains on after an event
whose key is not (see `UnconfiguredHeadKey`), and production refuses to start on such a chain, unless
that key is declared lost (CLINIC_AUDIT_LOST_KEY_IDS): then the chain goes on after an
`audit.key_declared_lost` event, and verify reports the events the lost key signed as unverifiable.

events.py says what an event records, chain.py appends it, hashing.py is how it is hashed, anchor.py
the checkpoint outside the database, settings.py and handovers.py the keys and the passing of the chain
from one to the next, verification.py the check of it all; search.py finds events for the admin viewer.
"""

# What the rest of Clinic and its tests use by `audit.record`, `from clinic.audit import Actor` and the like.
from .anchor import Anchor, read_anchor, write_anchor
from .chain import record
from .events import REFUSED, SYSTEM, Actor, changes, events_for, recorded_since
from .handovers import KEY_DECLARED_LOST, KEY_ROTATED, UnconfiguredHeadKey, lost_key_warnings
from .hashing import FIELDS, GENESIS, KEY_ID_SIGNED, KEYED, UNKEYED, event_hash
from .settings import AuditSettings, configure, key_id, settings_for
from .verification import Break, LostKeyEvents, Verified, verdict, verify

__all__ = [
    "FIELDS",
    "GENESIS",
    "KEYED",
    "KEY_DECLARED_LOST",
    "KEY_ID_SIGNED",
    "KEY_ROTATED",
    "REFUSED",
    "SYSTEM",
    "UNKEYED",
    "Actor",
    "Anchor",
    "AuditSettings",
    "Break",
    "LostKeyEvents",
    "UnconfiguredHeadKey",
    "Verified",
    "changes",
    "configure",
    "event_hash",
    "events_for",
    "key_id",
    "lost_key_warnings",
    "read_anchor",
    "record",
    "recorded_since",
    "settings_for",
    "verdict",
    "verify",
    "write_anchor",
]
