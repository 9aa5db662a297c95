"""Public references, the tokens of manage links and companions' join links, and the links themselves."""

import hashlib
import hmac
import secrets
from base64 import urlsafe_b64encode
from datetime import datetime, timedelta

from ..links import companion_url, manage_url
from ..models import Companion, Consultation

# No 0/O, 1/I/L: references are read out over the phone.
_REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_reference() -> str:
    """A reference like K7F-3QZ9 (31**7, about 2**34, values)."""
    chars = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(7))
    return f"{chars[:3]}-{chars[3:]}"


def manage_token(secret: str, consultation_uuid: str) -> str:
    """The secret of a consultation's manage link (256 bits).

    Derived with HMAC from the app's secret key rather than stored, so a replayed booking
    request can hand back the same token while the database keeps only its hash.
    """
    return _derived(secret, "manage-link", consultation_uuid)


def companion_token(secret: str, companion_uuid: str) -> str:
    """The secret of a companion's join link, derived like the manage token but for another purpose,
    so neither token ever opens the other's pages."""
    return _derived(secret, "companion-link", companion_uuid)


def _derived(secret: str, purpose: str, uuid: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{uuid}".encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented token with the stored hash."""
    if not isinstance(token, str) or len(token) > 128:
        return False
    return hmac.compare_digest(token_hash(token), stored_hash)


def manage_link(consultation: Consultation, *, base_url: str, secret: str) -> str:
    """The patient's own link to their booking: in every patient mail and on the printed letter."""
    return manage_url(base_url, consultation.reference, manage_token(secret, consultation.uuid))


def companion_link(companion: Companion, *, base_url: str, secret: str) -> str:
    """The companion's own join link: in their mails, or read out by staff over the phone."""
    token = companion_token(secret, companion.uuid)
    return companion_url(base_url, companion.consultation.reference, token)


def link_reference(reference: object) -> str | None:
    """A link's reference as stored (upper case), or None for anything that cannot be one."""
    return reference.upper() if isinstance(reference, str) and len(reference) <= 12 else None


def link_opens(token: str, stored_hash: str, ends_at: datetime, *, now: datetime, grace_days: int) -> bool:
    """Whether a link's token opens what it names: the right token, until `grace_days` after the end."""
    return token_matches(token, stored_hash) and now <= ends_at + timedelta(days=grace_days)
