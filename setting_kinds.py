"""How a setting's text is read, by its kind: a whole number, a number, on/off, one of a list, names from a
list, keys and key ids (comma separated), trimmed text, a duration, a time zone, an http(s) URL, a database
URL, a sender's address, Fernet keys, request limits and where they are counted. config.py declares each
setting with its kind; the same reading serves the environment and an instance config.py."""

import email.policy
import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from cryptography.fernet import Fernet
from limits import parse_many
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

REQUIRED = object()  # a setting that cannot be left out: None or a blank is no value of it


@dataclass(frozen=True)
class Kind:
    """How a setting's text is read: `read` gives its value, or raises ValueError if the text is not what
    `wants` says. Where the setting may be left out, `absent` is what None or a blank stands for. A
    `secret` one's text is never repeated back, not even to say it is wrong."""

    wants: str
    read: Callable[[str], Any]
    absent: Any = REQUIRED
    secret: bool = False

    def value_of(self, given: Any) -> Any:
        """`given` read as this kind; a value set in Python (an instance config.py) is read as its text, a
        list or tuple of them as its items, comma separated."""
        if isinstance(given, list | tuple):
            given = ",".join(str(item) for item in given)
        if given is None or (isinstance(given, str) and not given.strip()):
            if self.absent is REQUIRED:
                raise ValueError("no value")
            return self.absent
        return self.read(given if isinstance(given, str) else str(given))


def comma_separated(text: str | None) -> list[str]:
    """The items of a comma-separated setting, each without the spaces around it, blank ones dropped: the
    one reading of every list of keys, so that "old1, old2" is the keys old1 and old2 wherever it is read."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def whole_number(least: int = 0, most: int | None = None) -> Kind:
    def read(text: str) -> int:
        value = int(text)
        if value < least or (most is not None and value > most):
            raise ValueError(text)
        return value

    if most is None:
        return Kind(f"a whole number, {least} or more", read)
    return Kind(f"a whole number from {least} to {most}", read)


# The longest span of time a setting may hold: a century. Each is added to or taken from an instant, and one
# that put it past the calendar (datetime's years 1 to 9999) raised OverflowError where it was used: 999999
# days kept "for ever" failed each round of the worker's housekeeping, and 9999999999d stopped the start
# with a traceback.
LONGEST_SPAN = timedelta(days=36525)
_CENTURY = "(a century)"
SPAN_UNITS = {unit: timedelta(**{unit: 1}) for unit in ("seconds", "minutes", "hours", "days")}


def span(unit: str, least: int = 0) -> Kind:
    """A whole number of `unit` (a key of SPAN_UNITS), from `least` up to LONGEST_SPAN."""
    most = LONGEST_SPAN // SPAN_UNITS[unit]
    whole = whole_number(least, most)
    return Kind(f"a whole number of {unit} from {least} to {most} {_CENTURY}", whole.read)


def number(unit: str, *, least: float | None = None, most: float | None = None) -> Kind:
    """A number of `unit` (a key of SPAN_UNITS) above 0, none of these settings meaning anything at 0, and
    at most LONGEST_SPAN; from `least` and up to `most` where given."""
    top = min(LONGEST_SPAN / SPAN_UNITS[unit], math.inf if most is None else most)

    def read(text: str) -> float:
        value = float(text)
        if not math.isfinite(value) or value <= 0 or value > top or (least is not None and value < least):
            raise ValueError(text)
        return value

    if least is None and most is None:
        return Kind(f"a number of {unit} above 0 and at most {top:.0f} {_CENTURY}", read)
    return Kind(f"a number of {unit} from {least or 0:g} to {top:.0f}", read)


def on_off() -> Kind:
    """1, true, yes or on is on; 0, false, no or off is off; in any case."""

    def read(text: str) -> bool:
        value = text.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)

    return Kind("true or false (or 1 or 0, yes or no, on or off)", read)


def one_of(options: Collection[str], *, optional: bool = False) -> Kind:
    """One of `options`, in any case and with spaces around it: read as `options` spells it. An optional
    one may be left out (None)."""
    spelt = {option.lower(): option for option in options}

    def read(text: str) -> str:
        try:
            return spelt[text.strip().lower()]
        except KeyError:
            raise ValueError(text) from None

    return Kind(f"one of {_listed(options)}", read, None if optional else REQUIRED)


def names_among(options: Collection[str], wants: str) -> Kind:
    """Names among `options`, comma separated, in any case: read as "a,b"; empty for none."""

    def read(text: str) -> str:
        names = [name.strip().lower() for name in text.split(",") if name.strip()]
        if any(name not in options for name in names):
            raise ValueError(text)
        return ",".join(names)

    return Kind(wants, read, absent="")


# Secret keys, comma separated (former keys kept while a key is rotated): read as a list; none if blank.
KEY_LIST = Kind("keys, comma separated", comma_separated, absent=[], secret=True)
# Key ids (as audit.key_id prints them, never the keys), comma separated, read as the key lists are.
KEY_ID_LIST = Kind("key ids, comma separated", comma_separated, absent=[])


def trimmed(wants: str, *, optional: bool = False) -> Kind:
    """Text read without the spaces around it; an optional one may be left out (None)."""
    return Kind(wants, str.strip, None if optional else REQUIRED)


def _listed(options: Collection[str]) -> str:
    *most, last = options
    return f"{', '.join(most)} or {last}" if most else last


_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])", re.ASCII)


def parse_duration(text: str) -> timedelta:
    """A duration written as a number and a unit: "90s", "15m", "24h", "2d"."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as 30m, 24h or 2d")
    unit, amount = _UNITS[match[2]], float(match[1])
    if amount > LONGEST_SPAN / SPAN_UNITS[unit]:  # timedelta itself would raise OverflowError past its end
        raise ValueError(f"{text!r} is longer than a century")
    return timedelta(**{unit: amount})


