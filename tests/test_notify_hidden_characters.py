"""Bidi overrides and control characters: refused in the names people type, and never in a mail or invite.

A right-to-left override in a name can make a mail or calendar entry read differently from what it
holds (e.g. reverse a link's text); a control character can break a header or an invite line.
"""

import dataclasses
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic.notify.messages import MAILS, Recipient
from clinic.plain_text import HIDDEN
from clinic.scheduling.companions import check_companion_details
from clinic.scheduling.patients import InvalidDetails, check_patient_details
from tests.test_notify_messages import compose_mail, make_notice

HIDDEN_EXAMPLES = [
    "\u202e",
    "\u202a",
    "\u2066",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
    "\x85",
    "\x9b",
    "\x07",
]
MESSAGE = "This contains hidden formatting or control characters"


@pytest.mark.parametrize("hidden", HIDDEN_EXAMPLES, ids=[f"U+{ord(c):04X}" for c in HIDDEN_EXAMPLES])
def test_a_patients_or_companions_name_with_a_hidden_character_is_refused(hidden):
    with pytest.raises(InvalidDetails) as patient:
        check_patient_details(
            name=f"Ada{hidden}Lovelace",
            email="ada@example.org",
            phone="+44 7700 900123",
            birth_date="1980-12-10",
            time_zone="Europe/London",
            today=date(2026, 3, 2),
        )
    with pytest.raises(InvalidDetails) as companion:
        check_companion_details(name=f"Grace{hidden}", email="grace@example.net", role="interpreter")

    assert MESSAGE in patient.value.errors["name"]
    assert MESSAGE in companion.value.errors["name"]


def test_names_in_other_scripts_are_welcome():
    for name in ("محمد عبد الله", "José Ñúñez", "李小龙", "Zoë O'Brien-Smith"):
        details = check_companion_details(name=name, email="grace@example.net", role="carer")
        assert details.name == name


# Any text, with the hidden characters mixed in generously.
_HIDDEN_CHARS = st.sampled_from([*HIDDEN_EXAMPLES, "\x00", "\x1b", "\r", "\n", "\x9f", "\u202d"])
_DISPLAY = st.lists(st.one_of(st.characters(codec="utf-8"), _HIDDEN_CHARS), min_size=1, max_size=30).map(
    "".join
)
# Line breaks and tabs are the composed mail's own; every other hidden character is forbidden.
FORBIDDEN = {chr(code) for code in range(0x3000) if HIDDEN.match(chr(code))} - set("\t\n\r")


def _texts(mail) -> list[str]:
    texts = [str(value) for _, value in mail.items()]
    for part in mail.walk():
        if part.is_multipart():
            continue
        texts += [str(value) for _, value in part.items()]
        texts.append(part.get_payload(decode=True).decode())
    return texts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    patient=_DISPLAY,
    clinician=_DISPLAY,
    companion=_DISPLAY,
    hospital=_DISPLAY,
    service=_DISPLAY,
    mail=st.sampled_from(sorted(MAILS)),
)
def test_no_hidden_character_reaches_a_composed_mail_or_invite(
    patient, clinician, companion, hospital, service, mail
):
    kind, audience = mail
    base = make_notice()
    notice = dataclasses.replace(
        base,
        hospital_name=hospital,
        service_name=service,
        patient=dataclasses.replace(base.patient, name=patient),
        clinician=Recipient(clinician, base.clinician.email, base.clinician.time_zone),
        companion=dataclasses.replace(base.companion, name=companion),
    )

    mail = compose_mail(kind, audience, notice)

    for text in _texts(mail):
        assert not FORBIDDEN & set(text), (kind, audience, text)
