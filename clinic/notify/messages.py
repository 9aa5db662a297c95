"""What each mail says: confirmation, update, new video link, cancellation and reminder, for patient,
clinician and companion; and, to the clinician a consultation was handed from, that a colleague has it.

Mails name the hospital, the service, the clinician, the time, its length and the links, nothing
more: `Notice` has no field for a reason for visit or a note, so no template can leak one. A
companion's mails name the patient by first name only and not the service (which can say more about
the patient's health than they chose to share), and carry their own join link, never the manage link.
Invites stay generic for the same reason: calendars are often shared.
"""

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from ..plain_text import without_hidden
from ..scheduling.timezones import clock_time, uses_12_hour_clock, zone_label
from .ics import InviteDetails, Method, build_invite, invite_uid
from .mail import build_message, recipient_address


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
    contact_phone: str = ""  # the department's: for questions, and for changes once online ones close
    change_deadline: datetime | None = None  # until when the patient may change online; None: no longer
    previous_starts_at: datetime | None = None  # an update's earlier time, as it was when moved
    book_again_url: str = ""  # the booking pages of the same service
    handed_to: str = ""  # the colleague it was handed to, named to the clinician it was handed from


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Language:
    """One language's wording. Placeholders: {name} {hospital} {reference} {when} {patient} (the
    patient's first name, for the companion's mails) {service} {clinician} {minutes} {phone}
    {deadline} {previous} {colleague} (who a consultation was handed to)."""

    code: str
    weekdays: tuple[str, ...]
    months: tuple[str, ...]
    when: str
    greeting: str
    # "Label: value" lines under the opening, per audience: (label, placeholder).
    facts: Mapping[Audience, tuple[tuple[str, str], ...]]
    minutes: str
    how_to_join: Mapping[Audience, str]
    # How to test camera and microphone beforehand, per audience that joins from a mail.
    prepare: Mapping[Audience, str]
    previous: str
    can_change: str
    cannot_change: str
    cannot_change_phone: str
    questions: str
    book_again: str
    not_asked: str  # under the link sent again: what to do if they did not ask for it
    link_labels: Mapping[str, str]
    footer: str
    # (subject, opening sentence) per kind and audience.
    wording: Mapping[tuple[MessageKind, Audience], tuple[str, str]]
    # The invite's description, with {link}: for those who join, and for the host.
    invite_join: str
    invite_host: str


