"""A patient's details as given on the booking page or through the API, checked once for both."""

import re
import string
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from email_validator import EmailNotValidError, validate_email

from ..plain_text import OFFICE_BREAKS, has_hidden, shows_nothing
from .errors import BookingError
from .timezones import InvalidTimeZone, zone

MAX_NAME = 200
MAX_REASON = 2000
# Line breaks and tabs in a one-line field are tidied into spaces; other hidden characters are refused.
_ORDINARY_SPACE = str.maketrans("\t\n\r", "   ")
_PASTED_BREAKS = str.maketrans(OFFICE_BREAKS, "\n" * len(OFFICE_BREAKS))
HIDDEN_REFUSED = (
    "This contains hidden formatting or control characters. Type it again rather than pasting it."
)
_PHONE = re.compile(r"\+?[0-9 ()\-.]{5,30}")
# The shortest whole number anyone can dial from outside its own exchange: Niue's +683 and four digits.
# A hospital extension (3 to 5 digits) reaches no one who is not in the building, and a walk-in caller
# whose call drops is reached only through this number.
MIN_PHONE_DIGITS = 7
# A country calling code's digits: +1 to +998.
_COUNTRY_CODE = range(1, 4)
# A BCP 47 language tag as browsers send them, within Patient.language's 16 characters.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_MAX_LANGUAGE = 16
# Only YYYY-MM-DD: fromisoformat also takes 19451203 and 1945-W48-1, which nobody means.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_OLDEST = 130  # years: an older date of birth is a typing slip


class InvalidDetails(BookingError):
    """One message per field that failed."""

    code = "invalid_details"

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class DateParts(NamedTuple):
    """A date typed as three boxes (the booking pages' date of birth), exactly as typed."""

    day: str
    month: str
    year: str


@dataclass(frozen=True)
class PatientDetails:
    name: str
    email: str | None  # None only when staff book for someone without e-mail
    phone: str
    birth_date: date
    time_zone: str
    language: str = "en"


def check_patient_details(
    *,
    name: object,
    email: object,
    phone: object,
    birth_date: object,
    time_zone: object,
    today: date,
    email_required: bool = True,
    smtputf8: bool = False,
    whose: str = "your",
    language: object = "en",
) -> PatientDetails:
    """Normalised details, or InvalidDetails naming every field that is wrong.

    `birth_date` is a date, an ISO string (the API) or DateParts (the pages). Staff booking by
    phone may leave the e-mail out (`email_required=False`): it is then None; their messages
    speak of the patient (`whose="the patient's"`). `smtputf8` is the MAIL_SMTPUTF8 setting (see
    `email_address`). `language` is the reader's language tag (their browser's, e.g. en-US), which
    words their mails' times on their clock; one that is not a tag is English's.
    """
    errors: dict[str, str] = {}
    clean_name = required_text(name, "name", MAX_NAME, errors, missing=f"Enter {whose} full name.")
    no_email = not email_required and (email is None or (isinstance(email, str) and not email.strip()))
    clean_email = (
        None
        if no_email
        else email_address(email, errors, smtputf8=smtputf8, missing=f"Enter {whose} e-mail address.")
    )
    clean_phone = phone_number(phone, errors, missing="Enter a phone number.")
    clean_birth = _birth_date(birth_date, today, errors, whose)
    try:
        zone(time_zone)  # type: ignore[arg-type]
    except InvalidTimeZone:
        errors["time_zone"] = "Choose a time zone from the list."
    if errors:
        raise InvalidDetails(errors)
    return PatientDetails(
        clean_name,
        clean_email,
        clean_phone,
        clean_birth,
        time_zone,
        language_tag(language),  # type: ignore[arg-type]
    )


def language_tag(value: object) -> str:
    """`value` if it is a language tag that fits the column (en, en-US, zh-Hant-TW), else "en"."""
    return value if is_language_tag(value) else "en"  # type: ignore[return-value]


def is_language_tag(value: object) -> bool:
    return isinstance(value, str) and len(value) <= _MAX_LANGUAGE and bool(_LANGUAGE_TAG.fullmatch(value))


def check_reason(reason: object, limit: int = MAX_REASON) -> str:
    """An optional reason (for the visit, or for cancelling): plain text over any number of lines,
    bounded. A page break or an office program's soft line break becomes a line break; any other control
    or bidirectional formatting character is refused, as in a name."""
    if reason is None or reason == "":
        return ""
    if not isinstance(reason, str):
        raise InvalidDetails({"reason": "The reason must be text."})
    if len(reason) > limit:
        raise InvalidDetails({"reason": f"Keep the reason under {limit} characters."})
    try:
        return plain_lines(reason).strip()
    except ValueError as refused:
        raise InvalidDetails({"reason": str(refused)}) from None


def plain_lines(text: str) -> str:
    """Text over any number of lines with a page break or an office program's soft line break made a line
    break; ValueError (HIDDEN_REFUSED) if it holds any other control or bidirectional formatting character."""
    text = text.translate(_PASTED_BREAKS)
    if has_hidden(text.translate(_ORDINARY_SPACE)):
        raise ValueError(HIDDEN_REFUSED)
    return text


def required_text(value: object, field: str, limit: int, errors: dict[str, str], *, missing: str) -> str:
    """Required one-line text, whitespace tidied; a message in `errors[field]` if it does not fit
    (`missing` when it is empty, or shows nothing)."""
    if not isinstance(value, str) or shows_nothing(value):
        errors[field] = missing
        return ""
    hidden = has_hidden(value.translate(_ORDINARY_SPACE))
    value = " ".join(value.split())
    if len(value) > limit:
        errors[field] = f"Keep this under {limit} characters."
    elif hidden:
        errors[field] = HIDDEN_REFUSED
    return value


