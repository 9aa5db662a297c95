"""Radio buttons with their labels, as the booking pages draw them: the template globals `radio(...)`, one
radio, and `time_radios(...)`, a day of free times.

Written in Python rather than as a Jinja macro because the time step draws one per free time (about 170
on a page of a week): a macro call cost more than the rest of that page's template. A day's times are drawn
in one call, the parts their radios share escaped once, and kept for the next page that shows the same day.
"""

from collections.abc import Iterable, Sequence
from functools import lru_cache

from markupsafe import Markup, escape

from .calendar import TimeChoice


class _Group:
    """What the radios of a group named `name` share, escaped once; the group's error (see _form.html's
    radio_group) describes every radio."""

    def __init__(self, name: str, errors: Sequence[str]) -> None:
        self.name = escape(name)
        self.error_id = f"{self.name}-error" if errors else ""
        self.invalid = ' aria-invalid="true"' if errors else ""

    def described_by(self, *ids: str) -> str:
        """The aria-describedby attribute of a radio described by `ids` (escaped, empty ones left out)."""
        joined = " ".join(filter(None, (self.error_id, *ids)))
        return f' aria-describedby="{joined}"' if joined else ""

    def draw(
        self, value: str, label: str, checked: bool, described_by: str, note: str = "", hint: str = ""
    ) -> str:
        """One radio, from parts already escaped (by character: the id joined from them is escaped too)."""
        id = f"{self.name}-{value}"
        tag = f' <strong class="tag">{note}</strong>' if note else ""
        hint = f'<p class="hint" id="{id}-hint">{hint}</p>' if hint else ""
        # The whitespace is the macro's that this replaced, so the pages are unchanged byte for byte.
        return (
            f'\n\n\n<div class="choice">\n  <input type="radio" id="{id}" name="{self.name}" value="{value}"'
            f"{' checked' if checked else ''}{described_by}{self.invalid}>\n"
            f'  <label for="{id}">{label}{tag}</label>\n  {hint}\n</div>\n'
        )


def radio(
    name: str,
    value: object,
    label: object,
    checked: bool = False,
    errors: Sequence[str] = (),
    hint: object = "",
    note: object = "",
    note_id: str = "",
) -> Markup:
    """One radio of a group named `name`, with the group's `errors`. A `note` is a few words shown in the
    label itself (so no one misses it), explained at `note_id`.
    """
    group = _Group(name, errors)
    value = escape(value)
    described_by = group.described_by(f"{group.name}-{value}-hint" if hint else "", escape(note_id))
    return Markup(group.draw(value, escape(label), checked, described_by, escape(note), escape(hint)))


def time_radios(
    name: str, times: Iterable[TimeChoice], chosen: str, errors: Sequence[str], note: str, note_id: str
) -> Markup:
    """Free times (calendar.TimeChoice) as radios of a group named `name`, the `chosen` one checked; those
    that cannot be changed online carry `note`, explained at `note_id`."""
    return _time_radios(name, tuple(times), chosen, tuple(errors), note, note_id)


@lru_cache(maxsize=512)  # a day's times: patients looking at the same days are shown the same radios
def _time_radios(
    name: str, times: tuple[TimeChoice, ...], chosen: str, errors: tuple[str, ...], note: str, note_id: str
) -> Markup:
    group = _Group(name, errors)
    plain, noted, note = group.described_by(), group.described_by(escape(note_id)), escape(note)
    drawn = []
    for time in times:
        described_by, shown_note = (plain, "") if time.changeable else (noted, note)
        value, label = escape(time.value), escape(time.label)
        drawn.append(group.draw(value, label, time.value == chosen, described_by, shown_note))
    return Markup("".join(drawn))
