"""The parts of a consultation's row that the schedule pages draw in Python: the day's table rows, the status
badge and what staff can do with it (start the call, change its status, open its notes or details).
Template globals.

Written in Python rather than as Jinja macros, as clinic/booking/radio.py is, because the day's schedule
draws them on every row: the macros and their url_for calls cost more than the rest of the page, and the
row's cells, each a template call and lookup, cost more than its query.
"""

from collections.abc import Mapping
from functools import cached_property
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from ..auth.access import current_staff
from ..booking.calendar import twelve_hour_reader
from ..models import Consultation, ConsultationStatus
from ..notes.access import may_access
from ..notes.settings import notes_settings
from ..scheduling.agenda import Moment, Row
from ..scheduling.clashes import Clash
from ..scheduling.listing import Listed
from ..scheduling.status import STAFF_MOVABLE, STATUS_LABELS
from ..scheduling.timezones import clock_label, format_local, zone
from .forms import ACTION_LABELS

# Any id the `id` converter accepts: an address is built once with it, and each row's id put in its place.
_ANY_ID = 2**31 - 1


class IdAddress:
    """An endpoint's address for any consultation, escaped for HTML: one url_for (and escape) per page
    instead of one per row, and none on a page whose rows never link there."""

    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint

    @cached_property
    def _parts(self) -> tuple[Markup, Markup]:
        before, _, after = url_for(self._endpoint, consultation_id=_ANY_ID).rpartition(str(_ANY_ID))
        return escape(before), escape(after)

    def __call__(self, consultation_id: int) -> Markup:
        before, after = self._parts
        return Markup(f"{before}{consultation_id}{after}")


class DetailsLinks:
    """The address of each consultation's own page opened from the page at `back`, which it carries as its
    `next`: what is done there (sending a walk-in caller back) returns to that page, its day and whose."""

    def __init__(self, back: str) -> None:
        self._address = IdAddress("schedule.consultation")
        self._opened_from = escape(f"?{urlencode({'next': back})}")

    def __call__(self, consultation_id: int) -> Markup:
        return Markup(f"{self._address(consultation_id)}{self._opened_from}")


# Each status's class (status-booked, ...) and label, escaped once rather than on every row.
_STATUS_PARTS = {status: (escape(status.value), escape(label)) for status, label in STATUS_LABELS.items()}


def status_badge(
    consultation: Consultation | Listed, tz: ZoneInfo, twelve_hour: bool | None = None
) -> Markup:
    """The status as a badge; an arrived patient is "Waiting since 10:02", on the page's clock: 24-hour or
    12-hour as `twelve_hour` says, the reader's when it is None (as the consultation page's times are)."""
    status = consultation.status
    arrived_at = consultation.arrived_at if status is ConsultationStatus.ARRIVED else None
    if twelve_hour is None:
        twelve_hour = twelve_hour_reader()
    since = f" since {clock_label(arrived_at, tz, twelve_hour)}" if arrived_at else ""
    css, label = _STATUS_PARTS[status]
    return Markup(f'<span class="status-badge status-{css}" data-status>{label}{since}</span>')


def stalled_badge(consultation: Listed, may_send_back: bool) -> Markup:
    """A stalled walk-in call's status (walkin.send_back): its caller in a call whose clinician vanished,
    said in words, and what to do about it if the reader may."""
    what = ": send the caller back to the queue" if may_send_back else ""
    return Markup(
        '<span class="status-badge status-stalled" data-status>Call stalled</span>'
        f'<p class="stalled-note">The caller is still in the call, but {escape(consultation.clinician_name)}'
        f" is no longer signed in{what}.</p>"
    )


