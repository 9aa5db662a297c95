"""Jitsi Meet: no API to call, just an unguessable room on the hospital's Jitsi, with optional JWTs.

With `JITSI_APP_ID` and `JITSI_APP_SECRET` set (Prosody token auth, HS256), each link carries a
token limited to its room and to the consultation's time; only the clinician's marks a moderator.

Nothing here calls the server, so the admin's test of the provider `probe`s it: its external_api.js
fetched, and a token of the JWT settings read back as Jitsi's token authentication reads it.
"""

import base64
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests

from .base import Meeting, ProviderNotConfigured, ProviderRejected, require
from .http import Timeouts, send

# Patients open the link early and consultations overrun; the token must not lock them out.
TOKEN_VALID_BEFORE_START = timedelta(minutes=30)
TOKEN_VALID_AFTER_END = timedelta(hours=2)
ROOM_BYTES = 20  # 160 bits
# Every Jitsi Meet server serves this script, which a page embedding a call loads; it defines this name.
API_SCRIPT, API_NAME = "external_api.js", "JitsiMeetExternalAPI"
MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key as long as its hash, or it can be guessed


@dataclass(frozen=True)
class JitsiSettings:
    base_url: str
    timeouts: Timeouts  # the admin's probe's: making a meeting calls nothing
    app_id: str | None = None
    app_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> "JitsiSettings":
        app_id, app_secret = settings["JITSI_APP_ID"], settings["JITSI_APP_SECRET"]
        if app_id or app_secret:  # one without the other is a mistake, not "no tokens"
            require(settings, ("JITSI_APP_ID", "JITSI_APP_SECRET"))
        base_url = settings["JITSI_BASE_URL"].rstrip("/")
        return cls(base_url, Timeouts.from_mapping(settings), app_id or None, app_secret or None)


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

    def probe(self, consultation: Any) -> list[str]:
        """Check what can be checked of the hospital's Jitsi (see base.Probed): that the JWT settings make
        tokens its token authentication accepts, then that the server answers with its external_api.js.
        ProviderNotConfigured for settings that cannot work; ProviderUnavailable for a server unreachable,
        timed out or answering 5xx; ProviderRejected for a 4xx or an answer that is not Jitsi Meet's."""
        found = self._probe_tokens(consultation)
        url = f"{self.settings.base_url}/{API_SCRIPT}"
        started = time.perf_counter()
        with requests.Session() as http:  # the probe's alone: the adapter otherwise calls nothing
            response = send(http, "GET", url, self.settings.timeouts)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if API_NAME not in response.text:
            raise ProviderRejected(
                f"GET {url} answered {response.status_code}, but not with Jitsi Meet's {API_SCRIPT}: "
                "is CLINIC_JITSI_BASE_URL the address of the hospital's Jitsi?",
                status=response.status_code,
            )
        found.append(f"{url} answered in {elapsed_ms:.0f} ms.")
        return found

    def _probe_tokens(self, consultation: Any) -> list[str]:
        """A token for a stand-in room read back as Prosody's token authentication reads it: signed with the
        secret (HS256), issued by the app id, for audience "jitsi", its subject the server's host."""
        if self.settings.app_secret is None:
            return ["No JWT is configured: whoever has a room's link may open it."]
        host = urlsplit(self.settings.base_url).hostname
        if not host:
            raise ProviderNotConfigured(
                f"CLINIC_JITSI_BASE_URL {self.settings.base_url!r} names no server (https://…): "
                "each token names it as its subject"
            )
        room = new_room_name()
        try:
            claims = jwt.decode(
                self._token(consultation, room, host=True),
                self.settings.app_secret,
                algorithms=["HS256"],
                audience="jitsi",
                issuer=self.settings.app_id,
                options={"require": ["iss", "aud", "sub", "room", "nbf", "exp"], "verify_nbf": False},
            )
        except jwt.InvalidTokenError as error:
            raise ProviderNotConfigured(f"the JWT settings make tokens Jitsi would refuse: {error}") from None
        issued = f"issuer {claims['iss']}, for {host}"
        found = [f"The JWT settings make tokens that Jitsi's token authentication accepts ({issued})."]
        if len(self.settings.app_secret.encode()) < MIN_SECRET_BYTES:  # accepted still: said, not refused
            found.append(f"CLINIC_JITSI_APP_SECRET is shorter than {MIN_SECRET_BYTES} bytes: make it longer.")
        return found

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
