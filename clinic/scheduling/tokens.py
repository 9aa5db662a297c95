"""Public references, the tokens of manage links, companions' join links, the waitlist's links and walk-in
callers' links, and the links themselves."""

import hashlib
import hmac
import secrets
import unicodedata
from base64 import urlsafe_b64encode
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from setting_kinds import comma_separated

from ..keys import derived_key, same_secret, secret_keys
from ..links import companion_url, manage_url, offer_url, waitlist_url, walk_in_url
from ..models import Companion, Consultation, WaitlistEntry, WaitlistOffer, WalkInEntry
from ..models.driver import Statement, driver_rows

# No 0/O, 1/I/L: references are read out over the phone.
_REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_reference() -> str:
    """A reference like K7F-3QZ9 (31**7, about 2**34, values)."""
    chars = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(7))
    return f"{chars[:3]}-{chars[3:]}"


def typed_reference(typed: str) -> str:
    """A reference as someone typed it, read as it is stored: in any case, with its hyphen, another dash,
    spaces or none between its parts ("k7f 3qz9" and "K7F3QZ9" are K7F-3QZ9)."""
    chars = "".join(char for char in typed if not (char.isspace() or unicodedata.category(char) == "Pd"))
    return f"{chars[:3]}-{chars[3:]}".upper() if len(chars) == 7 else typed.strip().upper()


def unused_reference(session: Session, column: InstrumentedAttribute[str]) -> str:
    """A new reference that no row holds in `column` (a booking's, a waitlist entry's or offer's, a walk-in
    entry's)."""
    while True:
        reference, holders = reference_lookup(column)
        if not driver_rows(session, *holders):
            return reference


def reference_lookup(column: InstrumentedAttribute[str]) -> tuple[str, Statement]:
    """A new reference, and the query for a row holding it in `column`: for a writer that sends the query
    with its other statements (`driver_batch`), and calls `unused_reference` if a row answers (rarely: one
    reference in 2**34)."""
    reference = new_reference()
    return reference, (_holder_of(column.class_, column.key), {"reference": reference})


@cache
def _holder_of(entity: type, name: str) -> Select:
    """The query for a reference in `entity.name`, built once: a booking runs it every time."""
    column = getattr(entity, name)
    return select(column).where(column == bindparam("reference"))


# The kinds of link, each deriving its tokens (and its sessions' passes) for its own purpose alone.
MANAGE_LINK = "manage-link"
COMPANION_LINK = "companion-link"
WAITLIST_LINK = "waitlist-link"
OFFER_LINK = "offer-link"
WALK_IN_LINK = "walk-in-link"


