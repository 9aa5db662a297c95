"""The addresses people are sent: built here alone, so pages, mails and routes cannot drift apart."""

from urllib.parse import quote, urlencode

# The patient's booking page; its token arrives once in the query string (see booking.manage_links).
MANAGE_PATH = "/c/<reference>"


def manage_url(base_url: str, reference: str, token: str) -> str:
    """The absolute manage link of booking `reference`, carrying its secret token."""
    path = MANAGE_PATH.replace("<reference>", quote(reference, safe=""))
    return f"{base_url.rstrip('/')}{path}?{urlencode({'t': token})}"
