"""Link tokens kept in the visitor's signed session cookie: patients' manage tokens, companions' join tokens,
the waitlist's and its offers', walk-in callers'.

A link's token arrives once, posted from the link's "#" part (see `arrival`); after that it lives in the
session, so it is left in no address bar, browser history or server log. Each kind of link has
its own jar, so a token is only ever tried on its own kind of page.
"""

from flask import session

_KEPT = 5  # a cookie stays small: the latest few consultations of this browser session


class TokenJar:
    """The tokens of one kind of link, by consultation reference."""

    def __init__(self, key: str) -> None:
        self.key = key

    def remember(self, reference: str, token: str) -> None:
        """Keep the token of consultation `reference` for this browser session."""
        tokens = {ref: kept for ref, kept in session.get(self.key, {}).items() if ref != reference}
        tokens[reference] = token
        session[self.key] = dict(list(tokens.items())[-_KEPT:])

    def token_for(self, reference: str) -> str:
        """The remembered token of consultation `reference`, or "" (which opens nothing)."""
        return session.get(self.key, {}).get(reference.upper(), "")

    def held(self) -> dict[str, str]:
        """Every remembered token, by reference."""
        return dict(session.get(self.key, {}))


MANAGE = TokenJar("manage_tokens")
COMPANION = TokenJar("companion_tokens")
WAITLIST = TokenJar("waitlist_tokens")  # by waitlist entry reference
OFFER = TokenJar("offer_tokens")  # by offer reference
WALK_IN = TokenJar("walk_in_tokens")
