"""The hospital's catalogue in the admin area: departments, services, clinicians (and their hours), closures,
walk-in queues.

Each form posts to the page that drew it; a refused value is shown beside its field with a 422.
"""

from collections.abc import Callable
from datetime import datetime
from functools import partial

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..auth.access import current_staff
from ..extensions import db
from ..form_errors import show_beside, show_saved
from ..hospital.clinicians import (
    ZoneMove,
    bookings_to_come,
    clash_ids,
    clinicians_booking,
    clinicians_page,
    save_clinician,
    set_clinician_active,
    zone_move,
)
from ..hospital.closures import add_closure, closures_to_come, remove_closure
from ..hospital.departments import all_departments, departments_page, save_department
from ..hospital.records import ChangedMeanwhile, InvalidSetting, saved_version
from ..hospital.service_settings import all_services, save_service, services_page
from ..hospital.walk_in_queues import queues_of, queues_page, save_queue, set_queue_status
from ..models import Clinician, ConsultationStatus, Department, Service, WalkInQueue, utcnow
from ..schedule import hours
from ..scheduling.errors import NotFound
from ..scheduling.events import ListShown, record_list_read, record_read
from ..scheduling.front_desk import cancel_for_patient
from ..scheduling.lifecycle import Change, check_change, staff_changes
from ..scheduling.timezones import zone
from . import catalogue_forms as forms
from .catalogue_forms import RowForm
from .views import bp

hours.register(bp, "/clinicians/<id:clinician_id>")


@bp.get("/departments")
def departments() -> ResponseReturnValue:
    return _list("admin/departments.html", departments_page)


@bp.route("/departments/new", methods=["GET", "POST"], defaults={"department_id": None})
@bp.route("/departments/<id:department_id>", methods=["GET", "POST"])
def department(department_id: int | None) -> ResponseReturnValue:
    found = _found(Department, department_id, "There is no such department.")
    queues = queues_of(db.session, department_id) if found else []
    return _edit(
        partial(forms.DepartmentForm, obj=found), save_department, found, "department", queues=queues
    )


@bp.get("/services")
def services() -> ResponseReturnValue:
    return _list("admin/services.html", services_page)


@bp.route("/services/new", methods=["GET", "POST"], defaults={"service_id": None})
@bp.route("/services/<id:service_id>", methods=["GET", "POST"])
def service(service_id: int | None) -> ResponseReturnValue:
    found = _found(Service, service_id, "There is no such service.")
    return _edit(
        partial(forms.ServiceForm, all_departments(db.session), obj=found), save_service, found, "service"
    )


@bp.get("/clinicians")
def clinicians() -> ResponseReturnValue:
    return _list("admin/clinicians.html", clinicians_page)


@bp.route("/clinicians/new", methods=["GET", "POST"], defaults={"clinician_id": None})
@bp.route("/clinicians/<id:clinician_id>", methods=["GET", "POST"])
def clinician(clinician_id: int | None) -> ResponseReturnValue:
    found = _found(Clinician, clinician_id, "There is no such clinician.")
    form = partial(forms.ClinicianForm, all_departments(db.session), all_services(db.session), obj=found)
    extra = _bookings_to_come(clinician_id, utcnow()) if found else {}
    answer = _edit(form, partial(_save_clinician, found), found, "clinician", found=found, **extra)
    if found and isinstance(answer, tuple):  # the page, listing their bookings to come by patient
        shown, listed = ListShown("clinician bookings", found.department_id, found.id), extra["bookings"]
        record_list_read(db.session, shown, [c.id for c in listed], utcnow(), current_staff().actor)
    return answer


def _save_clinician(
    found: Clinician | None, session, clinician_id: int | None, settings, **kwargs
) -> Clinician:
    """Save as `save_clinician`, and say what a change of their zone did to their hours and bookings."""
    moving = found is not None and settings.time_zone != found.time_zone
    was, clashed = (found.time_zone, clash_ids(session, found, kwargs["now"])) if moving else (None, set())
    saved = save_clinician(session, clinician_id, settings, **kwargs)
    moved = zone_move(session, saved, was, clashed, kwargs["now"]) if was else None
    if moved:
        flash(_zone_moved(moved))
    return saved


