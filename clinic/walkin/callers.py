"""What a walk-in caller gives when joining, checked once: a name, one way to reach them (e-mail or
phone), agreement to the privacy notice, and whether they need an interpreter, for which language. Never a
reason."""

from dataclasses import dataclass

from ..scheduling.patients import MAX_NAME, InvalidDetails, email_address, phone_number, required_text


@dataclass(frozen=True)
class CallerDetails:
    name: str
    email: str | None
    phone: str  # "" when they gave an e-mail address
    needs_interpreter: bool = False
    interpreter_language: str = ""  # "" unless they need an interpreter


MAX_LANGUAGE = 60


def check_caller_details(
    *,
    name: object,
    contact: object,
    consented: object,
    needs_interpreter: object = False,
    interpreter_language: object = "",
    smtputf8: bool = False,
) -> CallerDetails:
    """Normalised details, or InvalidDetails naming each field that is wrong (name, contact, consent, and
    interpreter_language when they need an interpreter; a language typed without the box ticked is
    dropped)."""
    errors: dict[str, str] = {}
    clean_name = required_text(name, "name", MAX_NAME, errors, missing="Enter your name.")
    email, phone = _contact(contact, errors, smtputf8)
    if consented is not True:
        errors["consent"] = "Tick the box to agree to the privacy notice, so that we can call you."
    language = ""
    if needs_interpreter is True:
        missing = "Enter the language the interpreter should speak, or untick the box above."
        language = required_text(
            interpreter_language, "interpreter_language", MAX_LANGUAGE, errors, missing=missing
        )
    if errors:
        raise InvalidDetails(errors)
    return CallerDetails(clean_name, email, phone, needs_interpreter is True, language)


def _contact(value: object, errors: dict[str, str], smtputf8: bool) -> tuple[str | None, str]:
    missing = "Enter an e-mail address or a phone number, so that we can reach you if the call drops."
    found: dict[str, str] = {}
    if isinstance(value, str) and "@" in value:
        email = email_address(value, found, missing=missing, smtputf8=smtputf8)
        phone = ""
    else:
        email, phone = None, phone_number(value, found, missing=missing, field="contact")
    if found:
        errors["contact"] = next(iter(found.values()))
    return email, phone
