"""Clinic settings. Every setting is read here, from `CLINIC_*` environment variables, by its kind (see
setting_kinds.py): text, a whole number, a number, on/off, a choice, a duration, a time zone, a URL.

An instance `config.py` (in the instance folder) may override any of them. When the app starts, `check`
reads each value again by its kind, wherever it came from, and names every one that is not what its
setting takes, at once.
"""

import difflib
import os
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import setting_kinds as kinds

_ROOT = Path(__file__).resolve().parent
DEFAULT_SECRET_KEY = "dev-only-not-secret"
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:5000"
MIGRATIONS_DIR = str(_ROOT / "migrations")
ENVIRONMENTS = ("development", "testing", "production")
MAIL_BACKENDS = ("file", "smtp")
SMTP_TLS_MODES = ("none", "starttls", "ssl")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# The adapters clinic.meetings registers, by name.
MEETING_PROVIDERS = ("jitsi", "teams", "zoom", "webhook")
# The staff roles CLINIC_NOTES_ROLES may give every consultation's notes: never reception.
_NOTES_ROLES = kinds.names_among(
    ("admin", "clinician"), "staff roles among admin and clinician, comma separated (never reception)"
)


class InvalidSettings(RuntimeError):
    """Settings the app cannot start with; the message names each one, so that one restart fixes all."""

    heading = "refusing to start"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{self.heading}:\n" + "\n".join(f"- {p}" for p in problems))


# Every <name> of CLINIC_<name> a setting reads (see `unknown_settings`); these two are read when asked.
_READ: set[str] = {"ENV", "INSTANCE_PATH"}
# What was wrong with the environment as config.py read it (a setting both given and named as a file, a
# file that cannot be read): `check` names these with every other refusal, so one restart fixes all.
_UNREADABLE: dict[str, str] = {}  # by the <name> of CLINIC_<name>


def _env(name: str, default: str | None = None) -> str | None:
    """CLINIC_<name> (or its file, see `_given`); blank, `default`."""
    text = _given(name)
    return text if text is not None and text.strip() else default


def _given(name: str) -> str | None:
    """CLINIC_<name>, or the contents of the file named by CLINIC_<name>_FILE (for secrets kept out of
    the environment, e.g. Docker or systemd credentials); setting both is a mistake. A variable set blank
    is one not set (the example env file leaves some so): it keeps the default, and is no second value
    beside its file. A blank is given back only where it is the whole answer, for a setting's kind to say
    what a blank means (empty for none, where the README says so)."""
    _READ.add(name)
    text, path = os.environ.get(f"CLINIC_{name}"), os.environ.get(f"CLINIC_{name}_FILE")
    if path is None or not path.strip():
        return text
    if text is not None and text.strip():
        _UNREADABLE[name] = f"set CLINIC_{name} or CLINIC_{name}_FILE, not both"
        return None
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as unread:
        reason = unread.strerror if isinstance(unread, OSError) else "it is not UTF-8 text"
        _UNREADABLE[name] = f"CLINIC_{name}_FILE names {path!r}, which cannot be read ({reason})"
        return None


@dataclass(frozen=True)
class Declared:
    variable: str  # the <name> of CLINIC_<name>
    kind: kinds.Kind


# Every setting read by a kind other than text, by its key in the app config.
DECLARED: dict[str, Declared] = {}
# The most seconds a setting PostgreSQL or libpq reads in milliseconds may hold: 2**31 - 1 ms, 24.8 days.
# More, and every connection was refused ("Value exceeds integer range"), the app answering 503 to all.
_MOST_MILLISECONDS = (2**31 - 1) // 1000
# Every setting that is a span of time (see setting_kinds.LONGEST_SPAN), by its key: its unit.
SPANS: dict[str, timedelta] = {}
_ENVIRONMENT = kinds.one_of(ENVIRONMENTS)


def _read(name: str, default: Any, kind: kinds.Kind, key: str | None = None) -> Any:
    """Declare the setting `key` (by default `name`) of `kind`, and read it from CLINIC_<name>."""
    DECLARED[key or name] = Declared(name, kind)
    return _from_environment(name, default, kind)


def _from_environment(name: str, default: Any, kind: kinds.Kind) -> Any:
    """CLINIC_<name> read as `kind`; unset or blank, `default` (or what the kind says a blank means). Text it
    cannot read is kept as given, for `check` to name with every other one when the app starts."""
    text = _given(name)
    if text is None or (not text.strip() and kind.absent is kinds.REQUIRED):
        return default
    try:
        return kind.value_of(text)
    except ValueError:
        return text