def parse_durations(text: str) -> tuple[timedelta, ...]:
    """A comma-separated list of durations, longest first, e.g. "1h,24h" → (24h, 1h); "" gives none."""
    return tuple(sorted((parse_duration(part) for part in text.split(",") if part.strip()), reverse=True))


def _checked_by(parse: Callable[[str], Any]) -> Callable[[str], str]:
    """The text, without spaces around it, once `parse` takes it: kept as written, parsed where used."""

    def read(text: str) -> str:
        parse(text)
        return text.strip()

    return read


DURATION = Kind(
    "a duration such as 30m, 24h or 2d (units s, m, h, d), at most a century", _checked_by(parse_duration)
)
DURATIONS = Kind(
    "durations such as 24h,1h, comma separated (units s, m, h, d), each at most a century",
    _checked_by(parse_durations),
    absent="",
)


@cache
def zone_names() -> frozenset[str]:
    """The time zones Clinic offers, in settings and on every page: IANA names with an area
    (Europe/London), and UTC; not the old aliases such as GMT or Japan."""
    return frozenset(name for name in available_timezones() if "/" in name or name == "UTC")


def _zone_name(text: str) -> str:
    if text.strip() not in zone_names():
        raise ValueError(text)
    return text.strip()


ZONE = Kind("an IANA time zone name such as Europe/London or America/New_York", _zone_name)


def _http_url(text: str) -> str:
    url = text.strip()
    parts = urlsplit(url)  # raises ValueError for a malformed one, as .port for a port that is not one
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.port == 0:
        raise ValueError(text)
    return url


def http_url(*, optional: bool = False) -> Kind:
    wants = "an http or https URL with a host, such as https://clinic.hospital.example"
    return Kind(wants, _http_url, None if optional else REQUIRED)


# The common ways of writing PostgreSQL's URL (libpq's, most hosts'), which SQLAlchemy reads as no dialect
# (postgres://) or as psycopg2's, which Clinic does not ship: both mean psycopg 3's, the one it does.
_POSTGRESQL_FORMS = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)
_DATABASES = ("postgresql", "sqlite")  # what clinic.models.transactions configures


def _database_url(text: str) -> str:
    """The URL, PostgreSQL's common forms written as psycopg 3's; refused unless it names a database Clinic
    runs on, through a driver that is installed (else every command would fail on it, after the start)."""
    url = _POSTGRESQL_FORMS.sub("postgresql+psycopg://", text.strip())
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() not in _DATABASES:
            raise ValueError("not a database Clinic runs on")
        parsed.get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError, ImportError):
        raise ValueError("no database URL Clinic can open") from None
    return url


# Secret: the URL may carry the database's password.
DATABASE_URL = Kind(
    "a database URL such as postgresql+psycopg://user@host/db (postgres:// and postgresql:// are read so) "
    "or sqlite:///path",
    _database_url,
    secret=True,
)


def _mail_from(text: str) -> str:
    """One address, as a From header holds it, with or without a display name: a relay refuses MAIL FROM
    of a bare name (CLINIC_MAIL_FROM=Clinic), and a From header of several."""
    sender = text.strip()
    # The parser raises errors of its own on some malformed text: IndexError on "x@", AttributeError on ":;0".
    try:
        header = email.policy.default.header_factory("From", sender)
    except Exception:
        raise ValueError("no address") from None
    if header.defects or len(header.addresses) != 1:
        raise ValueError("not one address")
    if not (header.addresses[0].username and header.addresses[0].domain):
        raise ValueError("no address")
    return sender


MAIL_FROM = Kind(
    "an e-mail address, with or without a name, such as Clinic <appointments@hospital.example>", _mail_from
)


# A Fernet key as Fernet.generate_key() writes it: 32 bytes in url-safe base64, 43 characters and '='.
_FERNET_KEY = re.compile(r"[A-Za-z0-9_-]{43}=", re.ASCII)


def _fernet_keys(text: str) -> str:
    keys = comma_separated(text)
    for key in keys:
        # Exactly one key each: base64 decoding stops at the first '=', so Fernet alone would take two
        # keys run together by a wrong separator (";", a space, a newline) as the first.
        if not _FERNET_KEY.fullmatch(key):
            raise ValueError("not one Fernet key")
        Fernet(key)  # raises ValueError (binascii.Error is one) for a key that is not one
    return ",".join(keys)


FERNET_KEYS = Kind(
    "Fernet keys, comma separated, each 32 url-safe base64-encoded bytes (Fernet.generate_key())",
    _fernet_keys,
    absent=None,
    secret=True,
)


# Where request counts may live: in each process, or in Redis (clinic/limits.py counts there).
REDIS_SCHEMES = ("redis://", "rediss://", "redis+unix://")
STORAGE_SCHEMES = ("memory://", *REDIS_SCHEMES)


def _limits_storage_url(text: str) -> str:
    url = text.strip()
    if not url.startswith(STORAGE_SCHEMES):
        raise ValueError("no storage scheme Clinic counts in")
    return url


# Secret: a Redis URL may carry its password, which a refusal must not print (nor the limiter's traceback).
LIMITS_STORAGE_URL = Kind(
    f"memory:// or a Redis URL ({_listed(REDIS_SCHEMES)}), such as redis://redis.hospital.example:6379/0",
    _limits_storage_url,
    secret=True,
)


def _limit_strings(text: str) -> str:
    if text.strip():
        parse_many(text.strip())
    return text.strip()


LIMITS = Kind("limits like '10 per minute;100 per hour' (or empty for none)", _limit_strings, absent="")