@dataclass(frozen=True)
class LinkKeys:
    """The keys of manage and companion links: the first makes every link sent, each one still opens
    the links it made, so a key is replaced by putting the new one first (CLINIC_MANAGE_TOKEN_KEY=new,old)."""

    keys: tuple[str, ...] = field(repr=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "LinkKeys":
        """CLINIC_MANAGE_TOKEN_KEY; unset (development and tests only: production refuses), keys derived
        from SECRET_KEY and its fallbacks, so rotating the secret key keeps those links working too."""
        if config["MANAGE_TOKEN_KEY"]:
            return cls(tuple(comma_separated(config["MANAGE_TOKEN_KEY"])))
        return cls(tuple(derived_key(secret, "manage links").hex() for secret in secret_keys(config)))


@dataclass(frozen=True)
class SessionPass:
    """What a browser session keeps for a link it opened, in place of the link's token: a keyed hash
    (HMAC with a key derived from the app's secret key) of the link's kind and seed. The session cookie is
    signed, not encrypted, so whoever sees it reads it; a token read there would open the link from any
    browser for as long as the link works. A pass opens the link's pages only as part of a session this
    app signed, and never as a link's token: it is no text, so nothing a request or a form carries is
    taken for one. `keys`: the first mints, each one still checks (see `session_pass_keys`)."""

    mac: str
    keys: tuple[bytes, ...] = field(repr=False)

    @staticmethod
    def mint(key: bytes, purpose: str, seed: str) -> str:
        """The pass of the link of kind `purpose` whose seed is `seed`."""
        digest = hmac.new(key, f"session-pass:{purpose}:{seed}".encode(), hashlib.sha256).digest()
        return urlsafe_b64encode(digest).rstrip(b"=").decode()

    def opens(self, purpose: str, seed: str) -> bool:
        """Whether this pass was minted for the link of kind `purpose` and seed `seed`."""
        return any(same_secret(self.mac, self.mint(key, purpose, seed)) for key in self.keys)


NO_PASS = SessionPass("", ())  # what a session holds for a link it never opened: it opens nothing

# What opens a link's pages: its token (or a booking's letter code) as given, or the session's pass.
Proof = str | SessionPass


@cache
def session_pass_keys(secrets: tuple[str, ...]) -> tuple[bytes, ...]:
    """The keys of session passes, derived from SECRET_KEY and its fallbacks (see `secret_keys`), so a
    rotated secret key keeps the passes of sessions it still reads working."""
    return tuple(derived_key(secret, "session link passes") for secret in secrets)


def new_link_seed() -> str:
    """A fresh per-consultation (or per-companion) secret from which its link's token is derived."""
    return secrets.token_hex(32)


def manage_token(keys: LinkKeys, consultation: Consultation) -> str:
    """The secret of a consultation's manage link (256 bits).

    Derived rather than stored, so a replayed booking request and every later mail can hand out the
    same link: from the consultation's seed, which nothing sent ever carries, with a key kept outside
    the database, so neither a database copy nor the key with an invite in hand makes a working link.
    """
    return _derived(keys.keys[0], MANAGE_LINK, consultation.link_seed)


def companion_token(keys: LinkKeys, companion: Companion) -> str:
    """The secret of a companion's join link, derived like the manage token but for another purpose,
    so neither token ever opens the other's pages."""
    return _derived(keys.keys[0], COMPANION_LINK, companion.link_seed)


def waitlist_token(keys: LinkKeys, entry: WaitlistEntry) -> str:
    """The secret of a waitlist entry's link (to leave the list), derived like the manage token."""
    return _derived(keys.keys[0], WAITLIST_LINK, entry.link_seed)


def offer_token(keys: LinkKeys, offer: WaitlistOffer) -> str:
    """The secret of a waitlist offer's link (to book the time offered), derived like the manage token."""
    return _derived(keys.keys[0], OFFER_LINK, offer.link_seed)


def walk_in_token(keys: LinkKeys, entry: WalkInEntry) -> str:
    """The secret of a walk-in caller's link to their place, derived like the manage token but for
    another purpose, so it opens no booking's pages (nor theirs this one)."""
    return _derived(keys.keys[0], WALK_IN_LINK, entry.link_seed)


# Crockford's base32: no I, L, O or U, and read back with O as 0 and I or L as 1, case and spaces aside.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1", " ": None, "-": None})
_CODE_LENGTH = 12  # 60 bits: against the manage link's limit per address, beyond any guessing


def letter_code(keys: LinkKeys, consultation: Consultation) -> str:
    """The booking's code for a patient without e-mail, printed on their letter or read out on the phone
    ("K7F3 QZ9A B2CD"): typed at the booking's short address, it opens what the manage link opens. The
    link's 43-character token cannot be typed from paper or heard over the phone."""
    code = _code(keys.keys[0], consultation.link_seed)
    return " ".join(code[i : i + 4] for i in range(0, _CODE_LENGTH, 4))


def _code(key: str, seed: str) -> str:
    digest = hmac.new(key.encode(), f"letter-code:{seed}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big") >> (64 - 5 * _CODE_LENGTH)
    return "".join(_CODE_ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(_CODE_LENGTH)))


def _letter_code_matches(typed: object, keys: LinkKeys, seed: str) -> bool:
    if not isinstance(typed, str) or len(typed) > 40:
        return False
    code = typed.upper().translate(_CODE_READ_AS)
    return len(code) == _CODE_LENGTH and any(same_secret(code, _code(key, seed)) for key in keys.keys)


