"""What each mail says: confirmation, update, new video link, cancellation and reminder, for patient,
clinician and companion; and, to the clinician a consultation was handed from, that a colleague has it.
Rendered as text and HTML in the recipient's language (see `wording`), and composed into the complete
mail with its calendar invite (see `ics`, and `mime` for the message itself).

What a mail may mention, and so what it can never leak, is `notices.Notice`.
"""

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import parseaddr

from markupsafe import Markup, escape

from .ics import Invite, InviteDetails, Method, build_invite, companion_invite_uid, invite_uid
from .mime import build_message, recipient_address
from .notices import Audience, MessageKind, Notice, Recipient, first_name, plain
from .wording import Language, format_start, language


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


_INVITE_METHODS = {
    MessageKind.CONFIRMATION: Method.REQUEST,
    MessageKind.UPDATE: Method.REQUEST,
    MessageKind.NEW_ROOM: Method.REQUEST,
    MessageKind.CANCELLATION: Method.CANCEL,
    MessageKind.HANDED_OVER: Method.CANCEL,
}
# A CANCEL that is no cancellation: its invite says why, in its mail's opening words.
_CANCEL_SAYS_WHY = frozenset({MessageKind.HANDED_OVER})


def carries_invite(kind: MessageKind) -> bool:
    """Whether mails of `kind` carry a calendar invite (a REQUEST or a CANCEL)."""
    return kind in _INVITE_METHODS


def cancels(kind: MessageKind) -> bool:
    """Whether the mail takes the consultation off its reader's calendar: it hands out no call link."""
    return _INVITE_METHODS.get(kind) is Method.CANCEL


def render(kind: MessageKind, audience: Audience, notice: Notice) -> Rendered:
    """Subject, text and HTML of one mail, in the recipient's language and time zone."""
    return _render(kind, audience, plain(notice))


def _render(kind: MessageKind, audience: Audience, notice: Notice) -> Rendered:
    # `notice` is plain already (see `plain`): compose strips it once for the mail and its invite.
    recipient, call_link = _recipient_and_link(notice, audience)
    lang = language(recipient.language)
    values = _values(notice, recipient, lang)
    subject, opening = _wording(lang, kind, audience, notice)
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


def _wording(lang: Language, kind: MessageKind, audience: Audience, notice: Notice) -> tuple[str, str]:
    """The mail's subject and opening sentence. An update that kept its time was handed to another
    clinician (a move to the very time and clinician it had is refused): saying it moved would send its
    reader looking for a change of time. One handed over at a new time says both changes at once."""
    if kind is MessageKind.UPDATE and audience in lang.new_clinician:
        if notice.previous_starts_at is None:
            return lang.new_clinician[audience]
        if notice.new_clinician:
            return lang.new_time_and_clinician[audience]
    return lang.wording[kind, audience]


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
    recipient, _ = _recipient_and_link(notice, audience)
    rendered = _render(kind, audience, notice)
    return build_message(
        sender=sender,
        to=recipient_address(recipient.name, recipient.email),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
        date=now,
        invite=_invite(kind, audience, notice, sender=sender, domain=domain, now=now),
    )


def _invite(
    kind: MessageKind, audience: Audience, notice: Notice, *, sender: str, domain: str, now: datetime
) -> Invite | None:
    """The calendar invite the mail carries, if its kind carries one; `notice` is plain already."""
    method = _INVITE_METHODS.get(kind)
    if method is None:
        return None
    recipient, call_link = _recipient_and_link(notice, audience)
    details = InviteDetails(
        uid=invite_uid_for(notice, audience, domain),
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
    return build_invite(details, method, now)


def invite_uid_for(notice: Notice, audience: Audience, domain: str) -> str:
    """The UID of the invites `audience` is sent: the consultation's, but a companion's own. A carer often
    shares the patient's mailbox, where invites of one UID are one event: the companion's link would
    replace the patient's, and the companion's cancellation take the patient's consultation off."""
    if audience is Audience.COMPANION:
        if not notice.companion_uuid:
            raise ValueError("a companion's invite needs notice.companion_uuid")
        return companion_invite_uid(notice.companion_uuid, domain)
    return invite_uid(notice.consultation_uuid, domain)


def _invite_text(lang: Language, audience: Audience, link: str) -> str:
    return (lang.invite_host if audience is Audience.CLINICIAN else lang.invite_join).format(link=link)


def _opening(kind: MessageKind, audience: Audience, notice: Notice) -> str:
    recipient, _ = _recipient_and_link(notice, audience)
    lang = language(recipient.language)
    return _wording(lang, kind, audience, notice)[1].format(**_values(notice, recipient, lang))


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
