"""Jitsi Meet: no API to call, just an unguessable room on the hospital's Jitsi, with optional JWTs.

With `JITSI_APP_ID` and `JITSI_APP_SECRET` set (Prosody token auth, HS256), each link carries a
token limited to its room and to the consultation's time; only the clinician's marks a moderator.
"""

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt

from .base import Meeting, require

# Patients open the link early and consultations overrun; the token must not lock them out.
TOKEN_VALID_BEFORE_START = timedelta(minutes=30)
TOKEN_VALID_AFTER_END = timedelta(hours=2)
ROOM_BYTES = 20  # 160 bits


@dataclass(frozen=True)
class JitsiSettings:
    base_url: str
    app_id: str | None = None
    app_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> "JitsiSettings":
        app_id, app_secret = settings["JITSI_APP_ID"], settings["JITSI_APP_SECRET"]
        if app_id or app_secret:  # one without the other is a mistake, not "no tokens"
            require(settings, ("JITSI_APP_ID", "JITSI_APP_SECRET"))
        return cls(settings["JITSI_BASE_URL"].rstrip("/"), app_id or None, app_secret or None)


def new_room_name() -> str:
    """A fresh random room name: lowercase base32, because Jitsi lowercases room names."""
    return base64.b32encode(secrets.token_bytes(ROOM_BYTES)).decode().rstrip("=").lower()


class JitsiProvider:
    """Rooms exist once someone joins, so create only picks a name and update only re-issues tokens."""

    name = "jitsi"
    settings_type = JitsiSettings

    def __init__(self, settings: JitsiSettings) -> None:
        self.settings = settings

    def create(self, consultation: Any, *, retry: bool = False) -> Meeting:
        """A new room, never derived from the consultation: its name is the only key to it without JWT.

        A room exists only once someone joins, so a retry leaves nothing behind.
        """
        return self._meeting(consultation, new_room_name())

    def update(self, consultation: Any, meeting: Meeting) -> Meeting:
        """The same room, with tokens valid for the new time."""
        return self._meeting(consultation, meeting.external_id)

    def cancel(self, consultation: Any, meeting: Meeting) -> None:
        """Nothing to delete; issued tokens expire on their own."""

    def _meeting(self, consultation: Any, room: str) -> Meeting:
        room_url = f"{self.settings.base_url}/{room}"
        if self.settings.app_secret is None:
            return Meeting(self.name, join_url=room_url, host_url=room_url, external_id=room)
        return Meeting(
            self.name,
            join_url=f"{room_url}?jwt={self._token(consultation, room, host=False)}",
            host_url=f"{room_url}?jwt={self._token(consultation, room, host=True)}",
            external_id=room,
        )

    def _token(self, consultation: Any, room: str, *, host: bool) -> str:
        # The patient's token names nobody: the patient types a display name in the call if they wish.
        user: dict[str, Any] = {"moderator": host}
        if host:
            user |= {"name": consultation.clinician.display_name, "email": consultation.clinician.email}
        claims = {
            "iss": self.settings.app_id,
            "aud": "jitsi",
            "sub": urlsplit(self.settings.base_url).hostname,
            "room": room,
            "nbf": int((consultation.starts_at - TOKEN_VALID_BEFORE_START).timestamp()),
            "exp": int((consultation.ends_at + TOKEN_VALID_AFTER_END).timestamp()),
            "context": {"user": user},
        }
        return jwt.encode(claims, self.settings.app_secret, algorithm="HS256")
