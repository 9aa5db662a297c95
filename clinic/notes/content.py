"""What a note says: the four SOAP fields, and the rules their text must meet (one home for both the
form and the services)."""

import re
from dataclasses import asdict, dataclass, fields

MAX_FIELD_CHARS = 20_000
# Tabs and line breaks belong in notes; every other control character is refused.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class InvalidNote(Exception):
    """Note text the rules refuse; `errors` maps each SOAP field's name to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class SoapNote:
    """The four parts of a note, in SOAP order."""

    subjective: str = ""
    objective: str = ""
    assessment: str = ""
    plan: str = ""

    @property
    def is_empty(self) -> bool:
        return not any(getattr(self, name).strip() for name in FIELDS)

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def changed_fields(self, before: "SoapNote | None") -> list[str]:
        """The names of the fields that differ from `before` (every non-empty one when there is none)."""
        before = before or SoapNote()
        return [name for name in FIELDS if getattr(self, name) != getattr(before, name)]


FIELDS: tuple[str, ...] = tuple(field.name for field in fields(SoapNote))


def check_text(name: str, value: object) -> str:
    """One field's text with line breaks normalised; raises InvalidNote naming the field."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidNote({name: "This must be text."})
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if len(value) > MAX_FIELD_CHARS:
        raise InvalidNote({name: f"Keep this under {MAX_FIELD_CHARS:,} characters (it has {len(value):,})."})
    if _CONTROL.search(value):
        raise InvalidNote({name: "This contains characters that are not allowed, such as control codes."})
    return value
