"""Zoom meetings through a Server-to-Server OAuth app.

Zoom gives no refresh token: the adapter asks for a new access token (valid an hour) when the old
one expires or is refused. Meetings are hosted by `ZOOM_USER_ID` ("me": the app's own user).
"""

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .base import Meeting, answered_meeting, format_utc, meeting_subject, require
from .http import BearerClient, Timeouts

_REQUIRED = ("ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET")
_FIELDS = ("id", "join_url", "start_url")
_PAGE_SIZE = 300  # Zoom's largest page


@dataclass(frozen=True)
class ZoomSettings:
    account_id: str
    client_id: str
    client_secret: str = field(repr=False)
    user_id: str
    oauth_url: str
    api_url: str
    timeouts: Timeouts

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> "ZoomSettings":
        require(settings, _REQUIRED)
        return cls(
            *(settings[name] for name in _REQUIRED),
            user_id=settings["ZOOM_USER_ID"],
            oauth_url=settings["ZOOM_OAUTH_URL"],
            api_url=settings["ZOOM_API_BASE_URL"].rstrip("/"),
            timeouts=Timeouts.from_mapping(settings),
        )


class ZoomProvider:
    """Scheduled meetings with a waiting room; the host starts them from `start_url`."""

    name = "zoom"
    settings_type = ZoomSettings

    def __init__(self, settings: ZoomSettings) -> None:
        self._api = BearerClient(
            settings.oauth_url,
            {
                "params": {"grant_type": "account_credentials", "account_id": settings.account_id},
                "auth": (settings.client_id, settings.client_secret),
            },
            settings.timeouts,
        )
        self._api_url = settings.api_url
        self._user_id = settings.user_id

    def create(self, consultation: Any, *, retry: bool = False) -> Meeting:
        """A scheduled meeting (type 2) the patient cannot enter before the host.

        Zoom has no idempotency key: a create whose response was lost made a meeting we never heard
        of. So a retry first looks among the host's scheduled meetings for this consultation's title,
        keeps the oldest and deletes any others, and only creates one if there is none.
        """
        if retry and (earlier := self._made_earlier(consultation)):
            return earlier
        body = {
            "topic": meeting_subject(consultation),
            "type": 2,
            **_schedule(consultation),
            "settings": {"waiting_room": True, "join_before_host": False},
        }
        url = f"{self._api_url}/users/{self._user_id}/meetings"
        return self._meeting(self._api.request("POST", url, json=body, expect=_FIELDS))

    def update(self, consultation: Any, meeting: Meeting) -> Meeting:
        """Move the meeting; Zoom answers 204 and keeps its links, so the meeting is returned as it was."""
        self._api.request(
            "PATCH", f"{self._api_url}/meetings/{meeting.external_id}", json=_schedule(consultation)
        )
        return meeting

    def host_link(self, consultation: Any, meeting: Meeting) -> str:
        """The meeting's start_url as Zoom issues it now (see base.RenewsHostLink): the one it was made with
        expires two hours after, so it rarely still starts the meeting on the day."""
        url = f"{self._api_url}/meetings/{meeting.external_id}"
        return self._meeting(self._api.request("GET", url, expect=_FIELDS)).host_url

    def cancel(self, consultation: Any, meeting: Meeting) -> None:
        """Delete the meeting; one already gone counts as cancelled."""
        self._delete(meeting.external_id)

    def _made_earlier(self, consultation: Any) -> Meeting | None:
        subject = meeting_subject(consultation)
        ids = sorted(int(m["id"]) for m in self._scheduled() if m.get("topic") == subject)
        if not ids:
            return None
        keep, *extra = ids
        for meeting_id in extra:
            self._delete(str(meeting_id))
        # The listing leaves out the host's start_url: ask for the meeting itself.
        return self._meeting(self._api.request("GET", f"{self._api_url}/meetings/{keep}", expect=_FIELDS))

    def _scheduled(self) -> Iterator[dict[str, Any]]:
        """The host's meetings to come, live, or past but not expired: "upcoming" leaves out one whose start
        has passed though nobody started it, as a walk-in call's has by the retry of its create."""
        query = {"type": "scheduled", "page_size": _PAGE_SIZE}
        while True:
            url = f"{self._api_url}/users/{self._user_id}/meetings?{urlencode(query)}"
            page = self._api.request("GET", url, expect=("meetings",))
            yield from page["meetings"]
            if not page.get("next_page_token"):
                return
            query["next_page_token"] = page["next_page_token"]

    def _delete(self, meeting_id: str) -> None:
        self._api.request("DELETE", f"{self._api_url}/meetings/{meeting_id}", missing_ok=True)

    def _meeting(self, data: Mapping[str, Any]) -> Meeting:
        return answered_meeting(self.name, data["join_url"], data["start_url"], data["id"])


def _schedule(consultation: Any) -> dict[str, Any]:
    minutes = math.ceil((consultation.ends_at - consultation.starts_at).total_seconds() / 60)
    return {"start_time": format_utc(consultation.starts_at), "duration": minutes}
