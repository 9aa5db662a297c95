"""The staff move page: another time for a consultation, with its own clinician or a colleague of the same
service (or whoever is free first), as the same consultation.

The choices come with GET (so the back button and links work), the move with POST.
"""

from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from ..booking.calendar import page as calendar_page
from ..errors import status_for
from ..extensions import db
from ..form_errors import show_beside
from ..models import Consultation, utcnow
from ..scheduling.agenda import Row
from ..scheduling.availability import Booker
from ..scheduling.errors import AlreadyBooked, NotFound, NotOffered, SlotUnavailable
from ..scheduling.front_desk import bookable_clinicians, move_for_patient, move_to_first_free
from ..scheduling.timezones import clock_label
from ..scheduling.visibility import consultation_for_staff, sees
from ..scheduling.waiting_room import JoinWindow
from ..staff.members import StaffMember
from .forms import MoveForm


def choose_page(viewer: StaffMember, found: Consultation) -> ResponseReturnValue:
    """GET: the clinicians of its service and their free times; its own clinician's unless one is chosen."""
    form = MoveForm(request.args, time_zone=found.patient_time_zone)
    if not form.clinician.raw_data:
        form.clinician.data = found.clinician_id
    return _page(viewer, found, form)


def move(viewer: StaffMember, consultation_id: int) -> ResponseReturnValue:
    """POST: move the consultation to the time and clinician chosen, then show it; or the page again,
    with why beside the field."""
    found, form, status = consultation_for_staff(db.session, viewer, consultation_id), MoveForm(), None
    if not form.clinician.raw_data:  # a form from before colleagues were offered: its own clinician
        form.clinician.data = found.clinician_id
    if form.validate():
        if form.moved_already(found):  # sent again: the same outcome as its first sending
            return _moved(viewer, found)
        try:
            moved = move_for_patient(
                db.session,
                viewer,
                consultation_id,
                form.start.data,
                now=utcnow(),
                clinician_id=form.clinician.data,
                room_opens=JoinWindow.from_config(current_app.config).before_start,
            )
        except (SlotUnavailable, AlreadyBooked, NotFound) as refusal:
            show_beside(form[refusal.field or "start"], str(refusal))
            status = status_for(refusal)
        else:
            return _moved(viewer, moved)
    return _page(viewer, consultation_for_staff(db.session, viewer, consultation_id), form, status)


def _moved(viewer: StaffMember, moved: Consultation) -> ResponseReturnValue:
    """Show the consultation moved; or, handed to a clinician of a department whose consultations `viewer`
    does not see (reception handing a shared clinician's booking back), their day, saying whose it is now."""
    if sees(db.session, viewer, moved.id):
        _say_once(told(moved, f"has moved to {moved.clinician.display_name}"))
        return redirect(url_for("schedule.consultation", consultation_id=moved.id), 303)
    theirs = f"{moved.clinician.display_name} of {moved.clinician.department.name}"
    _say_once(told(moved, f"has moved to {theirs}, and is no longer on your schedule"))
    return redirect(url_for("schedule.day"), 303)


def _say_once(message: str) -> None:
    """Flash `message` unless a form sent again finds its first sending's still waiting (Flask's _flashes)."""
    if ("message", message) not in session.get("_flashes", []):
        flash(message)


def told(found: Consultation, what: str) -> str:
    """What to tell staff after a change: the patient hears by e-mail, or staff must tell them."""
    return f"The consultation {what}. {_how_told(found)}"


def _how_told(found: Consultation) -> str:
    if found.patient.email:
        return f"{found.patient.name} gets an e-mail about it."
    return f"{found.patient.name} has no e-mail: phone them or print the letter."


def _page(
    viewer: StaffMember, found: Consultation, form: MoveForm, status: int | None = None
) -> ResponseReturnValue:
    tz = form.time_zone.chosen(form, found.patient_time_zone)
    form.shows(found)
    days = current_app.config["BOOKING_DAYS_SHOWN"]
    room_opens = JoinWindow.from_config(current_app.config).before_start
    service, clinician_id = found.service, form.clinician.data
    clinicians = bookable_clinicians(db.session, viewer, service)
    if clinician_id is not None and clinician_id not in {c.id for c in clinicians}:
        show_beside(form.clinician, NotOffered.MESSAGE)
        clinician_id = form.clinician.data = found.clinician_id
    times = calendar_page(
        db.session,
        service,
        clinician_id,
        tz,
        form.day.data,
        utcnow(),
        days,
        booker=Booker.STAFF,
        moving=found,
        room_opens=room_opens,
    )
    page = render_template(
        "schedule/move.html",
        form=form,
        consultation=found,
        room_opens=room_opens,
        calendar=times,
        clinicians=clinicians,
        first_available=not viewer.is_clinician,
    )
    return page, status or (422 if form.errors else 200)


def _told_of(moved: list[Consultation]) -> str:
    """Who of the patients `moved` hears by e-mail, and whom staff must tell (booked without one)."""
    unmailed = [c for c in moved if not c.patient.email]
    if not unmailed:
        return " The patients are told by e-mail." if moved else ""
    others = " The others are told by e-mail." if len(unmailed) < len(moved) else ""
    return "".join(f" {_how_told(c)}" for c in unmailed) + others


class DayOfClashes(NamedTuple):
    """One clinician's day with bookings to move, which the clashes page offers to move all at once."""

    clinician_id: int
    clinician_name: str
    day: date


def days_of_clashes(rows: list[Row], tz: ZoneInfo, now: datetime) -> list[DayOfClashes]:
    """Each clinician's days among `rows` (the clashes) that have bookings still to come, in time order."""
    found = [
        DayOfClashes(c.clinician_id, c.clinician_name, c.starts_at.astimezone(tz).date())
        for c in (row.consultation for row in rows)
        if c.ends_at > now
    ]
    return list(dict.fromkeys(found))


def move_day(viewer: StaffMember, rows: list[Row], tz: ZoneInfo) -> ResponseReturnValue:
    """POST: move the clashing bookings still to come of the clinician and day the form names (rows: the
    viewer's clashes) to the first colleague free at each one's time; say which moved and which could not."""
    clinician_id, day, now = request.form.get("clinician", ""), request.form.get("day", ""), utcnow()
    chosen = [
        row.consultation
        for row in rows
        if str(row.consultation.clinician_id) == clinician_id
        and row.consultation.starts_at.astimezone(tz).date().isoformat() == day
        and row.consultation.ends_at > now
    ]
    if not chosen:  # sent again, or left open while a colleague moved them; or values no day of clashes has
        flash(
            "Nothing was moved: no booking of that clinician on that day is left to move. "
            "The list below is as it stands now."
        )
        return redirect(url_for("schedule.clashes", **request.args), 303)
    window = JoinWindow.from_config(current_app.config).before_start
    done = move_to_first_free(db.session, viewer, [c.id for c in chosen], now=now, room_opens=window)
    names = {c.id: f"{c.patient_name} at {clock_label(c.starts_at, tz, False)}" for c in chosen}
    moved = "; ".join(f"{names[c.id]} to {c.clinician.display_name}" for c in done.moved)
    flash(f"Moved {len(done.moved)} of {len(chosen)}{': ' + moved if moved else ''}.{_told_of(done.moved)}")
    for consultation_id, why in done.refused:
        flash(f"Not moved: {names[consultation_id]}. {why} Move or cancel it below.")
    return redirect(url_for("schedule.clashes", **request.args), 303)
