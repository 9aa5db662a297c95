"""Weekly hours and time off, with the bookings a change leaves outside them: one page, drawn for a
clinician's own hours (/schedule/hours), for an admin's choice of clinician (/admin/clinicians/<id>/hours),
and for reception recording a clinician's absence (/schedule/clinicians/<id>/time-off: time off only).

`register` adds the same views to a blueprint under a prefix; a prefix with `<clinician_id>` names
whose hours they are, none means the signed-in clinician's own.
"""

from collections.abc import Callable

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..auth.access import current_staff
from ..extensions import db
from ..form_errors import show_beside
from ..models import utcnow
from ..scheduling.errors import NotFound
from ..scheduling.events import ListShown, record_list_read
from ..scheduling.hours import (
    InvalidHours,
    RemovedAlready,
    add_hours,
    add_time_off,
    clinician_in_reach,
    hours_of,
    remove_hours,
    remove_time_off,
)
from ..scheduling.time_off_records import check_may_remove_time_off, removable_time_off, time_off_recorders
from ..scheduling.timezones import zone
from . import forms

# A removal sent twice (a double click), or after someone else's from a page open before.
REMOVED_ALREADY = "{what} removed already: nothing changed."


def hours(clinician_id: int | None = None) -> ResponseReturnValue:
    return _page(_owner(clinician_id))


def add_weekly_hours(clinician_id: int | None = None) -> ResponseReturnValue:
    owner, form = _owner(clinician_id), forms.HoursForm()
    if form.validate():
        try:
            add_hours(
                db.session,
                owner,
                form.weekday.data,
                form.start.data,
                form.end.data,
                now=utcnow(),
                actor=current_staff().actor,
            )
        except InvalidHours as invalid:
            show_beside(form[invalid.field], str(invalid))
        else:
            return _saved("The hours are saved.")
    return _page(owner, hours_form=form), 422


def remove_weekly_hours(rule_id: int, clinician_id: int | None = None) -> ResponseReturnValue:
    try:
        remove_hours(db.session, _owner(clinician_id), rule_id, now=utcnow(), actor=current_staff().actor)
    except RemovedAlready:
        return _saved(REMOVED_ALREADY.format(what="Those hours were"))
    return _saved("Those hours are removed.")


def add_days_off(clinician_id: int | None = None) -> ResponseReturnValue:
    owner, form, staff = _owner(clinician_id), forms.TimeOffForm(), current_staff()
    found = hours_of(db.session, owner, utcnow())
    span = form.instants(zone(found.clinician.time_zone)) if form.validate() else None
    if span is not None:
        try:
            add_time_off(
                db.session,
                owner,
                *span,
                (form.label.data or "").strip(),
                now=utcnow(),
                actor=staff.actor,
                removable=removable_time_off(db.session, staff, owner),
            )
        except InvalidHours as invalid:
            show_beside(form[invalid.field], str(invalid))
        else:
            return _saved("The time off is saved.")
    return _page(owner, time_off_form=form), 422


def remove_days_off(time_off_id: int, clinician_id: int | None = None) -> ResponseReturnValue:
    owner, staff = _owner(clinician_id), current_staff()
    try:
        check_may_remove_time_off(db.session, staff, owner, time_off_id)
        ended = remove_time_off(db.session, owner, time_off_id, now=utcnow(), actor=staff.actor)
    except RemovedAlready:
        return _saved(REMOVED_ALREADY.format(what="That time off was"))
    return _saved("That time off ends now." if ended else "That time off is removed.")


_TIME_OFF_ROUTES = [
    ("/time-off", add_days_off, "POST"),
    ("/time-off/<id:time_off_id>/remove", remove_days_off, "POST"),
]
_ROUTES = [
    ("/hours", hours, "GET"),
    ("/hours", add_weekly_hours, "POST"),
    ("/hours/<id:rule_id>/remove", remove_weekly_hours, "POST"),
    *_TIME_OFF_ROUTES,
]


def register(
    bp: Blueprint, prefix: str = "", guard: Callable = lambda view: view, *, weekly_hours: bool = True
) -> None:
    """Serve the hours page and its forms from `bp` under `prefix`, each view wrapped in `guard`; without
    `weekly_hours`, the page (at /time-off) changes time off only, and shows the hours as they are."""
    routes = _ROUTES if weekly_hours else [("/time-off", hours, "GET"), *_TIME_OFF_ROUTES]
    for path, view, method in routes:
        bp.add_url_rule(prefix + path, view.__name__, guard(view), methods=[method])


def _page(
    owner: int, hours_form: forms.HoursForm | None = None, time_off_form: forms.TimeOffForm | None = None
) -> str:
    now, staff = utcnow(), current_staff()
    found = hours_of(db.session, owner, now)
    recorders = time_off_recorders(db.session, owner)
    page = render_template(
        "schedule/hours.html",
        found=found,
        own=owner == current_user.clinician_id,
        owner_args=_owner_args(),
        hours_form=hours_form or forms.HoursForm(formdata=None),
        time_off_form=time_off_form or forms.TimeOffForm(formdata=None),
        weekdays=forms.WEEKDAYS,
        weekly_hours=f"{request.blueprint}.add_weekly_hours" in current_app.view_functions,
        removable=removable_time_off(db.session, staff, owner, recorders),
        recorders=recorders,
        now=now,
    )
    # The bookings that no longer fit, by patient: recorded once the page is drawn, as lists._record_shown.
    shown = ListShown("hours", found.clinician.department_id, owner)
    record_list_read(db.session, shown, [c.id for c in found.clashes], now, staff.actor)
    return page


def _saved(message: str) -> ResponseReturnValue:
    flash(message + " Bookings that no longer fit are listed first on this page.")
    return redirect(url_for(".hours", **_owner_args()), 303)


def _owner(clinician_id: int | None) -> int:
    """Whose hours: the clinician in the URL (admins, reception), else the signed-in clinician's own."""
    if clinician_id is not None:
        return clinician_in_reach(db.session, current_staff(), clinician_id)
    if current_user.clinician_id is None:
        raise NotFound("This sign-in is not linked to a clinician. Ask an admin to link it.")
    return current_user.clinician_id


def _owner_args() -> dict:
    """The URL's part that names whose hours these are, for links back to this page."""
    return {"clinician_id": request.view_args["clinician_id"]} if "clinician_id" in request.view_args else {}