def _derived(key: str, purpose: str, seed: str) -> str:
    digest = hmac.new(key.encode(), f"{purpose}:{seed}".encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode()


def _token_matches(token: object, keys: LinkKeys, purpose: str, seed: str) -> bool:
    """Constant-time comparison of a presented token with those each key derives from the seed (or of a
    session's pass with the one minted for the seed).

    Links sent before CLINIC_MANAGE_TOKEN_KEY were derived from SECRET_KEY and the consultation's UUID,
    and only their hash was kept: that hash is the seed of those rows, so the old token matches it.
    """
    if isinstance(token, SessionPass):
        return token.opens(purpose, seed)
    if not isinstance(token, str) or len(token) > 128:
        return False
    derived = [same_secret(token, _derived(key, purpose, seed)) for key in keys.keys]
    return any(derived) or same_secret(hashlib.sha256(token.encode()).hexdigest(), seed)


def manage_link(consultation: Consultation, *, base_url: str, keys: LinkKeys) -> str:
    """The patient's own link to their booking: in every patient mail and on the printed letter."""
    return manage_url(base_url, consultation.reference, manage_token(keys, consultation))


def companion_link(companion: Companion, *, base_url: str, keys: LinkKeys) -> str:
    """The companion's own join link: in their mails, or read out by staff over the phone."""
    return companion_url(base_url, companion.consultation.reference, companion_token(keys, companion))


def waitlist_link(entry: WaitlistEntry, *, base_url: str, keys: LinkKeys) -> str:
    """The patient's link to their place on the waitlist: in the mail that confirms it, and in offers."""
    return waitlist_url(base_url, entry.reference, waitlist_token(keys, entry))


def offer_link(offer: WaitlistOffer, *, base_url: str, keys: LinkKeys) -> str:
    """The link that books an offered time in one step: in the offer's mail only."""
    return offer_url(base_url, offer.reference, offer_token(keys, offer))


def waitlist_link_opens(token: object, entry: WaitlistEntry, *, keys: LinkKeys) -> bool:
    """Whether `token` opens the waitlist entry's link."""
    return _token_matches(token, keys, WAITLIST_LINK, entry.link_seed)


def offer_link_opens(token: object, offer: WaitlistOffer, *, keys: LinkKeys) -> bool:
    """Whether `token` opens the offer's link (which says so once the offer has ended)."""
    return _token_matches(token, keys, OFFER_LINK, offer.link_seed)


def walk_in_link(entry: WalkInEntry, *, base_url: str, keys: LinkKeys) -> str:
    """The caller's own link back to their place in the queue, from this or another device."""
    return walk_in_url(base_url, entry.reference, walk_in_token(keys, entry))


def link_reference(reference: object) -> str | None:
    """A link's reference as stored (upper case), or None for anything that cannot be one."""
    return reference.upper() if isinstance(reference, str) and len(reference) <= 12 else None


def manage_link_opens(
    token: object, consultation: Consultation, *, keys: LinkKeys, now: datetime, grace_days: int
) -> bool:
    """Whether `token` (or the booking's letter code) opens the consultation's manage link, until
    `grace_days` after its end."""
    seed = consultation.link_seed
    opens = _token_matches(token, keys, MANAGE_LINK, seed) or _letter_code_matches(token, keys, seed)
    return opens and _not_expired(consultation, now, grace_days)


def companion_link_opens(
    token: object, companion: Companion, *, keys: LinkKeys, now: datetime, grace_days: int
) -> bool:
    """Whether `token` opens the companion's join link, until `grace_days` after the end."""
    opens = _token_matches(token, keys, COMPANION_LINK, companion.link_seed)
    return opens and _not_expired(companion.consultation, now, grace_days)


def walk_in_link_opens(
    token: object, entry: WalkInEntry, *, keys: LinkKeys, now: datetime, grace_days: int
) -> bool:
    """Whether `token` opens the walk-in caller's link, until `grace_days` after they left the queue."""
    opens = _token_matches(token, keys, WALK_IN_LINK, entry.link_seed)
    return opens and (entry.ended_at is None or now <= entry.ended_at + timedelta(days=grace_days))


def _not_expired(consultation: Consultation, now: datetime, grace_days: int) -> bool:
    return now <= consultation.ends_at + timedelta(days=grace_days)