def _zone_moved(moved: ZoneMove) -> str:
    minutes = abs(moved.earlier_minutes)
    whole, part = divmod(minutes, 60)
    amount = " ".join(text for text in (f"{whole} h" if whole else "", f"{part} min" if part else "") if text)
    shift = (
        f"each now starts {amount} {'earlier' if moved.earlier_minutes > 0 else 'later'} in {moved.was} time"
        if minutes
        else f"at present that is the same time as in {moved.was}"
    )
    fits = (
        "all those to come still fit their hours"
        if not moved.misfits
        else f"{moved.misfits} booking{'s' * (moved.misfits > 1)} to come no longer "
        f"fit{'s' * (moved.misfits == 1)} their hours: they are listed first on their hours page, to move"
    )
    return (
        f"Their weekly hours keep their clock times, now in {moved.to}: {shift}. "
        f"Their bookings keep their times; {fits}."
    )


def _bookings_to_come(clinician_id: int, now: datetime) -> dict:
    """The clinician's bookings to come, and what may still be done to each (a walk-in call: nothing)."""
    bookings = bookings_to_come(db.session, clinician_id, now)
    return {"bookings": bookings, "changes": {c.id: staff_changes(c, now) for c in bookings}}


@bp.post("/clinicians/<id:clinician_id>/active")
def clinician_active(clinician_id: int) -> ResponseReturnValue:
    # Said outright: a post whose field was lost must not deactivate anyone.
    active = {"yes": True, "no": False}.get(request.form.get("active", ""))
    if active is None:
        flash("Choose to deactivate or to reactivate.")
        return redirect(url_for(".clinician", clinician_id=clinician_id), 303)
    try:
        found, off_duty_of = set_clinician_active(
            db.session, clinician_id, active, now=utcnow(), actor=current_staff().actor
        )
    except InvalidSetting as refused:
        flash(f"{refused} Then deactivate them.")
    else:
        now_offered = "offered to patients again" if active else "no longer offered to patients"
        flash(f"{found.display_name} is {now_offered}.")
        if off_duty_of:
            flash(
                f"They are taken off the duty of {' and '.join(off_duty_of)}: once reactivated, put them "
                "back on each queue's page."
            )
    return redirect(url_for(".clinician", clinician_id=clinician_id), 303)


@bp.route("/clinicians/<id:clinician_id>/bookings/<id:consultation_id>/cancel", methods=["GET", "POST"])
def cancel_booking(clinician_id: int, consultation_id: int) -> ResponseReturnValue:
    """Asks first (GET), then cancels (POST); sent again, it says the booking is cancelled already."""
    booking = clinicians_booking(db.session, clinician_id, consultation_id)
    if booking.status is ConsultationStatus.CANCELLED:
        flash(f"Booking {booking.reference} was cancelled already.")
    elif request.method == "GET":
        now = utcnow()
        check_change(booking, Change.CANCEL, now)
        page = render_template("admin/cancel_booking.html", booking=booking)
        record_read(db.session, booking, "admin cancel page", now, current_staff().actor)
        return page
    else:
        reason = "The clinician is no longer available."
        cancel_for_patient(db.session, current_staff(), consultation_id, now=utcnow(), reason=reason)
        flash(f"Booking {booking.reference} is cancelled; the patient is told by e-mail.")
    return redirect(url_for(".clinician", clinician_id=clinician_id, _anchor="bookings"), 303)


@bp.route("/closures", methods=["GET", "POST"])
def closures() -> ResponseReturnValue:
    form = forms.ClosureForm(all_departments(db.session))
    if request.method == "POST" and form.validate():
        try:
            add_closure(
                db.session,
                form.chosen_department(),
                form.first_day.data,
                form.last_day.data,
                (form.label.data or "").strip(),
                tz=zone(current_app.config["DEFAULT_TIME_ZONE"]),
                now=utcnow(),
                actor=current_staff().actor,
            )
        except InvalidSetting as invalid:
            show_beside(form[invalid.field], str(invalid))
        else:
            flash("The closure is saved: patients can no longer book in it. Bookings in it are listed below.")
            return redirect(url_for(".closures"), 303)
    page = forms.PageQuery(request.args)
    now = utcnow()
    found = closures_to_come(db.session, now, page.page.data)
    drawn = render_template(
        "admin/closures.html", form=form, found=found, tz=current_app.config["DEFAULT_TIME_ZONE"]
    )
    # The bookings in each closure, by patient: recorded once the page is drawn, as the schedule's lists.
    listed = [c.id for clashes in found.clashes.values() for c in clashes]
    record_list_read(db.session, ListShown("closures", None), listed, now, current_staff().actor)
    return drawn, 422 if form.errors else 200