class ConsultationActions:
    """Draws the actions of each consultation on one page, for the signed-in staff member at one moment;
    `back` is where a status change or a send-back returns to, `compact` adds a link to the consultation's
    own page.

    What every row shares (the addresses, the viewer, the notes rule's roles) is worked out once.
    """

    def __init__(self, moment: Moment, back: str, compact: bool = True) -> None:
        self._moment, self._back, self._compact = moment, escape(back), compact
        self._viewer = current_staff()
        self._notes_roles = notes_settings(current_app).granted_roles
        self._start = IdAddress("schedule.start")
        self._change_status = IdAddress("schedule.change_status")
        self._send_back = IdAddress("schedule.send_back_caller")
        self._notes = IdAddress("notes.show")
        self.details = DetailsLinks(back)

    def __call__(self, row: Row, twelve_hour: bool | None = None, send_back: bool = False) -> Markup:
        """The actions of `row`'s consultation, as a block of forms and links; times on the page's clock, the
        reader's unless `twelve_hour` says (the day's table reads 24 hours, as its time column does);
        `send_back`: the walk-in caller's call has stalled, and the viewer may send them back to the queue."""
        c, name = row.consultation, escape(row.consultation.patient_name)
        clock = self._twelve_hour if twelve_hour is None else twelve_hour
        parts = [self._call(c, clock)] if row.may_start else []
        if send_back:
            parts.append(
                f'<form method="post" action="{self._send_back(c.id)}">{self._csrf_field}{self._next_field}'
                '<button type="submit" class="button-small" '
                f'aria-label="Send back to the queue: {name}">Send back to the queue</button></form>'
            )
        parts += [self._status_form(c.id, status, name) for status in sorted(row.actions)]
        if may_access(self._viewer, c, self._notes_roles):
            href = self._notes(c.id)
            parts.append(f'<a href="{href}" aria-label="Notes on {name}\'s consultation">Notes</a>')
        if self._compact:
            href = self.details(c.id)
            parts.append(f'<a href="{href}" aria-label="Details of {name}\'s consultation">Details</a>')
        shown = "\n  ".join(part for part in parts if part)
        return Markup(f'<div class="row-actions">\n  {shown}\n</div>')

    def _call(self, c: Listed, twelve_hour: bool) -> str:
        """Starting (or rejoining) the call while its window is open; before, when it opens."""
        window, now = self._moment.window, self._moment.instant
        if window.is_open(c, now):
            label = "Rejoin call" if c.status is ConsultationStatus.IN_PROGRESS else "Start call"
            return (
                f'<form method="post" action="{self._start(c.id)}" target="_blank">'
                f'{self._csrf_field}<button type="submit" class="button-small">{label}</button></form>'
            )
        opens_at = window.opens_at(c)
        if now < opens_at:
            opens = format_local(opens_at, zone(c.clinician_zone), twelve_hour)
            return f'<p class="hint">Call opens {escape(opens)}</p>'
        return ""

    def _status_form(self, consultation_id: int, status: ConsultationStatus, name: Markup) -> str:
        action, label = self._change_status(consultation_id), escape(ACTION_LABELS[status])
        return (
            f'<form method="post" action="{action}">{self._csrf_field}'
            f'<input type="hidden" name="status" value="{escape(status.value)}">{self._next_field}'
            f'<button type="submit" class="button-small button-secondary" aria-label="{label}: {name}">'
            f"{label}</button></form>"
        )

    @cached_property
    def _next_field(self) -> str:
        # Where each form returns to (the route checks it is a path on this site: auth.sessions.local_path).
        return f'<input type="hidden" name="next" value="{self._back}">'

    @cached_property
    def _csrf_field(self) -> str:
        # Asked for on the first form drawn, as the macro did: a page with no form starts no token.
        return f'<input type="hidden" name="csrf_token" value="{escape(generate_csrf())}">'

    @cached_property
    def _twelve_hour(self) -> bool:
        # The reader's clock, read from the request once rather than for each row's "Call opens".
        return twelve_hour_reader()


# Why a consultation cannot go ahead as booked: as its clinician reads it, and as other staff do ({name}:
# the clinician's). A clinician's note on their time off (it may say why) is theirs alone.
_CLASH_WORDS = {
    Clash.TIME_OFF: ("You are away then (time off)", "{name} is away then (time off)"),
    Clash.CLOSURE: ("The clinic is closed then", "The clinic is closed then"),
    Clash.OUTSIDE_HOURS: (
        "This is outside your working hours now",
        "This is outside {name}'s working hours now",
    ),
}


