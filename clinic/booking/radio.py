"""Radio buttons with their labels, as the booking pages draw them: the template globals `radio(...)`, one
radio, `time_radios(...)`, a day of free times, and `day_links(...)`, links to each day's first time.

Written in Python rather than as a Jinja macro because the time step draws one per free time (about 170
on a page of a week): a macro call cost more than the rest of that page's template. A day's times are drawn
in one call, the parts their radios share escaped once, and kept for the next page that shows the same day.
"""

from collections.abc import Iterable, Sequence
from functools import lru_cache

from markupsafe import Markup, escape

from .calendar import Day, TimeChoice


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
        id = radio_id(self.name, value)
        tag = f' <strong class="tag">{note}</strong>' if note else ""
        hint = f'<p class="hint" id="{id}-hint">{hint}</p>' if hint else ""
        # The whitespace is the macro's that this replaced, so the pages are unchanged byte for byte.
        return (
            f'\n\n\n<div class="choice">\n  <input type="radio" id="{id}" name="{self.name}" value="{value}"'
            f"{' checked' if checked else ''}{described_by}{self.invalid}>\n"
            f'  <label for="{id}">{label}{tag}</label>\n  {hint}\n</div>\n'
        )


def radio_id(name: str, value: str) -> Markup:
    """The id of the radio for `value` in the group named `name`, where a link to it points."""
    return Markup(f"{escape(name)}-{escape(value)}")


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
    name: str,
    day: str,
    times: Iterable[TimeChoice],
    chosen: str,
    errors: Sequence[str],
    note: str,
    note_id: str,
) -> Markup:
    """The free times (calendar.TimeChoice) of `day` (its label, e.g. Tuesday 8 December) as radios of a group
    named `name`, the `chosen` one checked; those that cannot be changed online carry `note`, explained at
    `note_id`. Each radio's name carries the day ("Tuesday 8 December, 10:30 am"): the times of a week are one
    group, and a screen reader's list of form fields shows no legend."""
    return _time_radios(name, day, tuple(times), chosen, tuple(errors), note, note_id)


@lru_cache(maxsize=512)  # a day's times: patients looking at the same days are shown the same radios
def _time_radios(
    name: str,
    day: str,
    times: tuple[TimeChoice, ...],
    chosen: str,
    errors: tuple[str, ...],
    note: str,
    note_id: str,
) -> Markup:
    group = _Group(name, errors)
    plain, noted, note = group.described_by(), group.described_by(escape(note_id)), escape(note)
    on_day = Markup(f'<span class="visually-hidden">{escape(day)}, </span>')
    drawn = []
    for time in times:
        described_by, shown_note = (plain, "") if time.changeable else (noted, note)
        value, label = escape(time.value), on_day + escape(time.label)
        drawn.append(group.draw(value, label, time.value == chosen, described_by, shown_note))
    return Markup("".join(drawn))


def day_links(name: str, days: Sequence[Day]) -> Markup:
    """A list of links, each to the first of a day's times (radios of the group named `name`): a week's times
    are one group, one Tab stop, whose arrow keys choose one time after another. None for fewer than two
    days with times."""
    links = [
        f'<li><a class="standalone-link" href="#{radio_id(name, day.times[0].value)}">{_shown(day)}</a></li>'
        for day in days
        if day.times
    ]
    if len(links) < 2:
        return Markup()
    label = f"{escape(name)}-day-links"
    return Markup(
        f'<div class="day-links"><p id="{label}">Go to a day:</p>'
        f'<ul aria-labelledby="{label}">{"".join(links)}</ul></div>'
    )


def _shown(day: Day) -> str:
    """A day as its link reads, short enough for a row of links on a phone: Monday 7, with the month for
    screen readers only (the link's name then starts with what is shown, as speech control needs)."""
    return f'{day.date:%A} {day.date.day}<span class="visually-hidden"> {day.date:%B}</span>'
