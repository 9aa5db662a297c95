"""The addresses people are sent: built here alone, so pages, mails and routes cannot drift apart."""

from urllib.parse import quote, urlencode

# The patient's booking page and waiting room; its token arrives once in the query string (see
# booking.link_tokens).
MANAGE_PATH = "/c/<reference>"
# A companion's waiting room: their own token, which opens nothing under MANAGE_PATH.
COMPANION_PATH = "/g/<reference>"


def manage_url(base_url: str, reference: str, token: str) -> str:
    """The absolute manage link of booking `reference`, carrying its secret token."""
    return _with_token(base_url, MANAGE_PATH, reference, token)


def companion_url(base_url: str, reference: str, token: str) -> str:
    """The absolute join link of the companion invited to consultation `reference`, carrying their token."""
    return _with_token(base_url, COMPANION_PATH, reference, token)


def _with_token(base_url: str, route: str, reference: str, token: str) -> str:
    path = route.replace("<reference>", quote(reference, safe=""))
    return f"{base_url.rstrip('/')}{path}?{urlencode({'t': token})}"
