"""A hospital's own video integration, reached by a signed JSON POST to `WEBHOOK_URL`.

Request (one per change, retried until answered 2xx)::

    POST <WEBHOOK_URL>
    Content-Type: application/json
    X-Clinic-Timestamp: 1767261600
    X-Clinic-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with WEBHOOK_SECRET>

    {"event": "create" | "update" | "cancel",
     "consultation": "<uuid>", "key": "<uuid>" | "<uuid>.1",
     "reference": "K7Q2MX", "subject": "Video consultation K7Q2MX",
     "starts_at": "2026-01-01T10:00:00Z", "ends_at": "2026-01-01T10:30:00Z",
     "host": {"email": "clinician@hospital.example", "display_name": "Dr A. Jones"},
     "meeting": null | {"join_url": "...", "host_url": "..." | null, "external_id": "..."}}

`meeting` is null on create and the endpoint's last answer on update and cancel (a cancel may name
a meeting the consultation no longer uses). The body names no patient and no clinical detail.

Response to create and update: 200 with ``{"join_url": "...", "host_url": "..." | null,
"external_id": "..."}``, the links http(s) addresses (an answer without them is retried as a fault,
then replaced by the fallback provider). Cancel needs only a 2xx; 404 also counts as done. Because we retry,
the endpoint must treat a repeated create with the same `key` as a request for the meeting it
already made. `key` is the consultation's uuid, and another (`<uuid>.<n>`) when the call needs a
new meeting because someone taken out of it knows the old one's address: the endpoint must then
make a new meeting, not hand back the old one, which is cancelled. It should reject a signature
that does not match, or a timestamp more than five minutes from its clock (see
`verify_signature`), with 401. 429 and 5xx (with an optional Retry-After) are retried; other 4xx
are not.
"""

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from ..keys import same_secret
from .base import Meeting, answered_meeting, format_utc, meeting_key, meeting_subject, require
from .http import Timeouts, json_body, send

SIGNATURE_TOLERANCE = 300.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Clinic-Signature` value for `body` sent at `timestamp` (unix seconds, as sent)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float,
    tolerance: float = SIGNATURE_TOLERANCE,
) -> bool:
    """True if `signature` signs `body` and `timestamp` is within `tolerance` seconds of `now`.

    The timestamp bound stops a captured request from being replayed later.
    """
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > tolerance:
        return False
    return same_secret(signature, sign(secret, timestamp, body))


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str = field(repr=False)
    timeouts: Timeouts

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> "WebhookSettings":
        require(settings, ("WEBHOOK_URL", "WEBHOOK_SECRET"))
        return cls(settings["WEBHOOK_URL"], settings["WEBHOOK_SECRET"], Timeouts.from_mapping(settings))


class WebhookProvider:
    """Sends each change to the hospital's endpoint and takes the links it answers with."""

    name = "webhook"
    settings_type = WebhookSettings

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self._session = requests.Session()

    def create(self, consultation: Any, *, retry: bool = False) -> Meeting:
        """Ask the endpoint for a meeting for this consultation (by `meeting_key`: safe to repeat)."""
        return self._meeting(self._post("create", consultation, None))

    def update(self, consultation: Any, meeting: Meeting) -> Meeting:
        """Tell the endpoint the new time; it answers with the (possibly new) links."""
        return self._meeting(self._post("update", consultation, meeting))

    def cancel(self, consultation: Any, meeting: Meeting) -> None:
        """Tell the endpoint the consultation is cancelled."""
        self._post("cancel", consultation, meeting)

    def _post(self, event: str, consultation: Any, meeting: Meeting | None) -> requests.Response | None:
        body = _payload(event, consultation, meeting)
        # Signed over the exact bytes sent, so the receiver verifies before parsing anything.
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Clinic-Timestamp": timestamp,
            "X-Clinic-Signature": sign(self.settings.secret, timestamp, body),
        }
        return send(
            self._session,
            "POST",
            self.settings.url,
            self.settings.timeouts,
            missing_ok=event == "cancel",
            data=body,
            headers=headers,
        )

    def _meeting(self, response: requests.Response | None) -> Meeting:
        data = json_body(response, "join_url", "external_id")
        return answered_meeting(self.name, data["join_url"], data.get("host_url"), data["external_id"])


def _payload(event: str, consultation: Any, meeting: Meeting | None) -> bytes:
    clinician = consultation.clinician
    return json.dumps(
        {
            "event": event,
            "consultation": consultation.uuid,
            "key": meeting_key(consultation),
            "reference": consultation.reference,
            "subject": meeting_subject(consultation),
            "starts_at": format_utc(consultation.starts_at),
            "ends_at": format_utc(consultation.ends_at),
            "host": {"email": clinician.email, "display_name": clinician.display_name},
            "meeting": None
            if meeting is None
            else {
                "join_url": meeting.join_url,
                "host_url": meeting.host_url,
                "external_id": meeting.external_id,
            },
        }
    ).encode()
