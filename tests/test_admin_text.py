"""What admins type (names, titles, descriptions, labels, addresses) is checked as patients' input is:
a control or bidirectional formatting character is refused beside its field, in every admin form, as
clinic/plain_text.py says input refuses them; an e-mail address must be one."""

import re
import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import select

from clinic.demo import demo_logins, load_demo
from clinic.hospital.records import InvalidSetting, email_text, lines_text, name_key, one_line
from clinic.models import StaffRole, StaffUser, utcnow
from clinic.plain_text import HIDDEN, has_hidden, shows_nothing

from . import factories
from .browser_forms import drawn_forms
from .conftest import TEST_KEYS
from .test_forms_as_drawn import staff_pages

RIGHT_TO_LEFT_OVERRIDE = "\u202e"
# Typed text the admin pages do not keep as anyone's name or address: the opening hours are parsed.
NOT_TEXT = {"hours"}
# Weekly hours and time off are another change's (tests/test_hours.py); the audit log's filters (a POST,
# so that a patient's address stays out of URLs) are a search, which keeps nothing typed.
ELSEWHERE = re.compile(r"/hours|/time-off|/admin/audit$")
NEXT_YEAR = str(utcnow().year + 1)
# What a new row's empty fields are filled with, so that the hidden character is all that is wrong.
FILLED = {
    "name": "Sleep clinic",
    "display_name": "Dr Noor Haddad",
    "email": "noor.haddad@hospital.example",
    "slug": "sleep-line",
    "password": "a long enough passphrase",
    "first_day": f"{NEXT_YEAR}-12-24",
    "last_day": f"{NEXT_YEAR}-12-26",
    **dict.fromkeys(["duration_minutes", "slot_interval_minutes", "horizon_days"], "30"),
    **dict.fromkeys(["buffer_before_minutes", "buffer_after_minutes", "min_notice_minutes"], "0"),
    "cancel_cutoff_minutes": "0",
}


def hidden_in(field: str, value: str) -> str:
    """`value` with a right-to-left override in it, still an address where it was one."""
    if "@" in value or "mail" in field or field == "to":
        return f"evil{RIGHT_TO_LEFT_OVERRIDE}@hospital.example"
    return f"{RIGHT_TO_LEFT_OVERRIDE}evil {value}".strip()


def test_every_admin_form_refuses_hidden_characters_in_each_text_field(app, session):
    load_demo(session, now=utcnow(), keys=TEST_KEYS, bookings=5)
    demo_logins(session, now=utcnow(), password="demo-password")
    session.commit()
    admin = session.scalars(select(StaffUser).where(StaffUser.role == StaffRole.ADMIN)).first()
    client = factories.browser(app)
    factories.sign_in(client, admin, password="demo-password")
    tried, taken = set(), []

    for path, page in list(staff_pages(client, "/admin/")):
        for form in drawn_forms(page):
            action = form.action or path
            for name in form.texts if form.method == "post" and not ELSEWHERE.search(action) else ():
                if name in NOT_TEXT or (action, name) in tried:
                    continue
                tried.add((action, name))
                filled = {key: value or FILLED.get(key, "") for key, value in form.values.items()}
                answer = client.post(action, data={**filled, name: hidden_in(name, filled[name])})
                if answer.status_code != 422 or f'id="{name}-error"' not in answer.text:
                    taken.append((action, name, answer.status_code))

    assert len({action for action, _ in tried}) >= 6, f"too few admin forms to say anything: {tried}"
    assert taken == []


@given(st.text(max_size=40))
@example("\xad")
@example("\u202e")
def test_admin_one_line_text_is_refused_exactly_when_it_holds_a_hidden_character(typed):
    """Optional text that shows nothing is kept as none; any other is refused exactly when a patient's name
    would be, with words that say why. A lone soft hyphen was refused with no words at all."""
    blank = shows_nothing(typed)
    hidden = not blank and has_hidden(typed.translate(str.maketrans("\t\n\r", "   ")))
    try:
        kept = one_line(typed, "name", limit=120)
    except InvalidSetting as refused:
        assert refused.field == "name" and hidden and str(refused)
    else:
        assert not hidden and kept == ("" if blank else " ".join(typed.split()))


@given(st.text(max_size=80))
def test_admin_text_over_lines_is_refused_exactly_when_it_holds_a_hidden_character(typed):
    layout = typed.translate(str.maketrans("\t\n\r\x0b\x0c", "     "))
    try:
        kept = lines_text(typed, "description")
    except InvalidSetting as refused:
        assert refused.field == "description" and HIDDEN.search(layout)
    else:
        assert not has_hidden(layout) and not has_hidden(kept.translate(str.maketrans("\t\n\r", "   ")))


@pytest.mark.parametrize(
    "address", ["<script>@x.y", "a@b", "two@@hospital.example", "x\u202e@hospital.example"]
)
def test_a_clinicians_address_that_is_not_one_is_refused(address):
    with pytest.raises(InvalidSetting) as refused:
        email_text(address, "email")
    assert refused.value.field == "email"


# Characters that show nothing: a zero-width space, joiners, a soft hyphen, a word joiner, a byte-order mark.
INVISIBLE = st.sampled_from(["\u200b", "\u200c", "\u200d", "\u00ad", "\u2060", "\ufeff"])


def _one_letter_in_any_case(c: str) -> bool:
    """Not a letter whose other case is another letter's too (Turkish dotless ı upper-cased is I)."""
    return c.upper().casefold() == c.casefold() == c.lower().casefold()


@st.composite
def look_alikes(draw) -> tuple[str, str]:
    """A name, and the same name as another keyboard, paste or form may give it."""
    shown = st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Cf"])
    letters = shown.filter(_one_letter_in_any_case)
    name = draw(st.text(letters, min_size=1))
    variant = unicodedata.normalize(draw(st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"])), name)
    variant = draw(st.sampled_from([str.upper, str.lower, str.swapcase, str]))(variant)
    at = draw(st.integers(0, len(variant)))
    return name, variant[:at] + draw(INVISIBLE) + variant[at:]


@given(look_alikes())
def test_names_that_read_alike_have_one_key(names):
    """What `taken` compares: the catalogue refuses a second department, service or e-mail that reads
    as one it has."""
    name, variant = names

    assert name_key(name) == name_key(variant)


@given(st.lists(st.one_of(INVISIBLE, st.sampled_from([" ", "\u00a0"])), min_size=1, max_size=6))
def test_a_required_name_of_invisible_characters_alone_is_refused_as_missing(typed):
    with pytest.raises(InvalidSetting) as refused:
        one_line("".join(typed), "name", limit=120, missing="Enter the name.")

    assert str(refused.value) == "Enter the name."
