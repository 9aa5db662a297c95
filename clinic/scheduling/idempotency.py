"""Telling a request sent again (a double click, a retry) from another request that carries its key: the
key is kept with a fingerprint of what its request asked, and only a request with the same fingerprint
is given back what the first one made (booking.book, walkin.queue.join)."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import is_dataclass


def fingerprint(request: Mapping[str, object]) -> str:
    """A hash of the request's fields: the same for the same fields, whatever their order."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=_plain).encode()).hexdigest()


def _plain(value: object) -> object:
    """Dataclasses (a patient's or caller's details) as their fields, as `asdict` gives without its
    copying; other values as text."""
    return vars(value) if is_dataclass(value) else str(value)
