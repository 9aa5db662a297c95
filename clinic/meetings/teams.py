"""Microsoft Teams through Microsoft Graph online meetings, with an app-only (client-credentials) token.

Meetings belong to one organizer account (`TEAMS_ORGANIZER_ID`, an Entra object id, which needs a
Teams application access policy). The `externalId` is `meeting_key` (the consultation's uuid, another
key for a meeting that replaces one) and the clinician's id, so a retried create returns the meeting
made the first time instead of a second one, but not one made for the clinician the consultation was
handed from while the first try's answer was lost: that one names the other clinician co-organizer.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import Meeting, answered_meeting, format_utc, meeting_key, meeting_subject, require
from .http import BearerClient, Timeouts

_REQUIRED = ("TEAMS_TENANT_ID", "TEAMS_CLIENT_ID", "TEAMS_CLIENT_SECRET", "TEAMS_ORGANIZER_ID")
_FIELDS = ("id", "joinWebUrl")


@dataclass(frozen=True)
class TeamsSettings:
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    organizer_id: str
    authority_url: str
    graph_url: str
    timeouts: Timeouts

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> "TeamsSettings":
        require(settings, _REQUIRED)
        return cls(
            *(settings[name] for name in _REQUIRED),
            authority_url=settings["TEAMS_AUTHORITY_URL"],
            graph_url=settings["GRAPH_BASE_URL"],
            timeouts=Timeouts.from_mapping(settings),
        )


class TeamsProvider:
    """Patients wait in the lobby; the organizer and the clinician (a co-organizer) let them in."""

    name = "teams"
    settings_type = TeamsSettings
    # The clinician is made co-organizer when the meeting is made; an update moves only its time.
    host_set_at_creation = True

    def __init__(self, settings: TeamsSettings) -> None:
        self._api = BearerClient(
            f"{settings.authority_url.rstrip('/')}/{settings.tenant_id}/oauth2/v2.0/token",
            {
                "data": {
                    "grant_type": "client_credentials",
                    "client_id": settings.client_id,
                    "client_secret": settings.client_secret,
                    "scope": "https://graph.microsoft.com/.default",
                }
            },
            settings.timeouts,
            # Graph accepts the "coorganizer" role only from clients that say they know newer enum values.
            headers={"Prefer": "include-unknown-enum-members"},
        )
        self._meetings_url = f"{settings.graph_url.rstrip('/')}/users/{settings.organizer_id}/onlineMeetings"

    def create(self, consultation: Any, *, retry: bool = False) -> Meeting:
        """createOrGet keyed by `meeting_key`: a retry gets the meeting made the first time, and a new room
        for the call a new meeting, not the one it replaces."""
        body = {
            **_keyed(consultation, meeting_key(consultation), consultation.clinician_id),
            "participants": {"attendees": [{"upn": consultation.clinician.email, "role": "coorganizer"}]},
        }
        return self._create_or_get(body)

    def cancel_unheard(self, consultation: Any, key: str, clinician_id: int) -> None:
        """Delete the meeting a create keyed `key` for `clinician_id` made unheard. Graph finds an online
        meeting by its externalId only through createOrGet (its list filters by join URL or meeting id):
        ask for it so, which makes one if that create never arrived, and delete what it answers."""
        self.cancel(consultation, self._create_or_get(_keyed(consultation, key, clinician_id)))

    def _create_or_get(self, body: Mapping[str, Any]) -> Meeting:
        return self._meeting(
            self._api.request("POST", f"{self._meetings_url}/createOrGet", json=body, expect=_FIELDS)
        )

    def update(self, consultation: Any, meeting: Meeting) -> Meeting:
        """Move the meeting; Graph changes the time only when given both start and end."""
        url = f"{self._meetings_url}/{meeting.external_id}"
        return self._meeting(self._api.request("PATCH", url, json=_times(consultation), expect=_FIELDS))

    def cancel(self, consultation: Any, meeting: Meeting) -> None:
        """Delete the meeting; one already gone counts as cancelled."""
        self._api.request("DELETE", f"{self._meetings_url}/{meeting.external_id}", missing_ok=True)

    def _meeting(self, data: Mapping[str, Any]) -> Meeting:
        # Teams has no separate host link: the organizer's identity makes them the host.
        return answered_meeting(self.name, data["joinWebUrl"], data["joinWebUrl"], data["id"])


def _keyed(consultation: Any, key: str, clinician_id: int) -> dict[str, Any]:
    """A createOrGet's body but its co-organizer: the externalId names the clinician the meeting is for."""
    return {
        "externalId": f"{key}.c{clinician_id}",
        "subject": meeting_subject(consultation),
        **_times(consultation),
        "lobbyBypassSettings": {"scope": "organizer", "isDialInBypassEnabled": False},
    }


def _times(consultation: Any) -> dict[str, str]:
    return {
        "startDateTime": format_utc(consultation.starts_at),
        "endDateTime": format_utc(consultation.ends_at),
    }
