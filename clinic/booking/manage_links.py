"""Manage-link tokens kept in the patient's signed session cookie.

A manage link's token arrives once in the address; after that it lives in the session, so
it is not left in the address bar, the browser history or the server's logs of later requests.
"""

from flask import session

_KEY = "manage_tokens"
_KEPT = 5  # a cookie stays small: the latest few bookings of this browser session


def remember(reference: str, token: str) -> None:
    """Keep the token of booking `reference` for this browser session."""
    tokens = {ref: kept for ref, kept in session.get(_KEY, {}).items() if ref != reference}
    tokens[reference] = token
    session[_KEY] = dict(list(tokens.items())[-_KEPT:])


def token_for(reference: str) -> str:
    """The remembered token of booking `reference`, or "" (which opens nothing)."""
    return session.get(_KEY, {}).get(reference.upper(), "")