@bp.post("/closures/<id:closure_id>/remove")
def remove_closure_page(closure_id: int) -> ResponseReturnValue:
    if remove_closure(db.session, closure_id, now=utcnow(), actor=current_staff().actor):
        flash("The closure is removed: patients can book those days again.")
    else:
        flash("That closure was removed already: nothing changed.")
    return redirect(url_for(".closures"), 303)


@bp.get("/walk-in")
def walk_in_queues() -> ResponseReturnValue:
    return _list("admin/walk_in_queues.html", queues_page)


@bp.route("/walk-in/new", methods=["GET", "POST"], defaults={"queue_id": None})
@bp.route("/walk-in/<id:queue_id>", methods=["GET", "POST"])
def walk_in_queue(queue_id: int | None) -> ResponseReturnValue:
    found = _found(WalkInQueue, queue_id, "There is no such walk-in queue.")
    session = db.session
    clinicians = list(
        session.scalars(select(Clinician).where(Clinician.active).order_by(Clinician.display_name))
    )
    form = partial(forms.WalkInQueueForm, all_departments(session), all_services(session), clinicians, found)
    return _edit(form, save_queue, found, "walk_in_queue", found=found)


@bp.post("/walk-in/<id:queue_id>/status")
def walk_in_queue_status(queue_id: int) -> ResponseReturnValue:
    status = forms.QUEUE_STATUSES.get(request.form.get("status", ""))
    if status is None:
        flash("Choose open, paused or closed.")
        return redirect(url_for(".walk_in_queue", queue_id=queue_id), 303)
    try:
        queue = set_queue_status(db.session, queue_id, status, now=utcnow(), actor=current_staff().actor)
    except InvalidSetting as refused:
        flash(str(refused))
    else:
        flash(f"{queue.name} is {status.value} now.")
    return redirect(url_for(".walk_in_queue", queue_id=queue_id), 303)


def _list(template: str, page_of: Callable) -> str:
    query = forms.PageQuery(request.args)
    return render_template(template, found=page_of(db.session, query.page.data))


def _found(model: type, row_id: int | None, missing: str):
    """The row being edited (None for a new one); NotFound for an id that is not there."""
    if row_id is None:
        return None
    row = db.session.get(model, row_id)
    if row is None:
        raise NotFound(missing)
    return row


def _edit(form_of: Callable[..., RowForm], save: Callable, row, what: str, **context) -> ResponseReturnValue:
    """Draw the edit page of a `what` (department, service, clinician, walk-in queue) from `row` (None
    for a new one), or save what was posted and go back to their list. `form_of(from_row=True)` is the form
    as the row is saved now."""
    form, row_id, status = form_of(), row.id if row else None, 200
    if request.method == "POST" and form.validate():
        try:
            saved = save(
                db.session,
                row_id,
                form.settings(),
                now=utcnow(),
                actor=current_staff().actor,
                drawn=form.drawn.data if row_id else None,
            )
        except ChangedMeanwhile as meanwhile:
            show_saved(form, form_of(from_row=True), meanwhile.changed, _FIELD_OF)
            status = 409
        except InvalidSetting as invalid:
            show_beside(form[invalid.field], str(invalid))
        else:
            flash(f"Saved: {saved.display_name if what == 'clinician' else saved.name}.")
            return redirect(url_for(f".{what}s"), 303)
    if row is not None and (status == 409 or request.method == "GET"):
        form.drawn.data = saved_version(db.session, row)
    page = render_template(f"admin/{what}.html", form=form, what=what, row_id=row_id, **context)
    return page, 422 if status == 200 and form.errors else status


# The edit pages' fields of the rows' fields that are lists of other rows.
_FIELD_OF = {"services": "service_ids", "staff": "staff_ids"}
