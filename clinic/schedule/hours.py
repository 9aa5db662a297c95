"""A clinician's own weekly hours and time off, with the bookings a change leaves outside them."""

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..auth.access import current_staff, staff_required
from ..extensions import db
from ..models import Clinician, StaffRole, utcnow
from ..scheduling.errors import NotFound
from ..scheduling.hours import (
    InvalidHours,
    add_hours,
    add_time_off,
    hours_of,
    remove_hours,
    remove_time_off,
)
from ..scheduling.timezones import zone
from . import forms
from .views import bp

clinicians_only = staff_required(StaffRole.CLINICIAN)


@bp.get("/hours")
@clinicians_only
def hours() -> ResponseReturnValue:
    return _page()


@bp.post("/hours")
@clinicians_only
def add_weekly_hours() -> ResponseReturnValue:
    form = forms.HoursForm()
    if form.validate():
        try:
            add_hours(
                db.session,
                _own(),
                form.weekday.data,
                form.start.data,
                form.end.data,
                now=utcnow(),
                actor=current_staff().actor,
            )
        except InvalidHours as invalid:
            form[invalid.field].errors.append(str(invalid))
        else:
            return _saved("Your hours are saved.")
    return _page(hours_form=form), 422


@bp.post("/hours/<id:rule_id>/remove")
@clinicians_only
def remove_weekly_hours(rule_id: int) -> ResponseReturnValue:
    remove_hours(db.session, _own(), rule_id, now=utcnow(), actor=current_staff().actor)
    return _saved("Those hours are removed.")


@bp.post("/time-off")
@clinicians_only
def add_days_off() -> ResponseReturnValue:
    form = forms.TimeOffForm()
    span = form.instants(zone(_clinician().time_zone)) if form.validate() else None
    if span is not None:
        try:
            add_time_off(
                db.session, _own(), *span, form.label.data.strip(), now=utcnow(), actor=current_staff().actor
            )
        except InvalidHours as invalid:
            form[invalid.field].errors.append(str(invalid))
        else:
            return _saved("Your time off is saved.")
    return _page(time_off_form=form), 422


@bp.post("/time-off/<id:time_off_id>/remove")
@clinicians_only
def remove_days_off(time_off_id: int) -> ResponseReturnValue:
    remove_time_off(db.session, _own(), time_off_id, now=utcnow(), actor=current_staff().actor)
    return _saved("That time off is removed.")


def _page(hours_form: forms.HoursForm | None = None, time_off_form: forms.TimeOffForm | None = None) -> str:
    return render_template(
        "schedule/hours.html",
        found=hours_of(db.session, _own(), utcnow()),
        hours_form=hours_form or forms.HoursForm(formdata=None),
        time_off_form=time_off_form or forms.TimeOffForm(formdata=None),
        weekdays=forms.WEEKDAYS,
    )


def _saved(message: str) -> ResponseReturnValue:
    flash(message + " Bookings that no longer fit are listed first on this page.")
    return redirect(url_for(".hours"), 303)


def _own() -> int:
    if current_user.clinician_id is None:
        raise NotFound("This sign-in is not linked to a clinician. Ask an admin to link it.")
    return current_user.clinician_id


def _clinician() -> Clinician:
    return db.session.get(Clinician, _own())
