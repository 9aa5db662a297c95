"""What production refuses to start with: every unsafe setting, named at once so one restart fixes all;
and what it starts with but warns of, a choice that weakens it."""

import ast
import ipaddress
from collections.abc import Collection, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

import config as settings

from . import production_secrets
from .meetings.base import configuration_problem

PUBLIC_JITSI_HOST = "meet.jit.si"


class UnsafeProductionConfig(settings.InvalidSettings):
    """Production settings that would put patients or their data at risk; the message lists each one."""

    heading = "refusing to start in production"


def problems(config: Mapping[str, Any], unread: Collection[str] = ()) -> list[str]:
    """Every reason these settings are unsafe in production, in words that name the setting to fix. The
    settings `unread` (refused by their kinds, and named so) are not what their checks can read: each
    check that reads one is left out, every other one made, so that one restart fixes all."""
    readable = settings.ReadSettings(config, unread)
    found = []
    for check in (*production_secrets.checks(), *_CHECKS):
        try:
            found += check(readable)
        except settings.UnreadSetting:
            continue
    return found


def warnings(config: Mapping[str, Any]) -> list[str]:
    """What production starts with but should be told of: a choice a hospital may make, each weakening it."""
    found = []
    if not config["REQUIRE_ADMIN_MFA"]:
        found.append(
            "CLINIC_REQUIRE_ADMIN_MFA is off: admins sign in with a password alone, and an admin's password "
            "then opens every admin page; set it to 1 unless the hospital has decided otherwise"
        )
    if not config["RATELIMIT_ENABLED"]:
        found.append("CLINIC_RATELIMIT_ENABLED is false: nothing limits how often a client books or searches")
    elif config["RATELIMIT_STORAGE_URL"].startswith("memory://"):
        found.append(
            "CLINIC_RATELIMIT_STORAGE_URL is memory://: request limits are counted in each process, so every "
            "gunicorn worker allows the whole limit; set it to a Redis URL (redis://host:6379/0)"
        )
    return found + _wait_warnings(config)


def _wait_warnings(config: Mapping[str, Any]) -> list[str]:
    """A wait at or past gunicorn's worker timeout: the request waiting is killed with its worker, where it
    would have been answered 503 "try again"."""
    timeout = gunicorn_timeout()
    return [
        f"CLINIC_{name} is {config[name]:g} seconds, not under gunicorn's worker timeout ({timeout:g} s, "
        f"{GUNICORN_CONF.name}): a request still waiting then is killed with its worker, where it would be "
        f"answered 503 'try again'; keep it well under (the default is {settings.defaults()[name]:g})"
        for name in ("DATABASE_LOCK_WAIT", "DATABASE_CONNECT_TIMEOUT")
        if timeout is not None and config[name] >= timeout
    ]


GUNICORN_CONF = Path(settings.__file__).with_name("gunicorn.conf.py")


@cache
def gunicorn_timeout() -> float | None:
    """gunicorn.conf.py's worker `timeout`, read from the file as text (the app does not run it: it is
    gunicorn's), or None where it gives none as a number. A --timeout on gunicorn's command line is not
    seen."""
    try:
        tree = ast.parse(GUNICORN_CONF.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and [ast.unparse(target) for target in node.targets] == ["timeout"]:
            value = node.value.value if isinstance(node.value, ast.Constant) else None
            return value if isinstance(value, int | float) else None
    return None


def _database_problems(config: Mapping[str, Any]) -> list[str]:
    sqlite = make_url(config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "sqlite"
    if sqlite and not config["ALLOW_SQLITE"]:
        return [
            "CLINIC_DATABASE_URL is SQLite: use PostgreSQL (several web processes and workers), "
            "or set CLINIC_ALLOW_SQLITE=true for a single machine"
        ]
    return []


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


_CHECKS = (_database_problems, _mail_problems, _link_problems, _provider_problems)


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