class ClashNotes:
    """Draws, for a consultation that cannot go ahead as booked (Row.clash), why, that the patient has not
    been told, and the links to move it (while it is booked) or cancel it on its page (`details`, which
    returns to the page the note is on); nothing for one that can."""

    def __init__(self, details: DetailsLinks) -> None:
        self._move = IdAddress("schedule.choose_new_time")
        self._details = details

    def __call__(self, row: Row) -> Markup:
        if row.clash is None:
            return Markup("")
        c = row.consultation
        own, others = _CLASH_WORDS[row.clash]
        why = escape(own if row.own else others.format(name=c.clinician_name))
        whose = f'<span class="visually-hidden"> ({escape(c.patient_name)})</span>'
        cancel = f'<a href="{self._details(c.id)}#cancel">cancel it{whose}</a>'
        if c.status in STAFF_MOVABLE:  # a patient waiting too: to a colleague free now
            what = f'<a href="{self._move(c.id)}">move it{whose}</a> or {cancel}'
        else:
            what = cancel
        return Markup(
            f'<p class="clash-note"><strong>{why}.</strong> The patient has not been told: {what}.</p>'
        )

    @staticmethod
    def summary(rows: list[Row], when: str) -> Markup:
        """How many of `rows` (a day's or a week's, `when`) cannot go ahead as booked; nothing if none."""
        count = sum(1 for row in rows if row.clash)
        if not count:
            return Markup("")
        many = count > 1
        which, patients = ("each", "The patients have") if many else ("it", "The patient has")
        return Markup(
            f'<p class="clash-note"><strong>{count} consultation{"s" * many} {escape(when)} cannot go ahead'
            f" as booked</strong> (time off, a closure or changed hours): move or cancel {which}, as marked"
            f" below. {patients} not been told.</p>"
        )


def _no_age(c: Listed) -> str:
    """What a row without the patient's age says instead: a walk-in call's (in words a screen reader reads as
    any reader sees them), or that the patient's details were anonymised."""
    if c.anonymised:
        return "details anonymised"
    return "walk-in, asked for an interpreter" if c.needs_interpreter else "walk-in"


class DayRows:
    """Draws the rows of a day's schedule table, each with the times in `tz` on a 24-hour clock (as the
    page's other times read, "Next: 10:00"), the patient (linked to the consultation, with their age or
    marked a walk-in, and whether they asked for an interpreter, and who takes part with them unless it
    is cancelled), the service, the clinician when `with_clinician` (a department's day), the status badge
    and `actions`. `stalled`: the walk-in calls that have stalled, each with whether the viewer may send
    its caller back (walkin.send_back.stalled_calls): their badge says so, with that action."""

    TWELVE_HOUR = False  # the table's clock, whoever reads it

    def __init__(
        self, actions: ConsultationActions, tz: ZoneInfo, with_clinician: bool, stalled: Mapping[int, bool]
    ) -> None:
        self._actions, self._tz, self._with_clinician = actions, tz, with_clinician
        self._stalled = stalled
        self._clash_notes = ClashNotes(actions.details)

    def __call__(self, rows: list[Row]) -> Markup:
        # One call for the table: a template loop would add a call, an escape and a join for each row.
        return Markup("\n".join(self._row(row) for row in rows))

    def _row(self, row: Row) -> str:
        c, tz = row.consultation, self._tz
        clock = self.TWELVE_HOUR
        starts, ends = (clock_label(instant, tz, clock) for instant in (c.starts_at, c.ends_at))
        patient = f'<a href="{self._actions.details(c.id)}">{escape(c.patient_name)}</a>'
        patient += f", {row.age}" if row.age is not None else f' <span class="hint">({_no_age(c)})</span>'
        if c.companion_role and c.status is not ConsultationStatus.CANCELLED:  # told it is off: not joining
            patient += f' <span class="hint">(with {escape(c.companion_role.value)})</span>'
        clinician = f"\n      <td>{escape(c.clinician_name)}</td>" if self._with_clinician else ""
        may_send_back = self._stalled.get(c.id)
        if may_send_back is None:
            status, actions = status_badge(c, tz, clock), self._actions(row, clock)
        else:
            status, actions = stalled_badge(c, may_send_back), self._actions(row, clock, may_send_back)
        return (
            f'    <tr data-consultation="{c.id}" class="status-{_STATUS_PARTS[c.status][0]}">\n'
            f"      <td>{starts}–{ends}</td>\n"
            f"      <td>{patient}</td>\n"
            f"      <td>{escape(c.service_name)}</td>{clinician}\n"
            f"      <td>{status}{self._clash_notes(row)}</td>\n"
            f"      <td>{actions}</td>\n"
            "    </tr>"
        )