def check(config: MutableMapping[str, Any], environment: str) -> list[str]:
    """Read every declared setting of `config` by its kind, in place, and say what is wrong with each one
    that is not what its setting takes (and with `environment`, the CLINIC_ENV chosen)."""
    return list(refusals(config, environment).values())


def refusals(config: MutableMapping[str, Any], environment: str) -> dict[str, str]:
    """`check`'s refusals, by the key of the setting each refuses (ENV for the environment): settings that
    no further check can read (`ReadSettings`)."""
    found = {_key_of(name): problem for name, problem in _UNREADABLE.items()}
    if environment not in ENVIRONMENTS:
        found["ENV"] = _refusal("ENV", _ENVIRONMENT, environment)
    for key, declared in DECLARED.items():
        if key not in config:
            continue
        try:
            config[key] = declared.kind.value_of(config[key])
        except ValueError:
            found[key] = _refusal(declared.variable, declared.kind, config[key])
    return found | _offer_day_refusals(config)


def _key_of(variable: str) -> str:
    """The app config's key of the setting read from CLINIC_<variable>."""
    return next((key for key, declared in DECLARED.items() if declared.variable == variable), variable)


class UnreadSetting(Exception):
    """A setting read where its kind refused its value: a check of it is left out, as it is named already.
    (No KeyError: `Mapping.get` would take it for a setting not set.)"""


class ReadSettings(Mapping[str, Any]):
    """`config`, but for the settings `unread`, which raise UnreadSetting when read."""

    def __init__(self, config: Mapping[str, Any], unread: Collection[str]) -> None:
        self._config, self._unread = config, unread

    def __getitem__(self, key: str) -> Any:
        if key in self._unread:
            raise UnreadSetting(key)
        return self._config[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._config)

    def __len__(self) -> int:
        return len(self._config)


def _offer_day_refusals(config: Mapping[str, Any]) -> dict[str, str]:
    """The waitlist's offer day must run forwards: its hours, each read above, in order here (a wrong one
    was refused by its kind, and is no number to compare)."""
    starts, ends = config.get("WAITLIST_OFFER_DAY_STARTS"), config.get("WAITLIST_OFFER_DAY_ENDS")
    if isinstance(starts, int) and isinstance(ends, int) and starts >= ends:
        after = f"after WAITLIST_OFFER_DAY_STARTS ({starts}), not {ends!r}"
        return {"WAITLIST_OFFER_DAY_ENDS": f"CLINIC_WAITLIST_OFFER_DAY_ENDS must be {after}"}
    return {}


def _refusal(variable: str, kind: kinds.Kind, given: Any) -> str:
    if given is None or given == "":
        shown = "nothing"
    else:
        shown = "what it holds (not shown: it is a secret)" if kind.secret else repr(str(given)[:60])
    return f"CLINIC_{variable} must be {kind.wants}, not {shown}"


def _int(name: str, default: int, least: int = 0, most: int | None = None) -> int:
    return _read(name, default, kinds.whole_number(least, most))


def _span(name: str, default: int, unit: str, least: int = 0) -> int:
    """A whole number of `unit` (seconds, minutes, hours or days): a span of time, at most a century."""
    SPANS[name] = kinds.SPAN_UNITS[unit]
    return _read(name, default, kinds.span(unit, least))


def _number(
    name: str, default: float, unit: str, *, least: float | None = None, most: float | None = None
) -> float:
    """A number above 0 of `unit` (seconds, minutes or hours): a span of time, at most a century, and from
    `least` up to `most` where given."""
    SPANS[name] = kinds.SPAN_UNITS[unit]
    return _read(name, default, kinds.number(unit, least=least, most=most))


def _flag(name: str, default: bool) -> bool:
    """An on/off setting: 1, true, yes or on (any case) is on; 0, false, no or off is off."""
    return _read(name, default, kinds.on_off())


def _one_of(name: str, default: str, options: Collection[str], *, optional: bool = False) -> str | None:
    return _read(name, default, kinds.one_of(options, optional=optional))


def _duration(name: str, default: str) -> str:
    """Kept as written (e.g. "2h"), checked now; `parse_duration` makes it a timedelta."""
    return _read(name, default, kinds.DURATION)


def _durations(name: str, default: str) -> str:
    return _read(name, default, kinds.DURATIONS)


def _url(name: str, default: str | None, *, optional: bool = False) -> str | None:
    return _read(name, default, kinds.http_url(optional=optional))


def _trimmed(name: str, default: str | None, wants: str) -> str | None:
    """Text that no space around can be meant in (a host or user name, an id, a domain): read
    without it. Not for passwords and secrets, which may hold any character."""
    return _read(name, default, kinds.trimmed(wants, optional=default is None))


