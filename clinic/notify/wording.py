"""The words of the mails, one `Language` each (English only so far), and a start time in the reader's
zone and on their clock."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ..scheduling.timezones import clock_time, uses_12_hour_clock, zone_label
from .notices import Audience, MessageKind


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
    # An update's (subject, opening sentence) when the time stayed and the clinician changed (a handover),
    # for those who were told the first clinician: the new clinician is sent an invitation instead.
    new_clinician: Mapping[Audience, tuple[str, str]]
    # The same when the time changed too (a move to a colleague at another time): both changes first.
    new_time_and_clinician: Mapping[Audience, tuple[str, str]]
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
    new_clinician={
        _A.PATIENT: (
            "Your video consultation has a new clinician – {hospital}",
            "Your video consultation with {hospital} on {when} is now with {clinician}. "
            "The time has not changed.",
        ),
        _A.COMPANION: (
            "The video consultation you are invited to has a new clinician – {hospital}",
            "{patient}'s video consultation with {hospital} on {when}, which you are invited to join, "
            "is now with {clinician}. The time has not changed.",
        ),
    },
    new_time_and_clinician={
        _A.PATIENT: (
            "Your video consultation has moved and has a new clinician – {hospital}",
            "Your video consultation with {hospital} has moved to {when} and is now with {clinician}.",
        ),
        _A.COMPANION: (
            "The video consultation you are invited to has moved and has a new clinician – {hospital}",
            "{patient}'s video consultation with {hospital}, which you are invited to join, "
            "has moved to {when} and is now with {clinician}.",
        ),
    },
    invite_join=(
        "Join the video consultation: {link}\n\nOpen the link a few minutes before the start, in a web "
        "browser on a phone or computer with a camera and microphone."
    ),
    invite_host="Start the video consultation: {link}\n\nThis link is for you alone: do not forward it.",
)
LANGUAGES: dict[str, Language] = {"en": ENGLISH}


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
