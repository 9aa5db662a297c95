"""CSV cells that no spreadsheet runs as a formula (CSV injection), whatever comes before the formula."""

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from clinic.spreadsheets import inert

TRIGGERS = "=+-@"
# What spreadsheets skip before a formula: Google Sheets and LibreOffice strip leading white space (a
# no-break space and an ideographic space too), and invisible format characters show nothing.
BLANKS = st.text(
    st.sampled_from(" \t\r\n\u00a0\u2002\u3000\u200b\u2060\ufeff"),
    min_size=1,
    max_size=4,
)


@given(blanks=st.one_of(st.just(""), BLANKS), trigger=st.sampled_from(TRIGGERS), rest=st.text(max_size=20))
def test_a_formula_behind_any_blanks_is_made_text(blanks, trigger, rest):
    cell = blanks + trigger + rest

    assert inert(cell) == "'" + cell


def test_a_leading_line_break_is_made_text_as_a_tab_and_a_carriage_return_are():
    assert [inert(c + "cmd") for c in "\t\r\n"] == ["'\tcmd", "'\rcmd", "'\ncmd"]


@given(
    text=st.text(max_size=20).filter(
        lambda t: (first := t.lstrip()) and unicodedata.category(first[0])[0] in "LN" and t == first
    )
)
def test_a_name_that_starts_with_a_letter_or_digit_is_left_as_it_is(text):
    assert inert(text) == text