def _limits(name: str, default: str) -> str:
    return _read(name, default, kinds.LIMITS)


def instance_path() -> str:
    """The instance folder: the SQLite database, mail files, instance config."""
    return str(Path(_env("INSTANCE_PATH", str(_ROOT / "instance"))).resolve())


class Config:
    # Signs sessions and CSRF tokens; production refuses the default and anything under 32 bytes.
    SECRET_KEY = _env("SECRET_KEY", DEFAULT_SECRET_KEY)
    # Former secret keys, comma separated: the sessions they signed stay valid while you rotate.
    SECRET_KEY_FALLBACKS = _read("SECRET_KEY_FALLBACKS", [], kinds.KEY_LIST)
    # Keys of manage and companion links, comma separated: the first makes new links, all keep theirs
    # working; outside production derived from SECRET_KEY when unset, required in production.
    MANAGE_TOKEN_KEY = _env("MANAGE_TOKEN_KEY")
    # Database URL; SQLite in the instance folder by default, e.g. postgresql+psycopg://user@host/db
    # (postgres:// and postgresql:// are read as postgresql+psycopg://, psycopg 3 being the driver we ship).
    SQLALCHEMY_DATABASE_URI = _read(
        "DATABASE_URL",
        f"sqlite:///{instance_path()}/clinic.sqlite",
        kinds.DATABASE_URL,
        key="SQLALCHEMY_DATABASE_URI",
    )
    # "true" lets production run on SQLite (one machine, one worker); refused otherwise.
    ALLOW_SQLITE = _flag("ALLOW_SQLITE", False)
    # Seconds a request waits for a lock (SQLite's one write lock; on PostgreSQL any, as a migration's)
    # before it is answered 503 "busy, try again"; well under gunicorn's 30 s worker timeout, so a
    # waiting request is answered, never killed mid-way.
    # PostgreSQL takes it in whole milliseconds (lock_timeout, where 0 is no limit, and at most 2**31 - 1).
    DATABASE_LOCK_WAIT = _number("DATABASE_LOCK_WAIT", 10, "seconds", least=0.001, most=_MOST_MILLISECONDS)
    # Seconds to wait for PostgreSQL to accept a connection (at least 2) before the request is answered
    # 503 "try again"; psycopg's own default, 130, is past gunicorn's 30 s worker timeout.
    DATABASE_CONNECT_TIMEOUT = _int("DATABASE_CONNECT_TIMEOUT", 5, least=2)
    # Seconds a PostgreSQL connection may go unanswered at the network (its host powered off, or moved
    # by a failover) before the request is answered 503 "try again"; without it, about 15 minutes.
    # Sent in milliseconds too (libpq's tcp_user_timeout, a C int).
    DATABASE_NETWORK_TIMEOUT = _int("DATABASE_NETWORK_TIMEOUT", 10, least=1, most=_MOST_MILLISECONDS)
    # Reverse proxies in front of the app that set X-Forwarded-For/-Proto/-Host; 0 trusts none of them.
    TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 0)
    # Seconds of Strict-Transport-Security sent with every response; 0 sends none (production: a year).
    HSTS_SECONDS = _int("HSTS_SECONDS", 0)
    # Bearer token that shows /readyz's figures (counts, ages); without it callers see only ok or not.
    READYZ_TOKEN = _env("READYZ_TOKEN")
    # Name of the hospital as shown to patients.
    HOSPITAL_NAME = _env("HOSPITAL_NAME", "St Example University Hospital")
    # Time zone preset on the booking page before the browser reports the patient's own.
    DEFAULT_TIME_ZONE = _read("DEFAULT_TIME_ZONE", "Europe/London", kinds.ZONE)
    # Days of free times shown per page of the booking calendar: at most a month, read on a phone.
    BOOKING_DAYS_SHOWN = _int("BOOKING_DAYS_SHOWN", 7, least=1, most=31)
    # Most future bookings one e-mail address may hold when booking online (0: no cap; staff are not capped).
    MAX_ACTIVE_BOOKINGS_PER_EMAIL = _int("MAX_ACTIVE_BOOKINGS_PER_EMAIL", 3)
    # How long a manage link keeps working after the consultation has ended.
    MANAGE_LINK_GRACE_DAYS = _span("MANAGE_LINK_GRACE_DAYS", 7, "days")
    # Largest request body accepted (bytes); larger ones get 413.
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 64 * 1024, least=1)
    # Privacy notice version (/privacy) stored with each booking's consent; raise it when a change needs
    # patients to agree again (new data, purpose, recipient or longer keeping), not for a clarification.
    PRIVACY_NOTICE_VERSION = _env("PRIVACY_NOTICE_VERSION", "2026-12-06")
    # The data controller the privacy notice names (the hospital's legal entity); blank: HOSPITAL_NAME.
    PRIVACY_CONTROLLER_NAME = _env("PRIVACY_CONTROLLER_NAME", "")
    # How patients reach the controller (postal address, e-mail, phone), on the privacy notice; blank: the
    # notice sends them to the hospital's switchboard and reception.
    PRIVACY_CONTROLLER_CONTACT = _env("PRIVACY_CONTROLLER_CONTACT", "")
    # How patients reach the data protection officer (e-mail, address, phone), on the privacy notice; blank:
    # the notice tells them to ask the hospital for its data protection officer.
    PRIVACY_DPO_CONTACT = _env("PRIVACY_DPO_CONTACT", "")

    # No pool_pre_ping: a pooled connection PostgreSQL closed is replaced without its round trip per request
    # (clinic.models.connections).
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # Log lines: "json" (one object per line, production's default) or "text" (readable, development's).
    LOG_FORMAT = _one_of("LOG_FORMAT", "text", LOG_FORMATS)
    # Lowest level logged: DEBUG, INFO, WARNING or ERROR.
    LOG_LEVEL = _one_of("LOG_LEVEL", "INFO", LOG_LEVELS)
    # 0: this process leaves the start's warnings (settings to fix, choices weakening production) unsaid:
    # gunicorn.conf.py sets so for its workers, as its start check said each once before they forked.
    START_WARNINGS = _flag("START_WARNINGS", True)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = 3600 * 4
    TESTING = False

    # Video provider for new consultations: jitsi, teams, zoom or webhook.
    MEETING_PROVIDER = _one_of("MEETING_PROVIDER", "jitsi", MEETING_PROVIDERS)
    # Used when the chosen provider rejects for good or still fails MEETING_FALLBACK_AFTER before the start.
    MEETING_FALLBACK_PROVIDER = _one_of(
        "MEETING_FALLBACK_PROVIDER", "jitsi", MEETING_PROVIDERS, optional=True
    )
    # Seconds to wait for a provider to accept the connection.
    PROVIDER_CONNECT_TIMEOUT = _number("PROVIDER_CONNECT_TIMEOUT", 3, "seconds")
    # Seconds to wait for each read of a provider's response; a whole answer must come within this and the
    # connect timeout together.
    PROVIDER_READ_TIMEOUT = _number("PROVIDER_READ_TIMEOUT", 10, "seconds")
    # Jitsi server that hosts the rooms; use your own or JaaS for clinical traffic.
    JITSI_BASE_URL = _url("JITSI_BASE_URL", "https://meet.jit.si")
    # "true" lets production use the public meet.jit.si without JWT, where anyone with a link can host.
    ALLOW_PUBLIC_JITSI = _flag("ALLOW_PUBLIC_JITSI", False)
    # Jitsi token-auth application id (JWT iss); with the secret, every link carries a JWT.
    JITSI_APP_ID = _trimmed("JITSI_APP_ID", None, "an id")
    # Jitsi token-auth shared secret (HS256).
    JITSI_APP_SECRET = _env("JITSI_APP_SECRET")
    # Microsoft Entra tenant (directory) id that owns the Teams app.
    TEAMS_TENANT_ID = _trimmed("TEAMS_TENANT_ID", None, "an id")
    # Entra application (client) id with OnlineMeetings.ReadWrite.All.
    TEAMS_CLIENT_ID = _trimmed("TEAMS_CLIENT_ID", None, "an id")
    # Entra application client secret.
    TEAMS_CLIENT_SECRET = _env("TEAMS_CLIENT_SECRET")
    # Object id of the Teams user who organizes the meetings (needs an application access policy).
    TEAMS_ORGANIZER_ID = _trimmed("TEAMS_ORGANIZER_ID", None, "an id")
    # Where client-credentials tokens come from.
    TEAMS_AUTHORITY_URL = _url("TEAMS_AUTHORITY_URL", "https://login.microsoftonline.com")
    # Microsoft Graph API root.
    GRAPH_BASE_URL = _url("GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0")
    # Zoom account id of the Server-to-Server OAuth app.
    ZOOM_ACCOUNT_ID = _trimmed("ZOOM_ACCOUNT_ID", None, "an id")
    # Zoom Server-to-Server OAuth client id.
    ZOOM_CLIENT_ID = _trimmed("ZOOM_CLIENT_ID", None, "an id")
    # Zoom Server-to-Server OAuth client secret.
    ZOOM_CLIENT_SECRET = _env("ZOOM_CLIENT_SECRET")
    # Zoom user (id or e-mail) who hosts the meetings; "me" is the app's own user.
    ZOOM_USER_ID = _trimmed("ZOOM_USER_ID", "me", "a Zoom user id or e-mail address")
    # Where Zoom access tokens come from.
    ZOOM_OAUTH_URL = _url("ZOOM_OAUTH_URL", "https://zoom.us/oauth/token")
    # Zoom REST API root.
    ZOOM_API_BASE_URL = _url("ZOOM_API_BASE_URL", "https://api.zoom.us/v2")
    # The hospital's own meeting service for the webhook provider (contract in clinic/meetings/webhook.py).
    WEBHOOK_URL = _url("WEBHOOK_URL", None, optional=True)
    # Shared secret that signs webhook requests (HMAC-SHA256).
    WEBHOOK_SECRET = _env("WEBHOOK_SECRET")

    # How mail leaves: "file" writes .eml files to <instance>/mail (development only), "smtp" sends.
    MAIL_BACKEND = _one_of("MAIL_BACKEND", "file", MAIL_BACKENDS)
    # SMTP server host name.
    SMTP_HOST = _trimmed("SMTP_HOST", "localhost", "a host name")
    # SMTP server port: usually 25 (relay), 587 (starttls) or 465 (ssl).
    SMTP_PORT = _int("SMTP_PORT", 25, least=1, most=65535)
    # SMTP login user; no login when empty.
    SMTP_USERNAME = _trimmed("SMTP_USERNAME", None, "a user name")
    # SMTP login password.
    SMTP_PASSWORD = _env("SMTP_PASSWORD")
    # Transport security to the SMTP server: none, starttls or ssl.
    SMTP_TLS = _one_of("SMTP_TLS", "none", SMTP_TLS_MODES)
    # Seconds to wait for the SMTP server before giving up (the message is retried later).
    SMTP_TIMEOUT = _number("SMTP_TIMEOUT", 10, "seconds")
    # Sender of every mail and organizer of every invite; replies to invites arrive here.
    MAIL_FROM = _read("MAIL_FROM", "Clinic <appointments@clinic.example>", kinds.MAIL_FROM)
    # "true" if the SMTP relay accepts SMTPUTF8 (RFC 6531); otherwise booking refuses évè@example.org.
    MAIL_SMTPUTF8 = _flag("MAIL_SMTPUTF8", False)
    # Domain that makes invite UIDs and Message-IDs globally unique; use one the hospital owns. Each booking
    # keeps the domain of its first invite, so changing it later leaves the invites already sent matching.
    INVITE_DOMAIN = _trimmed("INVITE_DOMAIN", "clinic.example", "a domain name")

    # Public address of the site, for the links in mails (the worker has no request to ask); production
    # refuses the default, and plain http unless ALLOW_HTTP_LINKS.
    PUBLIC_BASE_URL = _url("PUBLIC_BASE_URL", DEFAULT_PUBLIC_BASE_URL)
    # "true" lets production mail links on a plain http PUBLIC_BASE_URL, tokens and all; refused otherwise.
    ALLOW_HTTP_LINKS = _flag("ALLOW_HTTP_LINKS", False)
    # Reminders before the start, comma separated, units s/m/h/d; offsets already past at booking are skipped.
    # A worker started with new offsets applies them to the consultations booked before too.
    REMINDER_OFFSETS = _durations("REMINDER_OFFSETS", "24h,1h")
    # If MEETING_PROVIDER still fails this long before the start, or asks to wait past then, use the fallback
    # (or once attempts run out).
    MEETING_FALLBACK_AFTER = _duration("MEETING_FALLBACK_AFTER", "2h")
    # Seconds between worker ticks; each tick drains every message that is due.
    OUTBOX_TICK_SECONDS = _number("OUTBOX_TICK_SECONDS", 5, "seconds")
    # Messages a worker claims at once.
    OUTBOX_BATCH_SIZE = _int("OUTBOX_BATCH_SIZE", 20, least=1)
    # Seconds a claim on one message lasts; well above the longest provider or SMTP call.
    OUTBOX_LEASE_SECONDS = _number("OUTBOX_LEASE_SECONDS", 120, "seconds")
    # Attempts before a message becomes a dead letter an admin can retry.
    OUTBOX_MAX_ATTEMPTS = _int("OUTBOX_MAX_ATTEMPTS", 10, least=1)
    # Upper bound of the first retry delay in seconds; it doubles per attempt (full jitter).
    OUTBOX_RETRY_BASE_SECONDS = _number("OUTBOX_RETRY_BASE_SECONDS", 15, "seconds")
    # Longest retry delay in seconds, unless a provider's Retry-After asks for more.
    OUTBOX_RETRY_MAX_SECONDS = _number("OUTBOX_RETRY_MAX_SECONDS", 900, "seconds")

    # Waiting patients a freed time is offered to at once (the first to book it gets it).
    WAITLIST_OFFERS_PER_TIME = _int("WAITLIST_OFFERS_PER_TIME", 3, least=1)
    # How long an offer of a freed time stands (units s/m/h/d), counted in the hospital's day only; then it
    # goes to those next in line.
    WAITLIST_OFFER_LIFETIME = _duration("WAITLIST_OFFER_LIFETIME", "2h")
    # The hour (in DEFAULT_TIME_ZONE) the hospital's day starts: an offer's lifetime runs only in its day,
    # so a time freed at night is held into the morning, though never past when it can last be booked.
    WAITLIST_OFFER_DAY_STARTS = _int("WAITLIST_OFFER_DAY_STARTS", 8, most=23)
    # The hour the hospital's day ends for offers (24 is midnight); after WAITLIST_OFFER_DAY_STARTS.
    WAITLIST_OFFER_DAY_ENDS = _int("WAITLIST_OFFER_DAY_ENDS", 21, least=1, most=24)

    # Minutes before the start from which the patient may check in and join, and the clinician start the call.
    JOIN_WINDOW_MINUTES = _span("JOIN_WINDOW_MINUTES", 15, "minutes")
    # Minutes after the end until which the call may still be joined; after that the link stops working.
    JOIN_GRACE_MINUTES = _span("JOIN_GRACE_MINUTES", 30, "minutes")
    # Minutes after the end at which a booked consultation nobody acted on is marked a no-show.
    NOSHOW_AFTER_MINUTES = _span("NOSHOW_AFTER_MINUTES", 30, "minutes")
    # Minutes after the start before staff may mark a patient who has not checked in a no-show.
    NOSHOW_GRACE_MINUTES = _span("NOSHOW_GRACE_MINUTES", 10, "minutes")
    # Minutes a walk-in caller has to press join once taken and its link made; then back to the front once,
    # then dropped.
    WALK_IN_ANSWER_MINUTES = _number("WALK_IN_ANSWER_MINUTES", 3, "minutes")
    # Minutes per caller ahead, per clinician on duty and signed in, that a walk-in wait is estimated at
    # until the queue's takes give a pace of their own (walkin/waits.py).
    WALK_IN_MINUTES_PER_CALLER = _number("WALK_IN_MINUTES_PER_CALLER", 10, "minutes")
    # Seconds between the updates of a walk-in caller's place, on their page (with and without JavaScript).
    WALK_IN_REFRESH_SECONDS = _span("WALK_IN_REFRESH_SECONDS", 15, "seconds", least=1)
    # What a walk-in caller in immediate danger should do instead of waiting, shown on the queue's pages:
    # the hospital's own words and number. A blank value keeps this default, which names no country.
    WALK_IN_EMERGENCY_NOTICE = _env("WALK_IN_EMERGENCY_NOTICE", "").strip() or (
        "If you are in danger now or need urgent medical help, do not wait here: "
        "call your local emergency number."
    )
    # Days after the end of a patient record's last consultation when its name, e-mail, phone and birth
    # date (and its companions') are anonymised.
    RETENTION_PATIENT_DAYS = _span("RETENTION_PATIENT_DAYS", 730, "days", least=1)
    # Days after a consultation's end when its reason for visit and cancel reason are erased.
    RETENTION_REASON_DAYS = _span("RETENTION_REASON_DAYS", 365, "days", least=1)
    # Days a booking request's idempotency key is kept (it only guards retries of that request).
    RETENTION_IDEMPOTENCY_DAYS = _span("RETENTION_IDEMPOTENCY_DAYS", 7, "days", least=1)
    # Days after its due time when a finished outbox message (sent, dead or cancelled) is deleted.
    RETENTION_OUTBOX_DAYS = _span("RETENTION_OUTBOX_DAYS", 90, "days", least=1)
    # Days after a waitlist entry ended (booked, left, expired or closed) when it is deleted, with its offers.
    RETENTION_WAITLIST_DAYS = _span("RETENTION_WAITLIST_DAYS", 30, "days", least=1)
    # Days after a walk-in caller who was never seen (left, closed out, dropped) left the queue when their
    # name, e-mail and phone are anonymised; a caller whose call was held follows RETENTION_PATIENT_DAYS.
    RETENTION_WALK_IN_DAYS = _span("RETENTION_WALK_IN_DAYS", 30, "days", least=1)

    # Minutes after its last page when a browser without a staff sign-in (a patient's, keeping the passes of
    # the bookings and queue places made or opened in it: perhaps a kiosk's) is forgotten; its cookie is a
    # browser-session cookie besides (clinic/session_cookie.py).
    PATIENT_SESSION_IDLE_MINUTES = _int("PATIENT_SESSION_IDLE_MINUTES", 60, least=5, most=24 * 60)
    # Minutes without a request after which a staff member is signed out.
    STAFF_IDLE_MINUTES = _span("STAFF_IDLE_MINUTES", 30, "minutes", least=1)
    # Hours after signing in when a staff session ends, however active (the absolute lifetime).
    STAFF_SESSION_HOURS = _number("STAFF_SESSION_HOURS", 12, "hours")
    # Failed sign-ins (passwords or codes) per client address within the window before it is refused.
    LOGIN_MAX_FAILURES_PER_ADDRESS = _int("LOGIN_MAX_FAILURES_PER_ADDRESS", 10, least=1)
    # Minutes over which failed sign-ins are counted, per address and per account.
    LOGIN_FAILURE_WINDOW_MINUTES = _span("LOGIN_FAILURE_WINDOW_MINUTES", 15, "minutes", least=1)
    # Wrong passwords or codes within the window that lock an account; kept above the per-address
    # limit (it was 5) so that one address alone can never lock a colleague out.
    STAFF_MAX_FAILED_LOGINS = _int("STAFF_MAX_FAILED_LOGINS", 20, least=1)
    # Minutes a locked staff account refuses every password, the right one included.
    STAFF_LOCKOUT_MINUTES = _span("STAFF_LOCKOUT_MINUTES", 15, "minutes")
    # 1: admins must set up a TOTP second factor before their first session; 0: they may choose.
    REQUIRE_ADMIN_MFA = _flag("REQUIRE_ADMIN_MFA", False)
    # Password of every login `flask clinic demo` makes (the demo refuses to load in production).
    DEMO_PASSWORD = _env("DEMO_PASSWORD", "demo-password")

    # false (or 0) turns every request limit below off, for load tests; on by default.
    RATELIMIT_ENABLED = _flag("RATELIMIT_ENABLED", True)
    # Where request counts live: memory:// counts per process; a Redis URL shares them between processes.
    RATELIMIT_STORAGE_URL = _read("RATELIMIT_STORAGE_URL", "memory://", kinds.LIMITS_STORAGE_URL)
    # Per address and per step: reviewing (POST /book/details), confirming (POST /book/confirm), API bookings,
    # joining the waitlist and booking from its offers.
    RATELIMIT_BOOKING = _limits("RATELIMIT_BOOKING", "10 per minute;100 per hour")
    # Per address: joining a walk-in queue (POST /walk-in/<queue>).
    RATELIMIT_WALK_IN = _limits("RATELIMIT_WALK_IN", "5 per minute;30 per hour")
    # Per address: free-time searches, /book/time and /api/v1/slots together.
    RATELIMIT_SLOT_SEARCH = _limits("RATELIMIT_SLOT_SEARCH", "300 per minute")
    # Per address: every request that opens a booking or a walk-in place by its reference (/c/…, /g/…,
    # /walk-in/e/…, /api/v1/bookings/…), but the status polling of a walk-in page or a waiting room, and a
    # waiting room's page asked for again without a token (counted with the rooms' polls, below).
    RATELIMIT_MANAGE_LINK = _limits("RATELIMIT_MANAGE_LINK", "60 per minute")
    # Per address: walk-in callers' pages asking for their place (/walk-in/e/…/status, every
    # WALK_IN_REFRESH_SECONDS): room for about 150 callers behind one address, such as a care home's.
    RATELIMIT_WALK_IN_STATUS = _limits("RATELIMIT_WALK_IN_STATUS", "600 per minute")
    # Per address: waiting rooms' countdowns asking whether their booking has changed (/c/…/status and
    # /g/…/status, every minute while the page is open), and open rooms' pages asked for again without a
    # token (/c/… and /g/…, every 30 seconds): room for hundreds of open pages behind one address.
    RATELIMIT_ROOM_STATUS = _limits("RATELIMIT_ROOM_STATUS", "600 per minute")
    # Per address: every request to /api/v1.
    RATELIMIT_API = _limits("RATELIMIT_API", "600 per minute")
    # Per address: staff sign-in posts (password and code), in front of the failed sign-in throttle.
    RATELIMIT_STAFF_LOGIN = _limits("RATELIMIT_STAFF_LOGIN", "60 per minute")

    # Fernet keys for notes, comma separated: the first encrypts, all decrypt; production requires it.
    NOTES_KEY = _read("NOTES_KEY", None, kinds.FERNET_KEYS)
    # Staff roles that may read and write every consultation's notes, comma separated (never reception).
    NOTES_ROLES = _read("NOTES_ROLES", "", _NOTES_ROLES)

    # Secret keying the audit chain's HMAC and signing its anchor, kept outside the database.
    AUDIT_KEY = _env("AUDIT_KEY")
    # Former audit keys, comma separated: the events they signed still verify (see docs/operations.md).
    AUDIT_KEY_FALLBACKS = _read("AUDIT_KEY_FALLBACKS", [], kinds.KEY_LIST)
    # Key ids of former audit keys declared lost, comma separated: the chain goes on past the events they
    # signed, which stay unverifiable, after an audit.key_declared_lost event (see docs/operations.md).
    AUDIT_LOST_KEY_IDS = _read("AUDIT_LOST_KEY_IDS", [], kinds.KEY_ID_LIST)
    # Where the signed audit anchor (count, head id and hash) is kept; default <instance>/audit-anchor.json.
    AUDIT_ANCHOR_PATH = _env("AUDIT_ANCHOR_PATH")


