"""What a mail is about and to whom: the kinds of mail, their audiences, and the facts about one
consultation (`Notice`) that its mails may mention.

Mails name the hospital, the service, the clinician, the time, its length and the links, nothing
more: `Notice` has no field for a reason for visit or a note, so no template can leak one. A
companion's mails name the patient by first name only and not the service (which can say more about
the patient's health than they chose to share), and carry their own join link, never the manage link.
Invites stay generic for the same reason: calendars are often shared.
"""

import dataclasses
import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..plain_text import without_hidden


class MessageKind(enum.StrEnum):
    CONFIRMATION = "confirmation"
    UPDATE = "update"
    CANCELLATION = "cancellation"
    REMINDER = "reminder"
    LINK = "link"  # the booking's link again, at the patient's request
    NEW_ROOM = "new_room"  # the call's new link: someone taken out of it knew the old one
    # To the clinician a consultation was handed from: off their calendar, as a cancellation takes it, but
    # the patient did not cancel, and a colleague sees them instead.
    HANDED_OVER = "handed_over"


class Audience(enum.StrEnum):
    PATIENT = "patient"
    CLINICIAN = "clinician"
    COMPANION = "companion"  # the interpreter, relative or carer joining the patient


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    time_zone: str
    language: str = "en"


@dataclass(frozen=True)
class Notice:
    """The facts about one consultation that its mails may mention."""

    consultation_uuid: str
    reference: str
    sequence: int
    starts_at: datetime
    ends_at: datetime
    hospital_name: str
    service_name: str
    join_url: str
    host_url: str
    manage_url: str
    patient: Recipient
    clinician: Recipient
    companion: Recipient | None = None
    companion_url: str = ""  # the companion's own waiting room, where they join
    companion_uuid: str = ""  # makes the companion's own invite UID (see `messages.invite_uid_for`)
    contact_phone: str = ""  # the department's: for questions, and for changes once online ones close
    change_deadline: datetime | None = None  # until when the patient may change online; None: no longer
    previous_starts_at: datetime | None = None  # an update's earlier time, as it was when moved
    new_clinician: bool = False  # an update's move handed the consultation to another clinician
    book_again_url: str = ""  # the booking pages of the same service
    handed_to: str = ""  # the colleague it was handed to, named to the clinician it was handed from


# Every mail there is: each kind to each audience, but a link sent again goes to the patient alone, a new
# room's link to those still invited (the companion taken out is sent their cancellation), and a handover
# to the clinician it was handed from.
_ADDRESSED = {
    MessageKind.LINK: (Audience.PATIENT,),
    MessageKind.NEW_ROOM: (Audience.PATIENT, Audience.CLINICIAN),
    MessageKind.HANDED_OVER: (Audience.CLINICIAN,),
}
MAILS = frozenset((kind, audience) for kind in MessageKind for audience in _ADDRESSED.get(kind, Audience))


def plain(value: Any) -> Any:
    """`value` (a Notice, a Recipient or a string) with hidden characters stripped from every string:
    names and service titles come from people, and no mail or invite may carry such characters."""
    if isinstance(value, str):
        return without_hidden(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value, **{f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        )
    return value


def first_name(full_name: str) -> str:
    """The first word of a name: all that a companion is told of the patient."""
    return full_name.split(maxsplit=1)[0] if full_name.strip() else ""
