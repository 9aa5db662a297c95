"""What production refuses of its secrets: one unset where it is needed, too short for its use, of too
little variety to be random, or the same value given for two uses (one leaked would open both). Each
refusal names the setting and says how to make a good value; it never repeats the value, nor its length
beyond a short one's."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import combinations
from typing import Any

import config as settings
from setting_kinds import comma_separated

MIN_KEY_BYTES = 32
# Fewer different characters than this is no random value: 32 random url-safe or hex characters show far
# more (all but never under 10), where "aaaa…" shows 1 and "abab…" 2.
MIN_DIFFERENT_CHARACTERS = 8
MAKE_KEY = '`python -c "import secrets; print(secrets.token_urlsafe(48))"`'
MAKE_FERNET_KEY = (
    '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`'
)
RANDOM_KEY = f"set a random value of at least {MIN_KEY_BYTES} bytes"


@dataclass(frozen=True)
class Secret:
    """A secret setting: `use` is what it keys, shared by a setting and its former keys (the same value in
    both is a rotation, not a reuse); `least` its shortest length in bytes, None for a value another party
    issues or whose kind fixes its form. `checked` false: only its reuse is refused (a relay's password)."""

    key: str  # its key in the app config, and the <name> of CLINIC_<name>
    use: str
    advice: str  # what to set instead, and why
    required: bool = False
    listed: bool = False  # several keys, comma separated: the first in use, the others former ones
    least: int | None = MIN_KEY_BYTES
    checked: bool = True

    @property
    def variable(self) -> str:
        return f"CLINIC_{self.key}"


def _ours(why: str) -> str:
    return f"{RANDOM_KEY} ({why}): make one with {MAKE_KEY}"


def _issued(issuer: str) -> str:
    return f"copy the client secret {issuer} issued, as it issued it"


SECRETS = (
    Secret("SECRET_KEY", "sessions", _ours("it signs sessions and forms"), required=True),
    Secret("SECRET_KEY_FALLBACKS", "sessions", _ours("sessions it signed stay valid"), listed=True),
    Secret(
        "MANAGE_TOKEN_KEY",
        "links",
        _ours("they make the patients' manage links; several, comma separated, while one is rotated"),
        required=True,
        listed=True,
    ),
    Secret(
        "AUDIT_KEY",
        "audit",
        _ours("it keys the audit chain, which anyone able to write to the database could otherwise rewrite"),
        required=True,
    ),
    Secret(
        "AUDIT_KEY_FALLBACKS",
        "audit",
        _ours("the events it signed could be rewritten by anyone who guesses it"),
        listed=True,
    ),
    Secret(
        "NOTES_KEY",
        "notes",
        "set one or more Fernet keys, comma separated (consultation notes are encrypted with them): "
        f"make one with {MAKE_FERNET_KEY}",
        required=True,
        listed=True,
        least=None,
    ),
    Secret("JITSI_APP_SECRET", "jitsi", _ours("it signs the tokens that let a Jitsi room be hosted")),
    Secret("WEBHOOK_SECRET", "webhook", _ours("it signs the requests to the hospital's meeting service")),
    Secret("READYZ_TOKEN", "readyz", _ours("it shows /readyz's figures")),
    Secret("TEAMS_CLIENT_SECRET", "teams", _issued("Microsoft Entra"), least=None),
    Secret("ZOOM_CLIENT_SECRET", "zoom", _issued("Zoom"), least=None),
    Secret("SMTP_PASSWORD", "smtp", "set the relay's own password", least=None, checked=False),
)


def checks() -> list[Callable[[Mapping[str, Any]], list[str]]]:
    """Production's checks of its secrets, each secret's apart (one its kind refused is left out alone),
    then their reuse."""
    return [*(partial(_secret_problems, secret) for secret in SECRETS if secret.checked), _reuse_problems]


def _secret_problems(secret: Secret, config: Mapping[str, Any]) -> list[str]:
    """What is wrong with this secret, if anything: unset where needed, or its first weak key."""
    keys = _keys(secret, config)
    if not keys:
        return [f"{secret.variable} is not set: {secret.advice}"] if secret.required else []
    for place, key in enumerate(keys, start=1):
        fault = _fault(secret, key)
        if fault:
            subject = f"key {place} of {secret.variable}" if secret.listed else secret.variable
            return [f"{subject} {fault}: {secret.advice}"]
    return []


def _fault(secret: Secret, key: str) -> str | None:
    """Why `key` is no good value of `secret`, in words that never hold it."""
    if key == settings.DEFAULT_SECRET_KEY:
        return "is the development default"
    size = len(key.encode())
    if secret.least is not None and size < secret.least:
        return f"is {size} byte{'s' if size > 1 else ''} long"
    different = len(set(key))
    if different < MIN_DIFFERENT_CHARACTERS:
        return f"has only {different} different character{'s' if different > 1 else ''}"
    if (key + key).find(key, 1) < len(key):  # found again before its own length: a piece repeated
        return "is a short piece repeated"
    return None


def _reuse_problems(config: Mapping[str, Any]) -> list[str]:
    """Each pair of secrets of different uses that share a value: named by the later one (the earlier
    is the one the README asks for first), with how to make a value of its own."""
    keys = {}
    for secret in SECRETS:
        try:
            keys[secret] = set(_keys(secret, config))
        except settings.UnreadSetting:
            continue  # refused by its kind, and named so already
    return [
        f"{later.variable} holds the same value as {earlier.variable}: each use needs a value of its own, "
        f"or one leaked opens both; {(earlier if later.least is None else later).advice}"
        for earlier, later in combinations(keys, 2)
        if earlier.use != later.use and keys[earlier] & keys[later]
    ]


def _keys(secret: Secret, config: Mapping[str, Any]) -> list[str]:
    """The secret's keys as given: several where it lists them, else its one value (any character,
    commas too, being its own)."""
    value = config[secret.key]
    if not secret.listed:
        return [value] if value else []
    return list(value) if isinstance(value, list | tuple) else comma_separated(value)
