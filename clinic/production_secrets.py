"""What production refuses of its secrets: one unset where it is needed, too short for its use, of too
little variety to be random, or the same value given for two uses (one leaked would open both). Each
refusal names the setting and says how to make a good value; it never repeats the value, nor its length
beyond a short one's. The passwords inside the database's and Redis's URLs count among the secrets for
reuse."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import combinations
from typing import Any
from urllib.parse import unquote, urlsplit

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
    issues or whose kind fixes its form. `checked` false: only its reuse is refused (a relay's password).
    `url_key`: the config key of a URL whose password the secret is (the database's)."""

    key: str  # its key in the app config, and the <name> of CLINIC_<name>
    use: str
    advice: str  # what to set instead, and why
    required: bool = False
    listed: bool = False  # several keys, comma separated: the first in use, the others former ones
    least: int | None = MIN_KEY_BYTES
    checked: bool = True
    url_key: str | None = None

    @property
    def variable(self) -> str:
        return f"CLINIC_{self.key}"

    @property
    def named(self) -> str:
        """The secret as a refusal names it: its setting, or the password in its URL."""
        return f"the password in {self.variable}" if self.url_key else self.variable


def _ours(why: str) -> str:
    return f"{RANDOM_KEY} ({why}): make one with {MAKE_KEY}"


def _former(current: str, what: str, weak: str) -> str:
    """A fallback's advice: a value made up for it keeps nothing valid, so what it needs is the old key."""
    return f"list only former values of CLINIC_{current}, which {what}, and remove any other; {weak}"


def _issued(issuer: str) -> str:
    return f"copy the client secret {issuer} issued, as it issued it"


SECRETS = (
    Secret("SECRET_KEY", "sessions", _ours("it signs sessions and forms"), required=True),
    Secret(
        "SECRET_KEY_FALLBACKS",
        "sessions",
        _former(
            "SECRET_KEY",
            "keep the sessions they signed valid while it is rotated",
            "remove a weak one once those sessions have ended",
        ),
        listed=True,
    ),
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
        _former(
            "AUDIT_KEY",
            "verify the events they signed",
            "a weak one lets anyone who guesses it rewrite its events: remove it and declare it lost "
            '("Rotating keys" in docs/operations.md)',
        ),
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
    Secret(
        "DATABASE_URL",
        "database",
        "give Clinic's database role a password of its own",
        least=None,
        checked=False,
        url_key="SQLALCHEMY_DATABASE_URI",
    ),
    Secret(
        "RATELIMIT_STORAGE_URL",
        "ratelimit",
        "give Redis a password of its own (requirepass, or an ACL user's)",
        least=None,
        checked=False,
        url_key="RATELIMIT_STORAGE_URL",
    ),
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
    """Each pair of secrets of different uses that share a value, both named (either may be the one the
    value was copied into), with how to make each a value of its own."""
    keys = {}
    for secret in SECRETS:
        try:
            keys[secret] = set(_keys(secret, config))
        except settings.UnreadSetting:
            continue  # refused by its kind, and named so already
    return [_reused(first, second) for first, second in combinations(keys, 2) if _share(keys, first, second)]


def _share(keys: Mapping[Secret, set[str]], first: Secret, second: Secret) -> bool:
    return first.use != second.use and bool(keys[first] & keys[second])


def _reused(first: Secret, second: Secret) -> str:
    said = (
        f"{first.named} and {second.named} hold the same value, and one leaked would open both: keep it in "
        f"the one it was made for and replace it in the one it was copied into "
        f"({first.named}: {first.advice}; {second.named}: {second.advice})"
    )
    return said[0].upper() + said[1:]


def _keys(secret: Secret, config: Mapping[str, Any]) -> list[str]:
    """The secret's keys as given: several where it lists them, else its one value (any character,
    commas too, being its own); for one in a URL, its password, if it has one."""
    if secret.url_key:
        return _url_password(config[secret.url_key])
    value = config[secret.key]
    if not secret.listed:
        return [value] if value else []
    return list(value) if isinstance(value, list | tuple) else comma_separated(value)


def _url_password(url: str) -> list[str]:
    """The password in `url`, as the server reads it (percent-escapes undone), if it holds one."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return []  # no URL to read: its kind's check names it
    return [unquote(password)] if password else []
