"""What the waitlist's mails say: a place on it confirmed, a freed time offered, an offered time gone to
someone else, a place closed because what it waited for is no longer offered, and a place ended with its
last day.

Like every mail (see `messages`), they name the hospital, the service, the clinician and the time or days,
nothing more: `OfferNotice` and `JoinedNotice` have no field for a reason for visit or a note.
"""

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from .messages import as_html, as_text
from .mime import build_message, recipient_address
from .notices import Recipient, plain
from .wording import format_start, language


class OfferMail(enum.StrEnum):
    OFFER = "offer"
    GONE = "gone"


@dataclass(frozen=True)
class OfferNotice:
    """The facts about one offer that its mails may mention."""

    patient: Recipient
    hospital_name: str
    service_name: str
    clinician_name: str
    starts_at: datetime
    minutes: int
    expires_at: datetime
    offer_url: str  # books the time in one step
    leave_url: str  # leaves the waitlist
    book_url: str  # the booking pages of the same service
    contact_phone: str = ""
    shared: bool = True  # offered to several at once (CLINIC_WAITLIST_OFFERS_PER_TIME), the first to book it


_SUBJECTS = {
    OfferMail.OFFER: "A video consultation time is free for you – {hospital}",
    OfferMail.GONE: "The time we offered you has gone – {hospital}",
}
_BODIES = {
    OfferMail.OFFER: (
        "A time has become free for the video consultation you are waiting for: {when}.",
        "Service: {service}\nWith: {clinician}\nLength: {minutes} minutes",
        "{who} This offer ends on {expires}. If the time does not suit you, do nothing: you stay on the "
        "waitlist.",
    ),
    OfferMail.GONE: (
        "The time we offered you, {when}, is no longer free: someone else booked it, or it was withdrawn.",
        "You are still on the waitlist: we will e-mail you if another time becomes free. "
        "You can also book another time now.",
    ),
}
# Who else a time is offered to, as the hospital's CLINIC_WAITLIST_OFFERS_PER_TIME has it.
_OFFERED_TO = {
    True: "We have offered this time to a few people on the waitlist: the first to book it gets it.",
    False: "We have offered this time to you alone.",
}
_LINKS = {
    OfferMail.OFFER: (("Book this time", "offer_url"), ("Leave the waitlist", "leave_url")),
    OfferMail.GONE: (("Book another time", "book_url"), ("Leave the waitlist", "leave_url")),
}


def compose_offer_mail(
    kind: OfferMail, notice: OfferNotice, *, sender: str, message_id: str, now: datetime
) -> EmailMessage:
    """The complete mail of an offer (or of its end) to the waiting patient, in their time zone."""
    notice = plain(notice)
    patient = notice.patient

    def when(moment: datetime) -> str:
        return format_start(moment, patient.time_zone, patient.language)

    values = {
        "hospital": notice.hospital_name,
        "when": when(notice.starts_at),
        "expires": when(notice.expires_at),
        "service": notice.service_name,
        "clinician": notice.clinician_name,
        "minutes": notice.minutes,
        "who": _OFFERED_TO[notice.shared],
    }
    subject = _SUBJECTS[kind].format(**values)
    paragraphs = [f"Hello {patient.name},", *(text.format(**values) for text in _BODIES[kind])]
    if notice.contact_phone:
        paragraphs.append(f"Questions? Phone {notice.hospital_name} on {notice.contact_phone}.")
    links = [(label, getattr(notice, field)) for label, field in _LINKS[kind]]
    return _mail(patient, notice.hospital_name, subject, paragraphs, links, sender, message_id, now)


@dataclass(frozen=True)
class PlaceNotice:
    """What every mail about a place on the waitlist names."""

    patient: Recipient
    hospital_name: str
    service_name: str
    clinician_name: str  # "" for any clinician
    window_starts_at: datetime  # the start of the first day, in the patient's zone
    window_ends_at: datetime  # the end of the last day


@dataclass(frozen=True)
class JoinedNotice(PlaceNotice):
    """The facts about a place on the waitlist that its confirmation may mention."""

    leave_url: str
    contact_phone: str = ""
    shared: bool = True  # each time offered to several at once, as OfferNotice's


def compose_joined_mail(notice: JoinedNotice, *, sender: str, message_id: str, now: datetime) -> EmailMessage:
    """The mail telling a patient they are on the waitlist, for which days, and how to leave it."""
    notice = plain(notice)
    body = [
        f"You are on the waitlist for a video consultation: {_waited_for(notice)}.",
        "If a time becomes free on those days, we will e-mail you a link that books it in one step. "
        + (
            "We offer each free time to a few people at once: the first to book it gets it."
            if notice.shared
            else "We offer each free time to one person at a time, for a while, then to the next."
        ),
        "If you no longer need a time, leave the waitlist with the link below. Keep this e-mail: the link is "
        "yours alone.",
    ]
    subject = f"You are on the waitlist – {notice.hospital_name}"
    links = [("Leave the waitlist", notice.leave_url)]
    return _place_mail(notice, subject, body, links, notice.contact_phone, sender, message_id, now)


