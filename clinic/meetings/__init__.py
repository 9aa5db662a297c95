"""Video meetings for consultations, through one small interface and an adapter per provider."""

from .base import (
    PROVIDER_NAMES,
    Meeting,
    MeetingProvider,
    ProviderAuthError,
    ProviderError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    RetiresUnheard,
    get_provider,
    host_link_now,
    host_links_expire,
    may_have_made,
    meeting_key,
    replaces_meeting_for_new_host,
)

__all__ = [
    "PROVIDER_NAMES",
    "Meeting",
    "MeetingProvider",
    "ProviderAuthError",
    "ProviderError",
    "ProviderNotConfigured",
    "ProviderRateLimited",
    "ProviderRejected",
    "ProviderUnavailable",
    "RetiresUnheard",
    "get_provider",
    "host_link_now",
    "host_links_expire",
    "may_have_made",
    "meeting_key",
    "replaces_meeting_for_new_host",
]
