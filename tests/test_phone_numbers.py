"""The phone rule every form and the API share: a number someone could dial, with enough digits for the
shortest whole number in use, in any of the ways people write one."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic.scheduling.patients import MIN_PHONE_DIGITS, phone_number

SEPARATORS = " ()-."


def checked(value: str) -> tuple[str, dict[str, str]]:
    errors: dict[str, str] = {}
    return phone_number(value, errors, missing="Enter a phone number."), errors


@pytest.mark.parametrize("typed", ["-----", "(((((", "..... ", "+ ( ) - .", "12345", "+44 1234"])
def test_a_number_with_too_few_digits_is_refused_with_what_to_type(typed):
    _, errors = checked(typed)

    assert errors == {
        "phone": f"Enter the whole phone number, with its area code: at least {MIN_PHONE_DIGITS} digits."
    }


@pytest.mark.parametrize("typed", ["+683 4002", "+44 7700 900123", "(020) 7946-0000", "030.1234.567"])
def test_the_shortest_whole_numbers_and_the_usual_ways_of_writing_them_are_accepted(typed):
    assert checked(typed) == (typed, {})


@given(st.text(alphabet="+0123456789" + SEPARATORS, max_size=40))
def test_every_accepted_phone_has_enough_digits(typed):
    clean, errors = checked(typed)

    if not errors:
        assert sum(character.isdigit() for character in clean) >= MIN_PHONE_DIGITS


@given(
    st.lists(
        st.tuples(st.sampled_from("0123456789"), st.text(alphabet=SEPARATORS, max_size=1)),
        min_size=MIN_PHONE_DIGITS,
        max_size=15,  # E.164's longest number
    ),
    st.booleans(),
)
def test_every_number_of_enough_digits_with_the_allowed_separators_is_accepted(digits, plus):
    typed = ("+" if plus else "") + "".join(digit + separator for digit, separator in digits)

    clean, errors = checked(typed)

    assert errors == {}
    assert clean == typed.strip()
