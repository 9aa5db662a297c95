"""What each mail says: confirmation, update, cancellation and reminder, for patient, clinician and
companion.

Mails name the hospital, the reference, the time and the links, nothing more: `Notice` has no
field for a reason for visit, a note or a service, so no template can leak one. A companion's mails
name the patient by first name only, and carry their own join link, never the manage link.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from markupsafe import escape

from .ics import InviteDetails, Method, build_invite, invite_uid
from .mail import build_message


class MessageKind(enum.StrEnum):
    CONFIRMATION = "confirmation"
    UPDATE = "update"
    CANCELLATION = "cancellation"
    REMINDER = "reminder"


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
    join_url: str
    host_url: str
    manage_url: str
    patient: Recipient
    clinician: Recipient
    companion: Recipient | None = None
    companion_url: str = ""  # the companion's own waiting room, where they join


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Language:
    """One language's wording. Placeholders: {name} {hospital} {reference} {when} {patient} (the
    patient's first name, for the companion's mails)."""

    code: str
    weekdays: tuple[str, ...]
    months: tuple[str, ...]
    when: str
    greeting: str
    reference: str
    how_to_join: str
    link_labels: Mapping[str, str]
    footer: str
    # (subject, opening sentence) per kind and audience.
    wording: Mapping[tuple[MessageKind, Audience], tuple[str, str]]


_K, _A = MessageKind, Audience
ENGLISH = Language(
    code="en",
    weekdays=tuple("Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()),
    months=tuple(
        "January February March April May June July August September October November December".split()
    ),
    when="{weekday} {day} {month} {year}, {time} ({zone})",
    greeting="Hello {name},",
    reference="Reference: {reference}",
    how_to_join=(
        "To join, open the link below a few minutes before the start, in a web browser "
        "on a phone or computer with a camera and microphone."
    ),
    link_labels={
        "join": "Join the video consultation",
        "host": "Start the video consultation",
        "manage": "Change or cancel your booking",
    },
    footer="This is an automatic message from {hospital}.",
    wording={
        (_K.CONFIRMATION, _A.PATIENT): (
            "Your video consultation is booked – {hospital}",
            "Your video consultation with {hospital} is booked for {when}.",
        ),
        (_K.UPDATE, _A.PATIENT): (
            "Your video consultation has moved – {hospital}",
            "Your video consultation with {hospital} has moved to {when}.",
        ),
        (_K.CANCELLATION, _A.PATIENT): (
            "Your video consultation is cancelled – {hospital}",
            "Your video consultation with {hospital} on {when} has been cancelled.",
        ),
        (_K.REMINDER, _A.PATIENT): (
            "Reminder: your video consultation – {hospital}",
            "This is a reminder of your video consultation with {hospital} on {when}.",
        ),
        (_K.CONFIRMATION, _A.CLINICIAN): (
            "New video consultation {reference}",
            "A video consultation has been booked with you for {when}.",
        ),
        (_K.UPDATE, _A.CLINICIAN): (
            "Video consultation {reference} moved",
            "Video consultation {reference} has moved to {when}.",
        ),
        (_K.CANCELLATION, _A.CLINICIAN): (
            "Video consultation {reference} cancelled",
            "Video consultation {reference} on {when} has been cancelled.",
        ),
        (_K.REMINDER, _A.CLINICIAN): (
            "Upcoming video consultation {reference}",
            "Video consultation {reference} starts on {when}.",
        ),
        (_K.CONFIRMATION, _A.COMPANION): (
            "Invitation to a video consultation – {hospital}",
            "You are invited to join {patient}'s video consultation with {hospital} on {when}.",
        ),
        (_K.UPDATE, _A.COMPANION): (
            "The video consultation you are invited to has moved – {hospital}",
            "{patient}'s video consultation with {hospital}, which you are invited to join, "
            "has moved to {when}.",
        ),
        (_K.CANCELLATION, _A.COMPANION): (
            "Your invitation to a video consultation is cancelled – {hospital}",
            "Your invitation to join {patient}'s video consultation with {hospital} on {when} "
            "has been cancelled. You do not need to join.",
        ),
        (_K.REMINDER, _A.COMPANION): (
            "Reminder: a video consultation you are invited to – {hospital}",
            "This is a reminder that you are invited to join {patient}'s video consultation with "
            "{hospital} on {when}.",
        ),
    },
)
LANGUAGES: dict[str, Language] = {"en": ENGLISH}

_INVITE_METHODS = {
    MessageKind.CONFIRMATION: Method.REQUEST,
    MessageKind.UPDATE: Method.REQUEST,
    MessageKind.CANCELLATION: Method.CANCEL,
}


def language(code: str) -> Language:
    """The wording for a language code such as "en" or "en-GB", English if there is none."""
    return LANGUAGES.get(code) or LANGUAGES.get(code.split("-")[0].lower()) or ENGLISH


def format_start(starts_at: datetime, time_zone: str, language_code: str = "en") -> str:
    """A start time in the reader's zone, e.g. "Tuesday 3 March 2026, 09:00 (Europe/London)"."""
    if starts_at.tzinfo is None:
        raise ValueError(f"start time must be timezone-aware, got {starts_at!r}")
    lang = language(language_code)
    local = starts_at.astimezone(ZoneInfo(time_zone))
    return lang.when.format(
        weekday=lang.weekdays[local.weekday()],
        day=local.day,
        month=lang.months[local.month - 1],
        year=local.year,
        time=f"{local:%H:%M}",
        zone=time_zone,
    )


