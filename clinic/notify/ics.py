"""iCalendar invites (RFC 5545 / iTIP RFC 5546) for one consultation, built from plain values.

Times are written in UTC without VTIMEZONE: Outlook and vobject misread generated
VTIMEZONEs, and the mail text shows the recipient's local time anyway.
"""

import enum
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress

PRODID = "-//Clinic//Telehealth Scheduler//EN"


class Method(enum.StrEnum):
    """The iTIP method: REQUEST books or updates, CANCEL removes the event from the calendar."""

    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


@dataclass(frozen=True)
class InviteDetails:
    """Everything an invite may say. There is deliberately no field for clinical detail."""

    uid: str
    sequence: int
    starts_at: datetime
    ends_at: datetime
    organizer_email: str
    organizer_name: str
    attendee_email: str
    attendee_name: str
    link: str
    hospital_name: str
    description: str  # in the attendee's words: how to join, or how to host (left out of a CANCEL)
    cancel_note: str = ""  # a CANCEL's description, when it is more than a cancellation; never a link


@dataclass(frozen=True)
class Invite:
    """A serialised invite and its method, which the MIME part's `method=` must repeat."""

    method: Method
    data: bytes


def invite_uid(consultation_uuid: str, domain: str) -> str:
    """The UID every invite for this consultation carries, so updates and cancels replace it."""
    return f"{consultation_uuid}@{domain}"


def companion_invite_uid(companion_uuid: str, domain: str) -> str:
    """The UID of a companion's own invites: from their UUID, one way, as links sent before
    CLINIC_MANAGE_TOKEN_KEY were made from the UUID and a key, and no invite may carry what makes a link."""
    digest = hashlib.sha256(f"companion-invite:{companion_uuid}".encode()).digest()
    return invite_uid(str(uuid.UUID(bytes=digest[:16])), domain)


def build_invite(details: InviteDetails, method: Method, now: datetime) -> Invite:
    """Build a REQUEST (new or changed) or CANCEL invite; `now` becomes its DTSTAMP."""
    cancelled = method is Method.CANCEL
    link = None if cancelled else details.link
    event = Event.new(
        uid=details.uid,
        sequence=details.sequence,
        stamp=_utc(now),
        start=_utc(details.starts_at),
        end=_utc(details.ends_at),
        summary=f"Video consultation – {details.hospital_name}",
        description=(details.cancel_note or None) if cancelled else details.description,
        location=link,
        url=link,
        organizer=vCalAddress.new(details.organizer_email, cn=_named(details.organizer_name)),
        attendees=[
            vCalAddress.new(
                details.attendee_email,
                cn=_named(details.attendee_name),
                cutype="INDIVIDUAL",
                role="REQ-PARTICIPANT",
                partstat="NEEDS-ACTION",
                rsvp=True,
            )
        ],
        status="CANCELLED" if cancelled else "CONFIRMED",
    )
    calendar = Calendar.new(prodid=PRODID, method=str(method), subcomponents=[event])
    # Calendar.new adds an RFC 7986 calendar-level UID; the event's UID is the one clients match on.
    del calendar["UID"]
    return Invite(method=method, data=calendar.to_ical())


def _named(name: str) -> str:
    """A name as a CN parameter: RFC 5545 gives parameter values no escapes, but icalendar and other
    readers (Thunderbird's ical.js, as reported) take a backslash for one, so a name ending in one, written
    bare, swallowed the parameters after it: its backslashes become spaces, and its spaces are tidied."""
    return " ".join(name.replace("\\", " ").split())


def _utc(moment: datetime) -> datetime:
    # A naive datetime would be written as a "floating" time, read in each client's own zone.
    if moment.tzinfo is None:
        raise ValueError(f"invite times must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC)