class DevelopmentConfig(Config):
    DEBUG = True


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    LOG_FORMAT = _one_of("LOG_FORMAT", "json", LOG_FORMATS)
    # A database error's text then leaves out its statement's parameters (patients' details).
    SQLALCHEMY_ENGINE_OPTIONS: dict = {**Config.SQLALCHEMY_ENGINE_OPTIONS, "hide_parameters": True}
    # In production admins need a second factor unless CLINIC_REQUIRE_ADMIN_MFA=0 says otherwise.
    REQUIRE_ADMIN_MFA = _flag("REQUIRE_ADMIN_MFA", True)
    HSTS_SECONDS = _int("HSTS_SECONDS", 365 * 24 * 3600)


configs = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def defaults() -> dict[str, Any]:
    """Every setting with its default (as the environment sets it): for code given settings without an app."""
    return {name: getattr(Config, name) for name in dir(Config) if name.isupper()}


def unknown_settings(environ: Mapping[str, str]) -> list[str]:
    """The CLINIC_* variables of `environ` that no setting reads: a misspelt or renamed one would
    otherwise be ignored without a word."""
    known = {f"CLINIC_{name}{suffix}" for name in _READ for suffix in ("", "_FILE")}
    return sorted(name for name in environ if name.startswith("CLINIC_") and name not in known)


