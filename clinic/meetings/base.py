"""What every video provider offers: the `Meeting` it returns, the errors it raises, and the registry.

Adapters are plain Python built from a settings mapping (the app config), so the worker, the
admin "test provider" button and the tests all build them the same way, without Flask.
"""

import functools
import importlib
import logging
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Meeting:
    """Where the patient joins, where the clinician starts, and the provider's id to change it later."""

    provider: str
    join_url: str
    host_url: str | None
    external_id: str


class MeetingProvider(Protocol):
    """Creates, moves and cancels the meeting for one consultation; update and cancel are safe to repeat."""

    name: str

    def create(self, consultation: Any, *, retry: bool = False) -> Meeting:
        """A meeting for the consultation; `retry` says an earlier attempt may have made one unheard."""

    def update(self, consultation: Any, meeting: Meeting) -> Meeting: ...

    def cancel(self, consultation: Any, meeting: Meeting) -> None: ...


@runtime_checkable
class Probed(Protocol):
    """A provider with no meeting API to call (Jitsi): making and cancelling a meeting there checks nothing,
    so the admin's test of it probes what can be checked instead."""

    def probe(self, consultation: Any) -> list[str]:
        """What was checked, one sentence each for the admin; ProviderError saying what failed."""


@runtime_checkable
class RetiresUnheard(Protocol):
    """A provider whose create is keyed by the clinician too (Teams): a create whose answer was lost before
    the consultation was handed over made a meeting that the retry, for the new clinician, does not find."""

    def cancel_unheard(self, consultation: Any, key: str, clinician_id: int) -> None:
        """Cancel the meeting a create keyed `key` (`meeting_key`) for `clinician_id` may have made."""


@runtime_checkable
class RenewsHostLink(Protocol):
    """A provider whose host links expire (Zoom's start_url carries a ZAK valid two hours from its issue): the
    one a meeting was made with no longer starts it on the day, so the clinician is given one issued now."""

    def host_link(self, consultation: Any, meeting: Meeting) -> str:
        """A host link for `meeting` issued now; ProviderError if the provider cannot give one."""


class ProviderError(Exception):
    """A provider call failed; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProviderUnavailable(ProviderError):
    """Temporary: 5xx, timeout or connection error. Retry, no sooner than `retry_after` seconds if set."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ProviderRateLimited(ProviderUnavailable):
    """429: the provider asked us to slow down, for `retry_after` seconds when it said so."""


def may_have_made(error: ProviderError) -> bool:
    """Whether a create that failed with `error` may have made its meeting all the same: one that got no
    answer, or no usable one (timed out, cut off, a 5xx, an answer without a link). A 429 or another refusal
    made nothing."""
    return isinstance(error, ProviderUnavailable) and not isinstance(error, ProviderRateLimited)


class ProviderAuthError(ProviderError):
    """Our credentials are refused even with a fresh token: an admin must fix the settings."""


class ProviderRejected(ProviderError):
    """The provider refused this request (4xx); retrying the same request cannot succeed."""


class ProviderNotConfigured(ProviderRejected):
    """A required setting is missing or the provider name is unknown."""


def answered_meeting(provider: str, join_url: object, host_url: object, external_id: object) -> Meeting:
    """The meeting a provider's API answered with; ProviderUnavailable if it cannot be used: a join link that
    is no web address (empty, none, or a path the patient's browser would look for on our own site) leaves
    them a button that leads nowhere, and a meeting stored is never asked for again. So it is retried, and
    then fallen back from, as any provider fault. Said without the values: a host link is a secret."""
    unusable = [
        what
        for what, usable in (
            ("join link", _web_address(join_url)),
            ("host link", host_url is None or _web_address(host_url)),
            ("meeting id", external_id is not None and str(external_id) != ""),
        )
        if not usable
    ]
    if unusable:
        raise ProviderUnavailable(f"{provider} answered with no usable {' or '.join(unusable)}")
    return Meeting(provider, str(join_url), None if host_url is None else str(host_url), str(external_id))


def _web_address(link: object) -> bool:
    parts = urlsplit(link) if isinstance(link, str) else None
    return parts is not None and parts.scheme in ("https", "http") and bool(parts.hostname)


def require(settings: Mapping[str, Any], names: Iterable[str]) -> None:
    """Raise ProviderNotConfigured naming every setting in `names` that is empty."""
    missing = [f"CLINIC_{name}" for name in names if not settings.get(name)]
    if missing:
        raise ProviderNotConfigured(f"missing settings: {', '.join(missing)}")


