"""What production refuses to start with: every unsafe setting, named at once so one restart fixes all."""

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

import config as settings
from setting_kinds import comma_separated

from .meetings.base import configuration_problem

MIN_SECRET_KEY_BYTES = 32
AUDIT_KEY_USE = "it keys the audit chain, which anyone able to write to the database could otherwise rewrite"
MANAGE_KEYS_USE = "they make the patients' manage links; several, comma separated, while one is rotated"
PUBLIC_JITSI_HOST = "meet.jit.si"


class UnsafeProductionConfig(settings.InvalidSettings):
    """Production settings that would put patients or their data at risk; the message lists each one."""

    heading = "refusing to start in production"


def problems(config: Mapping[str, Any]) -> list[str]:
    """Every reason these settings are unsafe in production, in words that name the setting to fix."""
    return [
        *_secret_problems(config),
        *_database_problems(config),
        *_mail_problems(config),
        *_link_problems(config),
        *_provider_problems(config),
    ]


def _database_problems(config: Mapping[str, Any]) -> list[str]:
    sqlite = make_url(config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "sqlite"
    if sqlite and not config["ALLOW_SQLITE"]:
        return [
            "CLINIC_DATABASE_URL is SQLite: use PostgreSQL (several web processes and workers), "
            "or set CLINIC_ALLOW_SQLITE=true for a single machine"
        ]
    return []


def _secret_problems(config: Mapping[str, Any]) -> list[str]:
    found = [
        problem
        for problem in (
            _key_problem("CLINIC_SECRET_KEY", config["SECRET_KEY"], "it signs sessions and forms"),
            _key_list_problem("CLINIC_MANAGE_TOKEN_KEY", config["MANAGE_TOKEN_KEY"], MANAGE_KEYS_USE),
            _key_problem("CLINIC_AUDIT_KEY", config["AUDIT_KEY"], AUDIT_KEY_USE),
        )
        if problem
    ]
    if _short(config["SECRET_KEY_FALLBACKS"]):
        found.append(
            f"CLINIC_SECRET_KEY_FALLBACKS: each former key must be at least {MIN_SECRET_KEY_BYTES} bytes, "
            "or it signs sessions anyone could forge"
        )
    if _short(config["AUDIT_KEY_FALLBACKS"]):
        found.append(
            f"CLINIC_AUDIT_KEY_FALLBACKS: each former audit key must be at least {MIN_SECRET_KEY_BYTES} "
            "bytes, or the events it signed could be rewritten by anyone who guesses it"
        )
    if not config["NOTES_KEY"]:
        found.append(
            "CLINIC_NOTES_KEY must be set: consultation notes are encrypted with it "
            "(one or more Fernet keys, comma separated; see the README)"
        )
    return found


def _key_problem(setting: str, key: str | None, use: str) -> str | None:
    """What is wrong with this secret key, if anything, in words that say which: unset, the development
    default or too short (its length only: the key is never repeated)."""
    wanted = f"a random value of at least {MIN_SECRET_KEY_BYTES} bytes"
    if not key:
        return f"{setting} is not set: set {wanted} ({use})"
    if key == settings.DEFAULT_SECRET_KEY:
        return f"{setting} is the development default: set {wanted} ({use})"
    if len(key.encode()) < MIN_SECRET_KEY_BYTES:
        return f"{setting} is {len(key.encode())} bytes long: it must be {wanted} ({use})"
    return None


def _key_list_problem(setting: str, keys: str | None, use: str) -> str | None:
    """What is wrong with a comma-separated list of secret keys: none given, or the first wrong key."""
    listed = comma_separated(keys)
    if not listed:
        return _key_problem(setting, None, use)
    return next(filter(None, (_key_problem(f"a key of {setting}", key, use) for key in listed)), None)


def _short(keys: list[str]) -> bool:
    return any(len(key.encode()) < MIN_SECRET_KEY_BYTES for key in keys or ())


def _mail_problems(config: Mapping[str, Any]) -> list[str]:
    if config["MAIL_BACKEND"] == "file":
        return ["CLINIC_MAIL_BACKEND must be smtp: mail written to files reaches nobody"]
    if config["SMTP_TLS"] == "none" and not _is_local(config["SMTP_HOST"]):
        return [
            f"CLINIC_SMTP_TLS is none to {config['SMTP_HOST']}: use starttls or ssl, "
            "or relay through a local server"
        ]
    return []


def _link_problems(config: Mapping[str, Any]) -> list[str]:
    url = config["PUBLIC_BASE_URL"]
    if url.rstrip("/") == settings.DEFAULT_PUBLIC_BASE_URL:
        return [
            f"CLINIC_PUBLIC_BASE_URL is not set (the default is {settings.DEFAULT_PUBLIC_BASE_URL}): every "
            "manage and join link mailed to patients would point at their own computer; set the address "
            "patients open, e.g. https://clinic.hospital.example"
        ]
    if urlsplit(url).scheme != "https" and not config["ALLOW_HTTP_LINKS"]:
        return [
            f"CLINIC_PUBLIC_BASE_URL is plain http ({url}): the links mailed to patients would travel "
            "with their tokens unencrypted; use https, or set CLINIC_ALLOW_HTTP_LINKS=true"
        ]
    return []


def _provider_problems(config: Mapping[str, Any]) -> list[str]:
    found = []
    for setting in ("MEETING_PROVIDER", "MEETING_FALLBACK_PROVIDER"):
        name = config[setting]
        if not name or (setting != "MEETING_PROVIDER" and name == config["MEETING_PROVIDER"]):
            continue  # no fallback; or said once is enough
        problem = configuration_problem(name, config)
        if problem:
            found.append(f"CLINIC_{setting} is {name}: {problem}")
        elif name == "jitsi" and _public_jitsi_without_jwt(config):
            found.append(
                f"CLINIC_{setting} is jitsi on the public {PUBLIC_JITSI_HOST} without JWT, where anyone "
                "with the patient's link can host: use your own server or JaaS with CLINIC_JITSI_APP_ID "
                "and CLINIC_JITSI_APP_SECRET, or set CLINIC_ALLOW_PUBLIC_JITSI=true"
            )
    return found


def _public_jitsi_without_jwt(config: Mapping[str, Any]) -> bool:
    public = urlsplit(config["JITSI_BASE_URL"]).hostname == PUBLIC_JITSI_HOST
    return public and not config["JITSI_APP_SECRET"] and not config["ALLOW_PUBLIC_JITSI"]


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
