"""A patient's details as given on the booking page or through the API, checked once for both."""

import re
from dataclasses import dataclass
from datetime import date

from email_validator import EmailNotValidError, validate_email

from ..plain_text import has_hidden
from .errors import BookingError
from .timezones import InvalidTimeZone, zone

MAX_NAME = 200
MAX_REASON = 2000
# Line breaks and tabs in a one-line field are tidied into spaces; other hidden characters are refused.
_ORDINARY_SPACE = str.maketrans("\t\n\r", "   ")
_PHONE = re.compile(r"^\+?[0-9 ()\-.]{5,30}$")


class InvalidDetails(BookingError):
    """One message per field that failed."""

    code = "invalid_details"

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


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
) -> PatientDetails:
    """Normalised details, or InvalidDetails naming every field that is wrong.

    Staff booking by phone may leave the e-mail out (`email_required=False`): it is then None.
    `smtputf8` is the MAIL_SMTPUTF8 setting (see `email_address`).
    """
    errors: dict[str, str] = {}
    clean_name = required_text(name, "name", MAX_NAME, errors)
    no_email = not email_required and (email is None or (isinstance(email, str) and not email.strip()))
    clean_email = None if no_email else email_address(email, errors, smtputf8=smtputf8)
    clean_phone = required_text(phone, "phone", 40, errors)
    if clean_phone and not _PHONE.match(clean_phone):
        errors["phone"] = "Enter a phone number using digits, spaces and an optional leading +."
    clean_birth = _birth_date(birth_date, today, errors)
    try:
        zone(time_zone)  # type: ignore[arg-type]
    except InvalidTimeZone:
        errors["time_zone"] = "Choose a time zone from the list."
    if errors:
        raise InvalidDetails(errors)
    return PatientDetails(clean_name, clean_email, clean_phone, clean_birth, time_zone)  # type: ignore[arg-type]


def check_reason(reason: object) -> str:
    """The optional reason for the visit: plain text, bounded."""
    if reason is None or reason == "":
        return ""
    if not isinstance(reason, str):
        raise InvalidDetails({"reason": "The reason must be text."})
    if len(reason) > MAX_REASON:
        raise InvalidDetails({"reason": f"Keep the reason under {MAX_REASON} characters."})
    return reason.strip()


def required_text(value: object, field: str, limit: int, errors: dict[str, str]) -> str:
    """Required one-line text, whitespace tidied; a message in `errors[field]` if it does not fit."""
    if not isinstance(value, str) or not value.strip():
        errors[field] = "This field is required."
        return ""
    hidden = has_hidden(value.translate(_ORDINARY_SPACE))
    value = " ".join(value.split())
    if len(value) > limit:
        errors[field] = f"Keep this under {limit} characters."
    elif hidden:
        errors[field] = (
            "This contains hidden formatting or control characters. Type it again rather than pasting it."
        )
    return value


def email_address(value: object, errors: dict[str, str], *, smtputf8: bool = False) -> str:
    """A required e-mail address, normalised; a message in `errors["email"]` if it is not one, or if it
    cannot be delivered: one with letters outside ASCII before the @ (RFC 6531) travels only through a
    relay that accepts SMTPUTF8, which `smtputf8` (the MAIL_SMTPUTF8 setting) says ours does."""
    if not isinstance(value, str) or not value.strip():
        errors["email"] = "This field is required."
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


def _birth_date(value: object, today: date, errors: dict[str, str]) -> date | None:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            errors["birth_date"] = "Enter the date of birth as YYYY-MM-DD."
            return None
    if not isinstance(value, date):
        errors["birth_date"] = "This field is required."
        return None
    if value > today:
        errors["birth_date"] = "The date of birth cannot be in the future."
    elif value.year < today.year - 130:
        errors["birth_date"] = "Check the year of birth."
    return value


def age_on(birth_date: date, day: date) -> int:
    """Whole years of age on `day`."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))
