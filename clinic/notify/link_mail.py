"""The mail that sends a patient their booking's link again, when they ask for it (see
`scheduling.holders`): like every mail, the hospital, the reference, the time and the link, nothing more.
"""

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage

from .mail import build_message
from .messages import Notice, _as_html, _as_text, format_start, language

SUBJECT = "The link to your video consultation – {hospital}"
OPENING = "You asked us to send you again the link to your video consultation with {hospital} on {when}."
IGNORE = "If you did not ask for it, you can ignore this message: nothing about your booking has changed."


def compose_link_mail(notice: Notice, *, sender: str, message_id: str, now: datetime) -> EmailMessage:
    """The patient's mail with their booking's manage link, and no invite (their calendar has it)."""
    patient = notice.patient
    lang = language(patient.language)
    values = {
        "name": patient.name,
        "hospital": notice.hospital_name,
        "reference": notice.reference,
        "when": format_start(notice.starts_at, patient.time_zone, lang.code),
    }
    paragraphs = [p.format(**values) for p in (lang.greeting, OPENING, lang.reference, IGNORE)]
    links = [(lang.link_labels["manage"], notice.manage_url)]
    subject, footer = SUBJECT.format(**values), lang.footer.format(**values)
    return build_message(
        sender=sender,
        to=Address(display_name=patient.name, addr_spec=patient.email),
        subject=subject,
        text=_as_text(paragraphs, links, footer),
        html=_as_html(lang.code, subject, paragraphs, links, footer),
        message_id=message_id,
        date=now,
    )