def meeting_subject(consultation: Any) -> str:
    """The only title a provider sees: no patient name, no reason for visit. A meeting that replaced
    another names its room, for Zoom finds a create whose answer was lost by its title."""
    replaced = consultation.meetings_replaced
    room = f" (room {replaced + 1})" if replaced else ""
    return f"Video consultation {consultation.reference}{room}"


def meeting_key(consultation: Any) -> str:
    """The key a repeated create is answered by the meeting made the first time (Teams' externalId, the
    webhook's `key`): the consultation's uuid, with a suffix for each meeting that replaced one."""
    replaced = consultation.meetings_replaced
    return f"{consultation.uuid}.{replaced}" if replaced else consultation.uuid


def format_utc(instant: datetime) -> str:
    """An aware instant as ISO 8601 in UTC with a `Z`, the form every provider accepts."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime given where an instant is required")
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Imported on first use: adapters import this module, and a hospital pays only for the one it uses.
_ADAPTERS = {
    "jitsi": "clinic.meetings.jitsi:JitsiProvider",
    "teams": "clinic.meetings.teams:TeamsProvider",
    "zoom": "clinic.meetings.zoom:ZoomProvider",
    "webhook": "clinic.meetings.webhook:WebhookProvider",
}
PROVIDER_NAMES = tuple(_ADAPTERS)


def get_provider(name: str, settings: Mapping[str, Any]) -> MeetingProvider:
    """The adapter called `name`, configured from `settings` (the app config).

    Equal settings give the same instance, so access tokens stay cached across calls.
    """
    if name not in _ADAPTERS:
        raise ProviderNotConfigured(
            f"unknown meeting provider {name!r}; choose one of {', '.join(PROVIDER_NAMES)}"
        )
    provider_type = _adapter(name)
    # Each adapter parses its own part of the config into a frozen, hashable settings object.
    return _shared(provider_type, provider_type.settings_type.from_mapping(settings))


def replaces_meeting_for_new_host(name: str) -> bool:
    """Whether a consultation handed to another clinician needs a new meeting at provider `name`: one that
    names the clinician only when it makes the meeting (`host_set_at_creation`) would leave the old one the
    host, and the new one without the right to let the patient in."""
    return name in _ADAPTERS and getattr(_adapter(name), "host_set_at_creation", False)


def host_link_now(consultation: Any, settings: Mapping[str, Any]) -> str | None:
    """The link the consultation's clinician starts its call with: one issued now by a provider whose host
    links expire (RenewsHostLink), else the stored one (the join link where the provider has no host link).
    While the provider cannot give one, the stored one, which may still work: never a dead end."""
    stored = consultation.meeting_host_url or consultation.meeting_join_url
    name = consultation.meeting_provider
    if not (stored and consultation.meeting_external_id and host_links_expire(name)):
        return stored
    meeting = Meeting(
        name, consultation.meeting_join_url, consultation.meeting_host_url, consultation.meeting_external_id
    )
    try:
        return get_provider(name, settings).host_link(consultation, meeting)
    except ProviderError as error:
        log.warning("host link not renewed at %s: %s %s", name, type(error).__name__, error.status)
        return stored


def host_links_expire(name: str | None) -> bool:
    """Whether provider `name`'s host links expire (RenewsHostLink): one mailed ahead would not start the call
    on the day, so the clinician is sent to the consultation's page, whose Start call asks for one then."""
    return name in _ADAPTERS and issubclass(_adapter(name), RenewsHostLink)


def is_probed(name: str) -> bool:
    """Whether provider `name` has no meeting API, so that the admin's test of it probes it (Probed)."""
    return name in _ADAPTERS and issubclass(_adapter(name), Probed)


def _adapter(name: str) -> type:
    module_name, class_name = _ADAPTERS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def configuration_problem(name: str, settings: Mapping[str, Any]) -> str | None:
    """Why provider `name` cannot run with `settings` (an unknown name, missing settings), or None."""
    try:
        get_provider(name, settings)
    except ProviderNotConfigured as error:
        return str(error)
    return None


@functools.lru_cache(maxsize=16)
def _shared(provider_type: type, settings: Hashable) -> MeetingProvider:
    return provider_type(settings)
