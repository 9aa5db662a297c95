"""Telling a request sent again (a double click, a retry) from another request that carries its key: the
key is kept with a fingerprint of what its request asked, and only a request with the same fingerprint
is given back what the first one made (booking.book, walkin.queue.join).

A request holds a patient's or caller's name, e-mail address and phone number, so its fingerprint is
keyed (HMAC-SHA256), with a key derived from the link keys (`LinkKeys`), which the database never holds:
an unkeyed hash let a reader of the database find a phone number by hashing guesses until one matched.
"""

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, is_dataclass
from functools import cache

from ..keys import derived_key
from .tokens import LinkKeys


@dataclass(frozen=True)
class Fingerprint:
    """A request's fingerprint under each link key: the first is what is stored; a stored one made with
    any of them, or unkeyed as before, is the same request (a retry in flight across a new key, or
    across the change to keyed fingerprints)."""

    keyed: tuple[str, ...]
    unkeyed: str  # as rows written before fingerprints were keyed hold it; gone with them (see retention)

    @property
    def stored(self) -> str:
        return self.keyed[0]

    def matches(self, stored: str | None) -> bool:
        """Whether `stored` is this request's fingerprint."""
        if stored is None:
            return False
        return any(hmac.compare_digest(stored, mine) for mine in (*self.keyed, self.unkeyed))


def fingerprint(request: Mapping[str, object], keys: LinkKeys) -> Fingerprint:
    """The fingerprint of the request's fields: the same for the same fields, whatever their order."""
    plain = json.dumps(request, sort_keys=True, default=_plain).encode()
    keyed = tuple(hmac.new(_key(key), plain, hashlib.sha256).hexdigest() for key in keys.keys)
    return Fingerprint(keyed, hashlib.sha256(plain).hexdigest())


@cache
def _key(link_key: str) -> bytes:
    return derived_key(link_key, "idempotency fingerprints")


def _plain(value: object) -> object:
    """Dataclasses (a patient's or caller's details) as their fields, as `asdict` gives without its
    copying; other values as text."""
    return vars(value) if is_dataclass(value) else str(value)