@dataclass(frozen=True)
class EndedNotice(PlaceNotice):
    """The facts about a place that ended unbooked: closed because its service, or its clinician, is no
    longer offered, or expired because its days went by."""

    book_url: str  # the service's booking pages while it is offered, else the first booking page
    contact_phone: str = ""


def compose_closed_mail(notice: EndedNotice, *, sender: str, message_id: str, now: datetime) -> EmailMessage:
    """The mail telling a patient their place on the waitlist has ended, why, and where to book instead."""
    notice = plain(notice)
    waited_for = notice.service_name + (f" with {notice.clinician_name}" if notice.clinician_name else "")
    body = [
        f"You were on the waitlist for a video consultation: {waited_for}. It is no longer offered, so we "
        "cannot offer you a time of it, and your place on the waitlist has ended.",
        "You can book another time, or another service, on our booking pages.",
    ]
    subject = f"The time you waited for is no longer offered – {notice.hospital_name}"
    return _ended_mail(notice, subject, body, sender, message_id, now)


def compose_expired_mail(notice: EndedNotice, *, sender: str, message_id: str, now: datetime) -> EmailMessage:
    """The mail telling a patient their place on the waitlist has ended with its last day, no time having
    been booked from it, and where to book instead."""
    notice = plain(notice)
    waited_for = _waited_for(notice)
    subject = f"Your place on the waitlist has ended – {notice.hospital_name}"
    return _ended_mail(
        notice,
        subject,
        [
            f"You were on the waitlist for a video consultation: {waited_for}. Those days have gone by and "
            "no time was booked from the waitlist, so your place on it has ended.",
            "If you still need a consultation, you can book a time, or join the waitlist again, on our "
            "booking pages.",
        ],
        sender,
        message_id,
        now,
    )


def _ended_mail(
    notice: EndedNotice, subject: str, body: list[str], sender: str, message_id: str, now: datetime
) -> EmailMessage:
    """A mail telling a patient their place has ended, with the link to book instead."""
    links = [("Book a time", notice.book_url)]
    return _place_mail(notice, subject, body, links, notice.contact_phone, sender, message_id, now)


def _place_mail(
    notice: PlaceNotice,
    subject: str,
    body: list[str],
    links: list[tuple[str, str]],
    contact_phone: str,
    sender: str,
    message_id: str,
    now: datetime,
) -> EmailMessage:
    """A mail about a place on the waitlist: the greeting, `body`, the hospital's phone if it has one."""
    paragraphs = [f"Hello {notice.patient.name},", *body]
    if contact_phone:
        paragraphs.append(f"Questions? Phone {notice.hospital_name} on {contact_phone}.")
    return _mail(notice.patient, notice.hospital_name, subject, paragraphs, links, sender, message_id, now)


def _waited_for(notice: PlaceNotice) -> str:
    """What a place waits for, in its patient's zone: "Heart follow-up, with any clinician, on a day from
    Tuesday 3 March 2026 to Thursday 5 March 2026"."""
    with_whom = f"with {notice.clinician_name}" if notice.clinician_name else "with any clinician"
    first = _day(notice.window_starts_at, notice.patient)
    last = _day(notice.window_ends_at - timedelta(microseconds=1), notice.patient)
    days = f"on {first}" if first == last else f"on a day from {first} to {last}"
    return f"{notice.service_name}, {with_whom}, {days}"


def _day(moment: datetime, patient: Recipient) -> str:
    """The day `moment` falls on in the patient's zone, in their language: Tuesday 3 March 2026."""
    local, words = moment.astimezone(ZoneInfo(patient.time_zone)), language(patient.language)
    return f"{words.weekdays[local.weekday()]} {local.day} {words.months[local.month - 1]} {local.year}"


def _mail(
    patient: Recipient,
    hospital_name: str,
    subject: str,
    paragraphs: list[str],
    links: list[tuple[str, str]],
    sender: str,
    message_id: str,
    now: datetime,
) -> EmailMessage:
    footer = f"This is an automatic message from {hospital_name}."
    return build_message(
        sender=sender,
        to=recipient_address(patient.name, patient.email),
        subject=subject,
        text=as_text(paragraphs, links, footer),
        html=as_html(patient.language, subject, paragraphs, links, footer),
        message_id=message_id,
        date=now,
    )
