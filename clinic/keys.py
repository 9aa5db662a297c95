"""Keys derived from the app's secret key, one for each purpose, so no two uses share a key; and the one
comparison of a secret given with the secret expected."""

import base64
import hmac
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derived_key(secret_key: str, purpose: str) -> bytes:
    """32 bytes derived from `secret_key` with HKDF for `purpose` alone."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"clinic {purpose}".encode())
    return hkdf.derive(secret_key.encode())


def derived_fernet_key(secret_key: str, purpose: str) -> str:
    """A Fernet key (url-safe base64) derived from `secret_key` for `purpose` alone."""
    return base64.urlsafe_b64encode(derived_key(secret_key, purpose)).decode("ascii")


def same_secret(given: str, expected: str) -> bool:
    """Whether `given` is `expected`, compared in constant time as UTF-8: `hmac.compare_digest` raises on
    text that is not ASCII, which a request, a form or a tampered file can hold."""
    return hmac.compare_digest(given.encode(), expected.encode())


def secret_keys(config: Mapping[str, Any]) -> tuple[str, ...]:
    """SECRET_KEY, then each of SECRET_KEY_FALLBACKS: the first makes, every one still reads, so a
    rotated secret key keeps what its predecessors made working."""
    return (config["SECRET_KEY"], *(config["SECRET_KEY_FALLBACKS"] or ()))