def render(kind: MessageKind, audience: Audience, notice: Notice) -> Rendered:
    """Subject, text and HTML of one mail, in the recipient's language and time zone."""
    recipient, call_link = _recipient_and_link(notice, audience)
    lang = language(recipient.language)
    values = {
        "name": recipient.name,
        "hospital": notice.hospital_name,
        "reference": notice.reference,
        "when": format_start(notice.starts_at, recipient.time_zone, lang.code),
        "patient": first_name(notice.patient.name),
    }
    subject, opening = lang.wording[kind, audience]
    paragraphs = [lang.greeting, opening, lang.reference]
    links: list[tuple[str, str]] = []
    if kind is not MessageKind.CANCELLATION:
        if audience is Audience.CLINICIAN:
            links = [("host", call_link)]
        else:
            paragraphs.append(lang.how_to_join)
            links = [("join", call_link)]
            if audience is Audience.PATIENT:
                links.append(("manage", notice.manage_url))
    paragraphs = [paragraph.format(**values) for paragraph in paragraphs]
    labelled = [(lang.link_labels[key], url) for key, url in links if url]
    footer = lang.footer.format(**values)
    subject = subject.format(**values)
    return Rendered(
        subject=subject,
        text=_as_text(paragraphs, labelled, footer),
        html=_as_html(lang.code, subject, paragraphs, labelled, footer),
    )


def _as_text(paragraphs: list[str], links: list[tuple[str, str]], footer: str) -> str:
    return "\n\n".join([*paragraphs, *(f"{label}:\n{url}" for label, url in links), footer]) + "\n"


def _as_html(
    code: str, subject: str, paragraphs: list[str], links: list[tuple[str, str]], footer: str
) -> str:
    lines = [
        "<!DOCTYPE html>",
        f'<html lang="{escape(code)}">',
        f'<head><meta charset="utf-8"><title>{escape(subject)}</title></head>',
        "<body>",
        *(f"<p>{escape(paragraph)}</p>" for paragraph in paragraphs),
        *(f'<p><a href="{escape(url)}">{escape(label)}</a></p>' for label, url in links),
        f"<p><small>{escape(footer)}</small></p>",
        "</body>",
        "</html>",
    ]
    return "\n".join(lines) + "\n"


def compose(
    kind: MessageKind,
    audience: Audience,
    notice: Notice,
    *,
    sender: str,
    domain: str,
    message_id: str,
    now: datetime,
) -> EmailMessage:
    """The complete mail for one recipient; confirmations, updates and cancellations carry an invite."""
    recipient, call_link = _recipient_and_link(notice, audience)
    rendered = render(kind, audience, notice)
    method = _INVITE_METHODS.get(kind)
    invite = None
    if method is not None:
        details = InviteDetails(
            uid=invite_uid(notice.consultation_uuid, domain),
            sequence=notice.sequence,
            starts_at=notice.starts_at,
            ends_at=notice.ends_at,
            organizer_email=parseaddr(sender)[1],
            organizer_name=notice.hospital_name,
            attendee_email=recipient.email,
            attendee_name=recipient.name,
            link=call_link,
            hospital_name=notice.hospital_name,
        )
        invite = build_invite(details, method, now)
    return build_message(
        sender=sender,
        to=Address(display_name=recipient.name, addr_spec=recipient.email),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
        date=now,
        invite=invite,
    )


def first_name(full_name: str) -> str:
    """The first word of a name: all that a companion is told of the patient."""
    return full_name.split(maxsplit=1)[0] if full_name.strip() else ""


def _recipient_and_link(notice: Notice, audience: Audience) -> tuple[Recipient, str]:
    # The host link lets its holder run the call: it goes to the clinician only. A companion's link
    # is their own waiting room, which stops working when they are uninvited.
    if audience is Audience.PATIENT:
        return notice.patient, notice.join_url
    if audience is Audience.COMPANION:
        if notice.companion is None:
            raise ValueError("a companion's mail needs notice.companion")
        return notice.companion, notice.companion_url
    return notice.clinician, notice.host_url
