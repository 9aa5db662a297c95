"""Clinic settings. Every setting is read here, from `CLINIC_*` environment variables.

An instance `config.py` (in the instance folder) may override any of them.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent
DEFAULT_SECRET_KEY = "dev-only-not-secret"
MIGRATIONS_DIR = str(_ROOT / "migrations")


# Every <name> of CLINIC_<name> a setting reads (see `unknown_settings`); these two are read when asked.
_READ: set[str] = {"ENV", "INSTANCE_PATH"}


def _env(name: str, default: str | None = None) -> str | None:
    """CLINIC_<name>, or the contents of the file named by CLINIC_<name>_FILE (for secrets kept out of
    the environment, e.g. Docker or systemd credentials); setting both is a mistake."""
    _READ.add(name)
    path = os.environ.get(f"CLINIC_{name}_FILE")
    if path is None:
        return os.environ.get(f"CLINIC_{name}", default)
    if f"CLINIC_{name}" in os.environ:
        raise ValueError(f"set CLINIC_{name} or CLINIC_{name}_FILE, not both")
    return Path(path).read_text(encoding="utf-8").rstrip("\r\n")


def _flag(name: str, default: bool) -> bool:
    """An on/off setting: 1, true, yes or on (any case) is on; 0, false, no or off is off."""
    value = _env(name)
    if value is None or not value.strip():
        return default
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"CLINIC_{name} must be true or false, not {value!r}")


def instance_path() -> str:
    """The instance folder: the SQLite database, mail files, instance config."""
    return str(Path(_env("INSTANCE_PATH", str(_ROOT / "instance"))).resolve())


class Config:
    # Signs sessions and CSRF tokens; production refuses the default and anything under 32 bytes.
    SECRET_KEY = _env("SECRET_KEY", DEFAULT_SECRET_KEY)
    # Former secret keys, comma separated: the sessions they signed stay valid while you rotate.
    SECRET_KEY_FALLBACKS = [key for key in (_env("SECRET_KEY_FALLBACKS") or "").split(",") if key]
    # Keys of manage and companion links, comma separated: the first makes new links, all keep theirs
    # working; outside production derived from SECRET_KEY when unset, required in production.
    MANAGE_TOKEN_KEY = _env("MANAGE_TOKEN_KEY")
    # Database URL; SQLite in the instance folder by default, e.g. postgresql+psycopg://user@host/db.
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL") or f"sqlite:///{instance_path()}/clinic.sqlite"
    # "true" lets production run on SQLite (one machine, one worker); refused otherwise.
    ALLOW_SQLITE = _flag("ALLOW_SQLITE", False)
    # Seconds a request waits for a lock (SQLite's one write lock; on PostgreSQL any, as a migration's)
    # before it is answered 503 "busy, try again"; well under gunicorn's 30 s worker timeout, so a
    # waiting request is answered, never killed mid-way.
    DATABASE_LOCK_WAIT = float(_env("DATABASE_LOCK_WAIT", "10"))
    # Seconds to wait for PostgreSQL to accept a connection (at least 2) before the request is answered
    # 503 "try again"; psycopg's own default, 130, is past gunicorn's 30 s worker timeout.
    DATABASE_CONNECT_TIMEOUT = int(_env("DATABASE_CONNECT_TIMEOUT", "5"))
    # Seconds a PostgreSQL connection may go unanswered at the network (its host powered off, or moved
    # by a failover) before the request is answered 503 "try again"; without it, about 15 minutes.
    DATABASE_NETWORK_TIMEOUT = int(_env("DATABASE_NETWORK_TIMEOUT", "10"))
    # Reverse proxies in front of the app that set X-Forwarded-For/-Proto/-Host; 0 trusts none of them.
    TRUSTED_PROXIES = int(_env("TRUSTED_PROXIES", "0"))
    # Seconds of Strict-Transport-Security sent with every response; 0 sends none (production: a year).
    HSTS_SECONDS = int(_env("HSTS_SECONDS", "0"))
    # Bearer token that shows /readyz's figures (counts, ages); without it callers see only ok or not.
    READYZ_TOKEN = _env("READYZ_TOKEN")
    # Name of the hospital as shown to patients.
    HOSPITAL_NAME = _env("HOSPITAL_NAME", "St Example University Hospital")
    # Time zone preset on the booking page before the browser reports the patient's own.
    DEFAULT_TIME_ZONE = _env("DEFAULT_TIME_ZONE", "Europe/London")
    # Days of free times shown per page of the booking calendar.
    BOOKING_DAYS_SHOWN = int(_env("BOOKING_DAYS_SHOWN", "7"))
    # Most future bookings one e-mail address may hold when booking online (0: no cap; staff are not capped).
    MAX_ACTIVE_BOOKINGS_PER_EMAIL = int(_env("MAX_ACTIVE_BOOKINGS_PER_EMAIL", "3"))
    # How long a manage link keeps working after the consultation has ended.
    MANAGE_LINK_GRACE_DAYS = int(_env("MANAGE_LINK_GRACE_DAYS", "7"))
    # Largest request body accepted (bytes); larger ones get 413.
    MAX_CONTENT_LENGTH = int(_env("MAX_CONTENT_LENGTH", str(64 * 1024)))
    # Privacy notice version (/privacy) stored with each booking's consent; raise it when the text changes.
    PRIVACY_NOTICE_VERSION = _env("PRIVACY_NOTICE_VERSION", "2026-12-01")

    # No pool_pre_ping: a pooled connection PostgreSQL closed is replaced without its round trip per request
    # (clinic.models.connections).
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # Log lines: "json" (one object per line, production's default) or "text" (readable, development's).
    LOG_FORMAT = _env("LOG_FORMAT", "text")
    # Lowest level logged: DEBUG, INFO, WARNING or ERROR.
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = 3600 * 4
    TESTING = False

    # Video provider for new consultations: jitsi, teams, zoom or webhook.
    MEETING_PROVIDER = _env("MEETING_PROVIDER", "jitsi")
    # Used when the chosen provider rejects for good or still fails MEETING_FALLBACK_AFTER before the start.
    MEETING_FALLBACK_PROVIDER = _env("MEETING_FALLBACK_PROVIDER", "jitsi")
    # Seconds to wait for a provider to accept the connection.
    PROVIDER_CONNECT_TIMEOUT = float(_env("PROVIDER_CONNECT_TIMEOUT", "3"))
    # Seconds to wait for each read of a provider's response.
    PROVIDER_READ_TIMEOUT = float(_env("PROVIDER_READ_TIMEOUT", "10"))
    # Jitsi server that hosts the rooms; use your own or JaaS for clinical traffic.
    JITSI_BASE_URL = _env("JITSI_BASE_URL", "https://meet.jit.si")
    # "true" lets production use the public meet.jit.si without JWT, where anyone with a link can host.
    ALLOW_PUBLIC_JITSI = _flag("ALLOW_PUBLIC_JITSI", False)
    # Jitsi token-auth application id (JWT iss); with the secret, every link carries a JWT.
    JITSI_APP_ID = _env("JITSI_APP_ID")
    # Jitsi token-auth shared secret (HS256).
    JITSI_APP_SECRET = _env("JITSI_APP_SECRET")
    # Microsoft Entra tenant (directory) id that owns the Teams app.
    TEAMS_TENANT_ID = _env("TEAMS_TENANT_ID")
    # Entra application (client) id with OnlineMeetings.ReadWrite.All.
    TEAMS_CLIENT_ID = _env("TEAMS_CLIENT_ID")
    # Entra application client secret.
    TEAMS_CLIENT_SECRET = _env("TEAMS_CLIENT_SECRET")
    # Object id of the Teams user who organizes the meetings (needs an application access policy).
    TEAMS_ORGANIZER_ID = _env("TEAMS_ORGANIZER_ID")
    # Where client-credentials tokens come from.
    TEAMS_AUTHORITY_URL = _env("TEAMS_AUTHORITY_URL", "https://login.microsoftonline.com")
    # Microsoft Graph API root.
    GRAPH_BASE_URL = _env("GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0")
    # Zoom account id of the Server-to-Server OAuth app.
    ZOOM_ACCOUNT_ID = _env("ZOOM_ACCOUNT_ID")
    # Zoom Server-to-Server OAuth client id.
    ZOOM_CLIENT_ID = _env("ZOOM_CLIENT_ID")
    # Zoom Server-to-Server OAuth client secret.
    ZOOM_CLIENT_SECRET = _env("ZOOM_CLIENT_SECRET")
    # Zoom user (id or e-mail) who hosts the meetings; "me" is the app's own user.
    ZOOM_USER_ID = _env("ZOOM_USER_ID", "me")
    # Where Zoom access tokens come from.
    ZOOM_OAUTH_URL = _env("ZOOM_OAUTH_URL", "https://zoom.us/oauth/token")
    # Zoom REST API root.
    ZOOM_API_BASE_URL = _env("ZOOM_API_BASE_URL", "https://api.zoom.us/v2")
    # The hospital's own meeting service for the webhook provider (contract in clinic/meetings/webhook.py).
    WEBHOOK_URL = _env("WEBHOOK_URL")
    # Shared secret that signs webhook requests (HMAC-SHA256).
    WEBHOOK_SECRET = _env("WEBHOOK_SECRET")

    # How mail leaves: "file" writes .eml files to <instance>/mail (development only), "smtp" sends.
    MAIL_BACKEND = _env("MAIL_BACKEND", "file")
    # SMTP server host name.
    SMTP_HOST = _env("SMTP_HOST", "localhost")
    # SMTP server port: usually 25 (relay), 587 (starttls) or 465 (ssl).
    SMTP_PORT = int(_env("SMTP_PORT", "25"))
    # SMTP login user; no login when empty.
    SMTP_USERNAME = _env("SMTP_USERNAME")
    # SMTP login password.
    SMTP_PASSWORD = _env("SMTP_PASSWORD")
    # Transport security to the SMTP server: none, starttls or ssl.
    SMTP_TLS = _env("SMTP_TLS", "none")
    # Seconds to wait for the SMTP server before giving up (the message is retried later).
    SMTP_TIMEOUT = float(_env("SMTP_TIMEOUT", "10"))
    # Sender of every mail and organizer of every invite; replies to invites arrive here.
    MAIL_FROM = _env("MAIL_FROM", "Clinic <appointments@clinic.example>")
    # "true" if the SMTP relay accepts SMTPUTF8 (RFC 6531); otherwise booking refuses évè@example.org.
    MAIL_SMTPUTF8 = _flag("MAIL_SMTPUTF8", False)
    # Domain that makes invite UIDs and Message-IDs globally unique; use one the hospital owns.
    INVITE_DOMAIN = _env("INVITE_DOMAIN", "clinic.example")

    # Public address of the site, for the manage link in mails (the worker has no request to ask).
    PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    # Reminders before the start, comma separated, units s/m/h/d; offsets already past at booking are skipped.
    REMINDER_OFFSETS = _env("REMINDER_OFFSETS", "24h,1h")
    # If MEETING_PROVIDER still fails this long before the start, use the fallback (or once attempts run out).
    MEETING_FALLBACK_AFTER = _env("MEETING_FALLBACK_AFTER", "2h")
    # Seconds between worker ticks; each tick drains every message that is due.
    OUTBOX_TICK_SECONDS = float(_env("OUTBOX_TICK_SECONDS", "5"))
    # Messages a worker claims at once.
    OUTBOX_BATCH_SIZE = int(_env("OUTBOX_BATCH_SIZE", "20"))
    # Seconds a claim on one message lasts; well above the longest provider or SMTP call.
    OUTBOX_LEASE_SECONDS = float(_env("OUTBOX_LEASE_SECONDS", "120"))
    # Attempts before a message becomes a dead letter an admin can retry.
    OUTBOX_MAX_ATTEMPTS = int(_env("OUTBOX_MAX_ATTEMPTS", "10"))
    # Upper bound of the first retry delay in seconds; it doubles per attempt (full jitter).
    OUTBOX_RETRY_BASE_SECONDS = float(_env("OUTBOX_RETRY_BASE_SECONDS", "15"))
    # Longest retry delay in seconds, unless a provider's Retry-After asks for more.
    OUTBOX_RETRY_MAX_SECONDS = float(_env("OUTBOX_RETRY_MAX_SECONDS", "900"))

    # Waiting patients a freed time is offered to at once (the first to book it gets it).
    WAITLIST_OFFERS_PER_TIME = int(_env("WAITLIST_OFFERS_PER_TIME", "3"))
    # How long an offer of a freed time stands (units s/m/h/d); then it goes to those next in line.
    WAITLIST_OFFER_LIFETIME = _env("WAITLIST_OFFER_LIFETIME", "2h")

    # Minutes before the start from which the patient may check in and join, and the clinician start the call.
    JOIN_WINDOW_MINUTES = int(_env("JOIN_WINDOW_MINUTES", "15"))
    # Minutes after the end until which the call may still be joined; after that the link stops working.
    JOIN_GRACE_MINUTES = int(_env("JOIN_GRACE_MINUTES", "30"))
    # Minutes after the end at which a booked consultation nobody acted on is marked a no-show.
    NOSHOW_AFTER_MINUTES = int(_env("NOSHOW_AFTER_MINUTES", "30"))
    # Minutes a walk-in caller has to press join once taken; then back to the front once, then dropped.
    WALK_IN_ANSWER_MINUTES = float(_env("WALK_IN_ANSWER_MINUTES", "3"))
    # Minutes per caller ahead, per staff member on duty, that a walk-in wait is estimated at before
    # the last hour's takes give a pace of their own.
    WALK_IN_MINUTES_PER_CALLER = float(_env("WALK_IN_MINUTES_PER_CALLER", "10"))
    # Seconds between the updates of a walk-in caller's place, on their page (with and without JavaScript).
    WALK_IN_REFRESH_SECONDS = int(_env("WALK_IN_REFRESH_SECONDS", "15"))
    # What a walk-in caller in immediate danger should do instead of waiting, shown on the queue's pages:
    # the hospital's own words and number. A blank value keeps this default, which names no country.
    WALK_IN_EMERGENCY_NOTICE = _env("WALK_IN_EMERGENCY_NOTICE", "").strip() or (
        "If you are in danger now or need urgent medical help, do not wait here: "
        "call your local emergency number."
    )
    # Days after the end of a patient record's last consultation when its name, e-mail, phone and birth
    # date (and its companions') are anonymised.
    RETENTION_PATIENT_DAYS = int(_env("RETENTION_PATIENT_DAYS", "730"))
    # Days after a consultation's end when its reason for visit and cancel reason are erased.
    RETENTION_REASON_DAYS = int(_env("RETENTION_REASON_DAYS", "365"))
    # Days a booking request's idempotency key is kept (it only guards retries of that request).
    RETENTION_IDEMPOTENCY_DAYS = int(_env("RETENTION_IDEMPOTENCY_DAYS", "7"))
    # Days after its due time when a finished outbox message (sent, dead or cancelled) is deleted.
    RETENTION_OUTBOX_DAYS = int(_env("RETENTION_OUTBOX_DAYS", "90"))
    # Days after a waitlist entry ended (booked, left or expired) when it is deleted, with its offers.
    RETENTION_WAITLIST_DAYS = int(_env("RETENTION_WAITLIST_DAYS", "30"))

    # Minutes without a request after which a staff member is signed out.
    STAFF_IDLE_MINUTES = int(_env("STAFF_IDLE_MINUTES", "30"))
    # Hours after signing in when a staff session ends, however active (the absolute lifetime).
    STAFF_SESSION_HOURS = float(_env("STAFF_SESSION_HOURS", "12"))
    # Failed sign-ins (passwords or codes) per client address within the window before it is refused.
    LOGIN_MAX_FAILURES_PER_ADDRESS = int(_env("LOGIN_MAX_FAILURES_PER_ADDRESS", "10"))
    # Minutes over which failed sign-ins are counted, per address and per account.
    LOGIN_FAILURE_WINDOW_MINUTES = int(_env("LOGIN_FAILURE_WINDOW_MINUTES", "15"))
    # Wrong passwords or codes within the window that lock an account; kept above the per-address
    # limit (it was 5) so that one address alone can never lock a colleague out.
    STAFF_MAX_FAILED_LOGINS = int(_env("STAFF_MAX_FAILED_LOGINS", "20"))
    # Minutes a locked staff account refuses every password, the right one included.
    STAFF_LOCKOUT_MINUTES = int(_env("STAFF_LOCKOUT_MINUTES", "15"))
    # 1: admins must set up a TOTP second factor before their first session; 0: they may choose.
    REQUIRE_ADMIN_MFA = _flag("REQUIRE_ADMIN_MFA", False)
    # Password of every login `flask clinic demo` makes (the demo refuses to load in production).
    DEMO_PASSWORD = _env("DEMO_PASSWORD", "demo-password")

    # false (or 0) turns every request limit below off, for load tests; on by default.
    RATELIMIT_ENABLED = _flag("RATELIMIT_ENABLED", True)
    # Where request counts live: memory:// counts per process; a Redis URL shares them between processes.
    RATELIMIT_STORAGE_URL = _env("RATELIMIT_STORAGE_URL", "memory://")
    # Per address and per step: reviewing (POST /book/details), confirming (POST /book/confirm), API bookings,
    # joining the waitlist and booking from its offers.
    RATELIMIT_BOOKING = _env("RATELIMIT_BOOKING", "10 per minute;100 per hour")
    # Per address: joining a walk-in queue (POST /walk-in/<queue>).
    RATELIMIT_WALK_IN = _env("RATELIMIT_WALK_IN", "5 per minute;30 per hour")
    # Per address: free-time searches, /book/time and /api/v1/slots together.
    RATELIMIT_SLOT_SEARCH = _env("RATELIMIT_SLOT_SEARCH", "300 per minute")
    # Per address: every request that opens a booking or a walk-in place by its reference (/c/…, /g/…,
    # /walk-in/e/…, /api/v1/bookings/…), but a walk-in page's status polling.
    RATELIMIT_MANAGE_LINK = _env("RATELIMIT_MANAGE_LINK", "60 per minute")
    # Per address: walk-in callers' pages asking for their place (/walk-in/e/…/status, every
    # WALK_IN_REFRESH_SECONDS): room for about 150 callers behind one address, such as a care home's.
    RATELIMIT_WALK_IN_STATUS = _env("RATELIMIT_WALK_IN_STATUS", "600 per minute")
    # Per address: every request to /api/v1.
    RATELIMIT_API = _env("RATELIMIT_API", "600 per minute")
    # Per address: staff sign-in posts (password and code), in front of the failed sign-in throttle.
    RATELIMIT_STAFF_LOGIN = _env("RATELIMIT_STAFF_LOGIN", "60 per minute")

    # Fernet keys for notes, comma separated: the first encrypts, all decrypt; production requires it.
    NOTES_KEY = _env("NOTES_KEY")
    # Staff roles that may read and write every consultation's notes, comma separated (never reception).
    NOTES_ROLES = _env("NOTES_ROLES", "")

    # Secret keying the audit chain's HMAC and signing its anchor, kept outside the database.
    AUDIT_KEY = _env("AUDIT_KEY")
    # Former audit keys, comma separated: the events they signed still verify (see docs/operations.md).
    AUDIT_KEY_FALLBACKS = [
        key.strip() for key in (_env("AUDIT_KEY_FALLBACKS") or "").split(",") if key.strip()
    ]
    # Where the signed audit anchor (count, head id and hash) is kept; default <instance>/audit-anchor.json.
    AUDIT_ANCHOR_PATH = _env("AUDIT_ANCHOR_PATH")


class DevelopmentConfig(Config):
    DEBUG = True


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    LOG_FORMAT = _env("LOG_FORMAT", "json")
    # A database error's text then leaves out its statement's parameters (patients' details).
    SQLALCHEMY_ENGINE_OPTIONS: dict = {**Config.SQLALCHEMY_ENGINE_OPTIONS, "hide_parameters": True}
    # In production admins need a second factor unless CLINIC_REQUIRE_ADMIN_MFA=0 says otherwise.
    REQUIRE_ADMIN_MFA = _flag("REQUIRE_ADMIN_MFA", True)
    HSTS_SECONDS = int(_env("HSTS_SECONDS", str(365 * 24 * 3600)))


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


def config_name() -> str:
    """Which config class to use, from CLINIC_ENV (development, testing or production)."""
    return _env("ENV", "development")
