"""What a note says: the four SOAP fields, and the rules their text must meet (one home for both the
form and the services)."""

import re
from dataclasses import asdict, dataclass, fields

from ..plain_text import OFFICE_BREAKS

MAX_FIELD_CHARS = 20_000
# Line breaks as browsers and office programs send them (plain_text.OFFICE_BREAKS).
_LINE_BREAK = re.compile(rf"\r\n?|[{OFFICE_BREAKS}]")
# Tabs and line breaks belong in notes; every other control character, C0 or C1, is refused.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# How many characters before a refused one the message quotes, to help find it.
_EXCERPT_CHARS = 30


class InvalidNote(Exception):
    """Note text the rules refuse; `errors` maps each SOAP field's name to what is wrong with it.

    The messages may quote the note (to show where), so the exception's own text names the fields only."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
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
    value = _LINE_BREAK.sub("\n", value)
    if len(value) > MAX_FIELD_CHARS:
        raise InvalidNote({name: f"Keep this under {MAX_FIELD_CHARS:,} characters (it has {len(value):,})."})
    if found := _CONTROL.search(value):
        raise InvalidNote({name: _control_message(value, found.start())})
    return value


def _control_message(text: str, at: int) -> str:
    """Where the first refused character of `text` is, and how to remove it: such characters are
    invisible, so the message gives the line, the column and the words just before it."""
    count = len(_CONTROL.findall(text))
    line, line_start = text.count("\n", 0, at) + 1, text.rfind("\n", 0, at) + 1
    where = f"line {line}, column {at - line_start + 1}"
    before = text[max(line_start, at - _EXCERPT_CHARS) : at].strip()
    if at - line_start > _EXCERPT_CHARS:
        before = "…" + before.split(" ", 1)[-1]  # from a word's start
    where += f", just after “{before}”" if before else ", at the start of the line"
    what = f"U+{ord(text[at]):04X}"
    if count == 1:
        found = f"a control character ({what}) that a note cannot keep, at {where}."
    else:
        found = f"{count} control characters that a note cannot keep; the first ({what}) is at {where}."
    return f"This has {found} They cannot be seen: put the cursor there, press Delete, then save again."