def phone_number(value: object, errors: dict[str, str], *, missing: str, field: str = "phone") -> str:
    """A required phone number, whitespace tidied; a message in `errors[field]` if it is not one."""
    clean = required_text(value, field, 40, errors, missing=missing)
    if clean and not _PHONE.fullmatch(clean):
        errors[field] = "Enter a phone number using digits, spaces and an optional leading +."
    elif clean and sum(character.isdigit() for character in clean) < MIN_PHONE_DIGITS:
        errors[field] = (
            f"Enter the whole phone number, with its area code: at least {MIN_PHONE_DIGITS} digits."
        )
    return clean


def same_phone(one: str, other: str) -> bool:
    """Whether two phone numbers are one, however each was typed: '+44 (0)7700 900-123', '+44 07700 900123',
    '0044 7700 900123' and '07700 900123' are. A number given with its country code matches one given
    without it (the trunk 0 left out) when it ends with that one's digits after a code of at most three
    digits; a 0 written after such a code may be the trunk's, kept by mistake (or, as in Italy, dialled)."""
    (abroad, digits), (other_abroad, other_digits) = dialled(one), dialled(other)
    if not digits or not other_digits:
        return False
    if not abroad and not other_abroad:
        return digits == other_digits
    if abroad and other_abroad:
        return not _with_or_without_trunk(digits).isdisjoint(_with_or_without_trunk(other_digits))
    full, national = (digits, other_digits) if abroad else (other_digits, digits)
    return any(
        form.endswith(national) and len(form) - len(national) in _COUNTRY_CODE
        for form in _with_or_without_trunk(full)
    )


def _with_or_without_trunk(full: str) -> set[str]:
    """A number's digits given with its country code, and those digits less a 0 after a possible code."""
    return {full} | {full[:n] + full[n + 1 :] for n in _COUNTRY_CODE if full[n : n + 1] == "0"}


def dialled(number: str) -> tuple[bool, str]:
    """Whether the number is given with its country code (+ or 00), and its digits: the code's if it is,
    else those after the trunk 0. The (0) some write after the code is not dialled."""
    written = number.replace("(0)", "").strip()
    digits = "".join(character for character in written if character in string.digits)
    if written.startswith("+"):
        return True, digits
    if digits.startswith("00"):
        return True, digits[2:]
    return False, digits.removeprefix("0")


def email_address(value: object, errors: dict[str, str], *, missing: str, smtputf8: bool = False) -> str:
    """A required e-mail address, normalised; a message in `errors["email"]` if it is not one, or if it
    cannot be delivered: one with letters outside ASCII before the @ (RFC 6531) travels only through a
    relay that accepts SMTPUTF8, which `smtputf8` (the MAIL_SMTPUTF8 setting) says ours does."""
    if not isinstance(value, str) or not value.strip():
        errors["email"] = missing
        return ""
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError:
        errors["email"] = "Enter an e-mail address like name@example.org."
        return ""
    if smtputf8:
        return checked.normalized
    if checked.ascii_email is None:
        errors["email"] = (
            "We cannot send e-mail to an address with accented or non-Latin letters before the @. "
            "Enter another e-mail address, such as one using only the letters a to z."
        )
        return ""
    return checked.ascii_email  # an international domain in its ASCII form, which every relay accepts


def _birth_date(value: object, today: date, errors: dict[str, str], whose: str) -> date | None:
    try:
        born = _typed_date(value)
    except ValueError as wrong:
        errors["birth_date"] = str(wrong)
        return None
    if born is None:
        errors["birth_date"] = f"Enter {whose} date of birth."
        return None
    if born > today:
        errors["birth_date"] = "Date of birth must be in the past."
    elif born.year < today.year - _OLDEST:
        errors["birth_date"] = f"Date of birth must be after {today.year - _OLDEST}: check the year."
    return born


def _typed_date(value: object) -> date | None:
    """The date given (None if nothing was), or ValueError saying what is wrong with it."""
    if isinstance(value, date):
        return value
    if isinstance(value, DateParts):
        return _date_from_parts(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not (isinstance(value, str) and _ISO_DATE.fullmatch(value.strip())):
        raise ValueError("Enter the date of birth as YYYY-MM-DD.")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("Date of birth must be a real date.") from None


def _date_from_parts(parts: DateParts) -> date | None:
    day, month, year = (part.strip() for part in parts)
    missing = [name for name, part in (("day", day), ("month", month), ("year", year)) if not part]
    if len(missing) == 3:
        return None
    if missing:
        raise ValueError(f"Date of birth must include a {' and '.join(missing)}.")
    # Decimal digits of any script (a phone's Arabic keyboard types ٢٧), which int() reads; not the
    # superscripts isdigit() also takes.
    if not all(part.isdecimal() for part in (day, month, year)):
        raise ValueError("Date of birth must be a real date, in numbers, for example 27 3 1948.")
    if len(year) != 4:
        raise ValueError("Year must include 4 numbers, for example 1948.")
    if len(day) > 2 or len(month) > 2:  # e.g. 12031945 typed in one box: which order is anyone's guess
        raise ValueError("Enter the day, the month and the year in their own boxes, for example 27 3 1948.")
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError("Date of birth must be a real date.") from None


def date_in_words(day: date) -> str:
    """A date as people say it, e.g. 3 December 1945 (not 1945-12-03, which some read the other way)."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def age_on(birth_date: date | None, day: date) -> int | None:
    """Whole years of age on `day` (None when the date of birth is not known: a walk-in caller)."""
    if birth_date is None:
        return None
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))
