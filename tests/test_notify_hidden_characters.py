"""Bidi overrides and control characters: refused in the names people type, and never in a mail or invite.

A right-to-left override in a name can make a mail or calendar entry read differently from what it
holds (e.g. reverse a link's text); a control character can break a header or an invite line.
"""

import dataclasses
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic.models import ConsultationStatus, StaffRole, utcnow
from clinic.notify.notices import MAILS, Recipient
from clinic.plain_text import HIDDEN
from clinic.scheduling.companions import check_companion_details
from clinic.scheduling.patients import InvalidDetails, check_patient_details, check_reason
from clinic.scheduling.timezones import zone
from tests import factories
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


def patient_named(name: str):
    """The patient's details checked with this name and otherwise right ones."""
    return check_patient_details(
        name=name,
        email="ada@example.org",
        phone="+44 7700 900123",
        birth_date="1980-12-10",
        time_zone="Europe/London",
        today=date(2026, 3, 2),
    )


@pytest.mark.parametrize("hidden", HIDDEN_EXAMPLES, ids=[f"U+{ord(c):04X}" for c in HIDDEN_EXAMPLES])
def test_a_patients_or_companions_name_with_a_hidden_character_is_refused(hidden):
    with pytest.raises(InvalidDetails) as patient:
        patient_named(f"Ada{hidden}Lovelace")
    with pytest.raises(InvalidDetails) as companion:
        check_companion_details(name=f"Grace{hidden}", email="grace@example.net", role="interpreter")

    assert MESSAGE in patient.value.errors["name"]
    assert MESSAGE in companion.value.errors["name"]


# What shows nothing: zero-width spaces and joiners, the byte-order mark, a soft hyphen, the Hangul fillers
# and the blank braille pattern; and spaces of every kind.
BLANKS = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u034f\u115f\u1160\u3164\uffa0\u2800 \u00a0\u3000\u2007"


@given(name=st.text(alphabet=BLANKS, min_size=1, max_size=8))
def test_a_name_that_shows_nothing_is_asked_for_as_missing(name):
    """A name of zero-width spaces was taken: the schedule, the staff pages and every mail then named the
    patient (or their companion) with nothing at all."""
    with pytest.raises(InvalidDetails) as patient:
        patient_named(name)
    with pytest.raises(InvalidDetails) as companion:
        check_companion_details(name=name, email="grace@example.net", role="interpreter")

    assert patient.value.errors["name"] == "Enter your full name."
    assert companion.value.errors["name"] == "Enter their full name."


def test_names_in_other_scripts_are_welcome():
    # Persian and the Indic scripts write some names with a zero-width (non-)joiner inside.
    for name in ("محمد عبد الله", "José Ñúñez", "李小龙", "Zoë O'Brien-Smith", "مهر\u200cنوش", "हर्\u200dष"):
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


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
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
        handed_to=clinician,
    )

    mail = compose_mail(kind, audience, notice)

    for text in _texts(mail):
        assert not FORBIDDEN & set(text), (kind, audience, text)


# Reasons: free text over many lines, where a hidden character is refused as in a name.

_REASON_LAYOUT = set("\t\n\r\x0b\x0c")  # kept, or (a page break, Word's soft line break) made a line break


@given(text=_DISPLAY)
def test_a_reason_with_a_hidden_character_is_refused_and_one_without_is_kept_with_its_lines(text):
    hidden = {c for c in text if HIDDEN.match(c)} - _REASON_LAYOUT

    try:
        kept = check_reason(text)
    except InvalidDetails as refused:
        assert hidden and MESSAGE in refused.errors["reason"]
    else:
        assert not hidden
        assert kept == text.replace("\x0b", "\n").replace("\x0c", "\n").strip()


def test_a_reason_pasted_with_an_office_programs_line_breaks_keeps_them_as_lines():
    assert check_reason("Pain\x0bsince Monday\x0cworse at night") == "Pain\nsince Monday\nworse at night"


@pytest.mark.parametrize("hidden", HIDDEN_EXAMPLES, ids=[f"U+{ord(c):04X}" for c in HIDDEN_EXAMPLES])
def test_a_cancel_reason_with_a_hidden_character_is_refused_by_staff_and_the_api_and_nothing_changes(
    client, session, hidden
):
    service = factories.service(session)
    factories.clinician(session, [service])
    session.commit()
    by_staff, by_api = (
        factories.booking(session, service, _next_week(hour), now=utcnow()) for hour in (10, 11)
    )
    factories.sign_in(client, factories.staff(session, role=StaffRole.ADMIN))

    staff = client.post(
        f"/schedule/consultations/{by_staff.consultation.id}/cancel", data={"reason": f"a{hidden}b"}
    )
    api = client.post(
        f"/api/v1/bookings/{by_api.consultation.reference}/cancel",
        json={"reason": f"a{hidden}b"},
        headers={"Authorization": f"Bearer {by_api.manage_token}"},
    )

    assert staff.status_code == 422 and MESSAGE in staff.get_data(as_text=True)
    assert api.status_code == 422 and MESSAGE in api.get_json()["errors"]["reason"]
    session.expire_all()
    assert {by_staff.consultation.status, by_api.consultation.status} == {ConsultationStatus.BOOKED}


def _next_week(hour: int) -> datetime:
    day = utcnow().date() + timedelta(days=7 - utcnow().weekday())
    return datetime.combine(day, time(hour), tzinfo=zone("Europe/London")).astimezone(UTC)