def setting_names() -> set[str]:
    """Every setting's key in the app config, as any config class gives it."""
    return {name for cls in configs.values() for name in dir(cls) if name.isupper()}


# Prefixes of the settings of Flask's extensions, which an instance config.py may set as well.
_EXTENSION_PREFIXES = ("SQLALCHEMY_", "WTF_", "RATELIMIT_")


def unknown_instance_settings(given: Iterable[str], also_known: Collection[str]) -> dict[str, str | None]:
    """The keys of an instance config.py that no setting has (nor Flask, `also_known`), each with the
    setting it may mean: the key of a CLINIC_<name> written as it, or the closest spelling. A key of an
    extension's own (SQLALCHEMY_ECHO) is left alone, unless it is close to one of Clinic's."""
    ours = setting_names()
    by_variable = {f"CLINIC_{key}": key for key in ours} | {
        f"CLINIC_{declared.variable}": key for key, declared in DECLARED.items()
    }
    found = {}
    for name in given:
        if name in ours or name in also_known:
            continue
        close = difflib.get_close_matches(name.removeprefix("CLINIC_"), ours, n=1, cutoff=0.8)
        meant = by_variable.get(name) or by_variable.get(f"CLINIC_{name}") or next(iter(close), None)
        if meant or not name.startswith(_EXTENSION_PREFIXES):
            found[name] = meant
    return found


def where_given(problems: list[str], from_file: Collection[str], path: str) -> list[str]:
    """Each problem, saying of each setting it names that an instance config.py (at `path`) set it, as the
    keys `from_file`: its CLINIC_<name> alone would send the admin to the environment to look for it."""
    variables = {f"CLINIC_{DECLARED[key].variable if key in DECLARED else key}": key for key in from_file}

    def placed(problem: str) -> str:
        named = [
            name for name in dict.fromkeys(re.findall(r"CLINIC_[A-Z0-9_]+", problem)) if name in variables
        ]
        said = "; ".join(f"{name} is set in {path}, as {variables[name]}" for name in named)
        return f"{problem} ({said})" if said else problem

    return [placed(problem) for problem in problems]


def config_name() -> str:
    """Which config class to use, from CLINIC_ENV (development, testing or production, in any case); a
    name that is none of them is kept, for `check` to refuse."""
    return _from_environment("ENV", "development", _ENVIRONMENT)
