"""The effective configuration as an admin may see it: every setting config.py declares, secrets redacted.

A setting is secret by its name (KEY, SECRET, PASSWORD, TOKEN, ...): shown only as "set" or "not set".
A URL shows its host but not its password or a secret query parameter. As a last guard, any other value
that contains a secret's text is hidden too (a password pasted into the wrong setting).
"""

import inspect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import config as settings

SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE", re.IGNORECASE)
SET, NOT_SET, HIDDEN = "set", "not set", "hidden: contains a secret"
_PASSWORD_SHOWN = "(password set)"
_SHORTEST_SECRET = 4  # shorter texts ("1", "on") would hide innocent values by chance


@dataclass(frozen=True)
class Setting:
    name: str
    shown: str  # what the page prints: the value, or "set" / "not set" for a secret
    secret: bool
    about: str  # its comment in config.py


def declared_names() -> list[str]:
    """Every setting config.py declares, in any of its config classes, by name."""
    return sorted(settings.setting_names())


def effective_settings(config: Mapping[str, Any], names: Iterable[str] | None = None) -> list[Setting]:
    """Each of `names` (every declared setting by default) with its value in `config`, made safe to show."""
    names = list(declared_names() if names is None else names)
    secrets = [text for name in names if is_secret_name(name) for text in _texts(config.get(name))]
    about = descriptions()
    return [_setting(name, config.get(name), secrets, about.get(name, "")) for name in names]


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def descriptions() -> dict[str, str]:
    """Each setting's comment in config.py (the lines just above it), by name."""
    found, comment = {}, []
    for line in inspect.getsource(settings).splitlines():
        text = line.strip()
        if text.startswith("#"):
            comment.append(text.lstrip("# "))
        elif match := re.match(r"([A-Z][A-Z0-9_]*)\s*(?::[^=]+)?=", text):
            found.setdefault(match[1], " ".join(comment))
            comment = []
        else:
            comment = []
    return found


def _setting(name: str, value: Any, secrets: list[str], about: str) -> Setting:
    if is_secret_name(name):
        return Setting(name, SET if value not in (None, "", [], ()) else NOT_SET, True, about)
    shown = _shown(value)
    if any(secret in shown for secret in secrets):
        return Setting(name, HIDDEN, True, about)
    return Setting(name, shown, False, about)


def _shown(value: Any) -> str:
    if value is None:
        return NOT_SET
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _redacted_url(value)
    if isinstance(value, Mapping):
        parts = (f"{key}: {SET if is_secret_name(str(key)) else _shown(item)}" for key, item in value.items())
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    return str(value)


def _redacted_url(text: str) -> str:
    """`text` with a URL's password and secret query parameters replaced; other text unchanged."""
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        password, username, host = parts.password, parts.username, parts.netloc.rpartition("@")[2]
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:  # not a URL after all, or a malformed one: say only whether it is there
        return SET
    netloc = parts.netloc
    if password is not None:
        netloc = f"{username or ''}:{_PASSWORD_SHOWN}@{host}"
    if any(is_secret_name(key) for key, _ in query):
        query = [(key, SET if is_secret_name(key) else value) for key, value in query]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="()")))


def _texts(value: Any) -> list[str]:
    """The secret texts in a secret setting's value: the value, each item and each comma-separated part."""
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list | tuple | set | frozenset):
        return [text for item in value for text in _texts(item)]
    text = str(value)
    pieces = [text, *(part.strip() for part in text.split(","))]
    return [piece for piece in pieces if len(piece) >= _SHORTEST_SECRET]
