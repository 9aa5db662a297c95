"""What the visitor's session keeps of the links it opened: patients' manage links, companions' join links,
the waitlist's and its offers', walk-in callers'.

A link's token arrives once, posted from the link's "#" part (see `arrival`), so it is left in no address
bar, browser history or server log. Nor is it kept in the session: the cookie is signed, not encrypted, and
a token read from it would open the link from any browser. The session keeps a pass instead (see
`SessionPass`), which opens the link's pages in this session only. Each kind of link has its own jar, so
a pass is only ever tried on its own kind of page.
"""

from flask import current_app, session

from ..keys import secret_keys
from ..scheduling.tokens import (
    COMPANION_LINK,
    MANAGE_LINK,
    NO_PASS,
    OFFER_LINK,
    WAITLIST_LINK,
    WALK_IN_LINK,
    SessionPass,
    session_pass_keys,
)

_KEPT = 5  # a cookie stays small: the latest few consultations of this browser session


class TokenJar:
    """The passes of one kind of link (`purpose`, as `tokens` names it), by reference."""

    def __init__(self, key: str, purpose: str, *, tokens_key: str) -> None:
        self.key = key
        self.purpose = purpose
        self.tokens_key = tokens_key  # where sessions before passes kept the tokens themselves

    def remember(self, reference: str, seed: str) -> None:
        """Keep a pass for the link of `reference`, whose seed is `seed`, for this browser session: called
        once the link's token has opened it (or the link was just made for this browser)."""
        mac = SessionPass.mint(_keys()[0], self.purpose, seed)
        passes = {ref: kept for ref, kept in self._kept().items() if ref != reference}
        passes[reference] = mac
        session[self.key] = dict(list(passes.items())[-_KEPT:])

    def holds(self, reference: str) -> bool:
        """Whether this session keeps a pass for the link of `reference` (one that may have stopped
        opening it: the lookup says)."""
        return reference.upper() in self._kept()

    def pass_for(self, reference: str) -> SessionPass:
        """The kept pass for the link of `reference`, or one that opens nothing."""
        mac = self._kept().get(reference.upper())
        return NO_PASS if mac is None else SessionPass(mac, _keys())

    def held(self) -> dict[str, SessionPass]:
        """Every kept pass, by reference."""
        return {reference: SessionPass(mac, _keys()) for reference, mac in self._kept().items()}

    def _kept(self) -> dict[str, str]:
        session.pop(self.tokens_key, None)  # a token kept before passes: out of the cookie at first sight
        return session.get(self.key, {})


def _keys() -> tuple[bytes, ...]:
    return session_pass_keys(secret_keys(current_app.config))


MANAGE = TokenJar("manage_passes", MANAGE_LINK, tokens_key="manage_tokens")
COMPANION = TokenJar("companion_passes", COMPANION_LINK, tokens_key="companion_tokens")
WAITLIST = TokenJar("waitlist_passes", WAITLIST_LINK, tokens_key="waitlist_tokens")  # by entry reference
OFFER = TokenJar("offer_passes", OFFER_LINK, tokens_key="offer_tokens")  # by offer reference
WALK_IN = TokenJar("walk_in_passes", WALK_IN_LINK, tokens_key="walk_in_tokens")
