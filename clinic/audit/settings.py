"""The chain's keys and anchor path, kept outside the database, and the key ids that name the keys."""

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session

from ..keys import derived_key, secret_keys

KEY_SETTING = "AUDIT_KEY"


def key_id(key: bytes) -> str:
    """The name an event keeps of the key that signed it: it tells keys apart and reveals none."""
    return hmac.new(key, b"audit-key-id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class AuditSettings:
    """The chain's keys and where its anchor lives: all outside the database."""

    key: bytes = field(repr=False)  # signs new events and the anchor
    anchor_path: Path
    fallbacks: tuple[bytes, ...] = field(default=(), repr=False)  # still verify what they signed
    lost_key_ids: frozenset[str] = frozenset()  # declared lost: what they signed stays unverifiable
    # Keys derived from the secret key (outside production, no CLINIC_AUDIT_KEY): a development secret key
    # changed with no fallback leaves nothing to recover, so any key not configured counts as lost.
    derived: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any], instance_path: str) -> "AuditSettings":
        """CLINIC_AUDIT_KEY and its fallbacks, or outside production keys derived from the secret key
        and its fallbacks."""
        derived = not config[KEY_SETTING]
        if derived:
            keys = [derived_key(secret, "audit chain") for secret in secret_keys(config)]
        else:
            keys = [key.encode() for key in (config[KEY_SETTING], *config["AUDIT_KEY_FALLBACKS"])]
        anchor = config["AUDIT_ANCHOR_PATH"] or os.path.join(instance_path, "audit-anchor.json")
        lost = frozenset(config.get("AUDIT_LOST_KEY_IDS") or ())
        return cls(keys[0], Path(anchor), tuple(keys[1:]), lost, derived)

    def declared_lost(self, key_id: str) -> bool:
        """Whether events signed by the key `key_id`, not configured, may be handed over as unverifiable."""
        return self.derived or key_id in self.lost_key_ids

    @cached_property
    def key_id(self) -> str:
        return key_id(self.key)

    @cached_property
    def keys_by_id(self) -> dict[str, bytes]:
        """Every configured key, the current one first, by its key id."""
        return {key_id(key): key for key in (self.key, *self.fallbacks)}


# By database URL: the key belongs to the database's chain, whichever engine writes to it.
_settings: dict[URL, AuditSettings] = {}


def configure(engine: Engine, settings: AuditSettings) -> None:
    """Chain the audit events written to `engine`'s database with these settings (at app start)."""
    _settings[engine.url] = settings


def settings_for(session: Session) -> AuditSettings:
    try:
        return _settings[session.get_bind().url]
    except KeyError:
        raise RuntimeError("the audit chain has no key for this database: create the app first") from None