_K, _A = MessageKind, Audience
ENGLISH = Language(
    code="en",
    weekdays=tuple("Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()),
    months=tuple(
        "January February March April May June July August September October November December".split()
    ),
    when="{weekday} {day} {month} {year}, {time} ({zone})",
    greeting="Hello {name},",
    facts={
        _A.PATIENT: (
            ("Service", "{service}"),
            ("With", "{clinician}"),
            ("Length", "{minutes}"),
            ("Reference", "{reference}"),
        ),
        _A.CLINICIAN: (("Service", "{service}"), ("Length", "{minutes}"), ("Reference", "{reference}")),
        _A.COMPANION: (("With", "{clinician}"), ("Length", "{minutes}"), ("Reference", "{reference}")),
    },
    minutes="{minutes} minutes",
    how_to_join={
        # The booking page's "Join" tells the clinician the patient is waiting; the call's own link cannot.
        _A.PATIENT: (
            "To join, open your booking page (link below) a few minutes before the start and press "
            '"Join the video call": your clinician then knows you are waiting. It works in a web browser '
            "on a phone or computer with a camera and microphone."
        ),
        _A.COMPANION: (
            "To join, open the link below a few minutes before the start, in a web browser "
            "on a phone or computer with a camera and microphone."
        ),
    },
    prepare={
        _A.PATIENT: (
            "Before the day, open your booking page (link below): it checks your camera and microphone "
            "in your browser. Choose a quiet, private place with a good signal or Wi-Fi."
        ),
        _A.COMPANION: (
            "Before the day, open your join link below: the page checks your camera and microphone in "
            "your browser. Choose a quiet, private place with a good signal or Wi-Fi."
        ),
    },
    previous="The earlier time, {previous}, no longer applies.",
    can_change="You can change or cancel this booking online until {deadline}.",
    cannot_change="This booking can no longer be changed online. To change or cancel it, contact {hospital}.",
    cannot_change_phone=(
        "This booking can no longer be changed online. To change or cancel it, phone {hospital} on {phone}."
    ),
    questions="Questions? Phone {hospital} on {phone}.",
    book_again="You can book another video consultation from the link below.",
    not_asked=(
        "If you did not ask for this link, you can ignore this message: "
        "nothing about your booking has changed."
    ),
    link_labels={
        "join": "Join the video consultation",
        "host": "Start the video consultation",
        "manage": "Your booking page: test your camera and microphone, change or cancel",
        "room": "Your booking page: test your camera and microphone",
        "book": "Book another video consultation",
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
        (_K.LINK, _A.PATIENT): (
            "The link to your video consultation – {hospital}",
            "You asked us to send you again the link to your video consultation with {hospital} on {when}.",
        ),
        (_K.NEW_ROOM, _A.PATIENT): (
            "New video link for your consultation – {hospital}",
            "Your video consultation with {hospital} on {when} has a new video link. The time has not "
            "changed. From now on, use the link in this message, not the one we sent before.",
        ),
        (_K.CONFIRMATION, _A.CLINICIAN): (
            "New video consultation {reference}",
            "A video consultation has been booked with you for {when}.",
        ),
        (_K.UPDATE, _A.CLINICIAN): (
            "Video consultation {reference} moved",
            "Video consultation {reference} has moved to {when}.",
        ),
        (_K.NEW_ROOM, _A.CLINICIAN): (
            "Video consultation {reference}: new video link",
            "Video consultation {reference} on {when} has a new video link. The time has not changed. "
            "Start the call from this message or from your schedule, not from the link sent before.",
        ),
        (_K.CANCELLATION, _A.CLINICIAN): (
            "Video consultation {reference} cancelled",
            "Video consultation {reference} on {when} has been cancelled.",
        ),
        (_K.HANDED_OVER, _A.CLINICIAN): (
            "Video consultation {reference} handed to {colleague}",
            "Video consultation {reference} on {when} has been handed to your colleague {colleague} and is "
            "off your schedule. The patient did not cancel it: you do not need to contact the patient or "
            "book it again.",
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
    invite_join=(
        "Join the video consultation: {link}\n\nOpen the link a few minutes before the start, in a web "
        "browser on a phone or computer with a camera and microphone."
    ),
    invite_host="Start the video consultation: {link}\n\nThis link is for you alone: do not forward it.",
)
LANGUAGES: dict[str, Language] = {"en": ENGLISH}
# Every mail there is: each kind to each audience, but a link sent again goes to the patient alone, a new
# room's link to those still invited (the companion taken out is sent their cancellation), and a handover
# to the clinician it was handed from.
_ADDRESSED = {
    _K.LINK: (_A.PATIENT,),
    _K.NEW_ROOM: (_A.PATIENT, _A.CLINICIAN),
    _K.HANDED_OVER: (_A.CLINICIAN,),
}
MAILS = frozenset((kind, audience) for kind in MessageKind for audience in _ADDRESSED.get(kind, Audience))

_INVITE_METHODS = {
    MessageKind.CONFIRMATION: Method.REQUEST,
    MessageKind.UPDATE: Method.REQUEST,
    MessageKind.NEW_ROOM: Method.REQUEST,
    MessageKind.CANCELLATION: Method.CANCEL,
    MessageKind.HANDED_OVER: Method.CANCEL,
}
# A CANCEL that is no cancellation: its invite says why, in its mail's opening words.
_CANCEL_SAYS_WHY = frozenset({MessageKind.HANDED_OVER})


def cancels(kind: MessageKind) -> bool:
    """Whether the mail takes the consultation off its reader's calendar: it hands out no call link."""
    return _INVITE_METHODS.get(kind) is Method.CANCEL


def language(code: str) -> Language:
    """The wording for a language code such as "en" or "en-GB", English if there is none."""
    return LANGUAGES.get(code) or LANGUAGES.get(code.split("-")[0].lower()) or ENGLISH


def format_start(starts_at: datetime, time_zone: str, language_code: str = "en") -> str:
    """A start time in the reader's zone and on their clock, e.g. "Tuesday 3 March 2026, 09:00 (UK time,
    GMT+0)", or 9:00 am for a reader of en-US."""
    if starts_at.tzinfo is None:
        raise ValueError(f"start time must be timezone-aware, got {starts_at!r}")
    lang = language(language_code)
    tz = ZoneInfo(time_zone)
    local = starts_at.astimezone(tz)
    return lang.when.format(
        weekday=lang.weekdays[local.weekday()],
        day=local.day,
        month=lang.months[local.month - 1],
        year=local.year,
        time=clock_time(local, uses_12_hour_clock(language_code)),
        zone=zone_label(tz, starts_at),
    )


def render(kind: MessageKind, audience: Audience, notice: Notice) -> Rendered:
    """Subject, text and HTML of one mail, in the recipient's language and time zone."""
    return _render(kind, audience, plain(notice))


def _render(kind: MessageKind, audience: Audience, notice: Notice) -> Rendered:
    # `notice` is plain already (see `plain`): compose strips it once for the mail and its invite.
    recipient, call_link = _recipient_and_link(notice, audience)
    lang = language(recipient.language)
    values = _values(notice, recipient, lang)
    subject, opening = lang.wording[kind, audience]
    facts = "\n".join(f"{label}: {value}" for label, value in lang.facts[audience])
    paragraphs = [lang.greeting, opening]
    if kind is MessageKind.UPDATE and notice.previous_starts_at is not None:
        paragraphs.append(lang.previous)
    paragraphs.append(facts)
    if cancels(kind):
        paragraphs += _cancelled(lang, audience, notice)
        links = [("book", notice.book_again_url)] if audience is Audience.PATIENT else []
    elif kind is MessageKind.LINK:
        paragraphs += [*_changes(lang, audience, notice), lang.not_asked]
        links = [("manage" if notice.change_deadline else "room", notice.manage_url)]
    elif audience is Audience.CLINICIAN:
        links = [("host", call_link)]
    else:
        paragraphs += [lang.how_to_join[audience], lang.prepare[audience], *_changes(lang, audience, notice)]
        links = [("join", call_link)]
        if audience is Audience.PATIENT:  # the booking page first: joining from it checks the patient in
            links.insert(0, ("manage" if notice.change_deadline else "room", notice.manage_url))
    paragraphs = [paragraph.format(**values) for paragraph in paragraphs]
    labelled = [(lang.link_labels[key], url) for key, url in links if url]
    footer = lang.footer.format(**values)
    subject = subject.format(**values)
    return Rendered(
        subject=subject,
        text=as_text(paragraphs, labelled, footer),
        html=as_html(lang.code, subject, paragraphs, labelled, footer),
    )


def _values(notice: Notice, recipient: Recipient, lang: Language) -> dict[str, str]:
    def when(moment: datetime | None) -> str:
        return format_start(moment, recipient.time_zone, recipient.language) if moment else ""

    minutes = int((notice.ends_at - notice.starts_at).total_seconds() // 60)
    return {
        "name": recipient.name,
        "hospital": notice.hospital_name,
        "reference": notice.reference,
        "when": when(notice.starts_at),
        "patient": first_name(notice.patient.name),
        "service": notice.service_name,
        "clinician": notice.clinician.name,
        "minutes": lang.minutes.format(minutes=minutes),
        "phone": notice.contact_phone,
        "deadline": when(notice.change_deadline),
        "previous": when(notice.previous_starts_at),
        "colleague": notice.handed_to,
    }


def _changes(lang: Language, audience: Audience, notice: Notice) -> list[str]:
    """Whether and until when the patient may change online, else whom to phone; the companion has no say."""
    if audience is not Audience.PATIENT:
        return [lang.questions] if notice.contact_phone else []
    if notice.change_deadline is None:
        return [lang.cannot_change_phone if notice.contact_phone else lang.cannot_change]
    return [lang.can_change, *([lang.questions] if notice.contact_phone else [])]


def _cancelled(lang: Language, audience: Audience, notice: Notice) -> list[str]:
    if audience is not Audience.PATIENT:
        return []
    return [
        *([lang.book_again] if notice.book_again_url else []),
        *([lang.questions] if notice.contact_phone else []),
    ]


def as_text(paragraphs: list[str], links: list[tuple[str, str]], footer: str) -> str:
    return "\n\n".join([*paragraphs, *(f"{label}:\n{url}" for label, url in links), footer]) + "\n"


def as_html(code: str, subject: str, paragraphs: list[str], links: list[tuple[str, str]], footer: str) -> str:
    lines = [
        "<!DOCTYPE html>",
        f'<html lang="{escape(code)}">',
        f'<head><meta charset="utf-8"><title>{escape(subject)}</title></head>',
        "<body>",
        *(f"<p>{Markup('<br>').join(paragraph.splitlines())}</p>" for paragraph in paragraphs),
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
    notice = plain(notice)
    recipient, call_link = _recipient_and_link(notice, audience)
    rendered = _render(kind, audience, notice)
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
            description=_invite_text(language(recipient.language), audience, call_link),
            cancel_note=_opening(kind, audience, notice) if kind in _CANCEL_SAYS_WHY else "",
        )
        invite = build_invite(details, method, now)
    return build_message(
        sender=sender,
        to=recipient_address(recipient.name, recipient.email),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
        date=now,
        invite=invite,
    )


def _invite_text(lang: Language, audience: Audience, link: str) -> str:
    return (lang.invite_host if audience is Audience.CLINICIAN else lang.invite_join).format(link=link)


def _opening(kind: MessageKind, audience: Audience, notice: Notice) -> str:
    recipient, _ = _recipient_and_link(notice, audience)
    lang = language(recipient.language)
    return lang.wording[kind, audience][1].format(**_values(notice, recipient, lang))


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
