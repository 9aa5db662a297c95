"""The staff booking page: choose a service, clinician and time for a patient on the phone, then book.

One page: the choices come with GET (so the back button and links work), the booking with POST.
"""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..auth.access import current_staff
from ..booking.calendar import group_by_day
from ..booking.calendar import page as calendar_page
from ..errors import status_for
from ..extensions import db
from ..form_errors import show_beside
from ..models import Clinician, Service, utcnow
from ..scheduling.availability import Booker
from ..scheduling.booking import booked_with_key
from ..scheduling.errors import (
    AlreadyBooked,
    BookingError,
    IdempotencyConflict,
    NotFound,
    NotOffered,
    SlotUnavailable,
)
from ..scheduling.front_desk import book_for_patient, bookable_clinicians, bookable_service, bookable_services
from ..scheduling.tokens import LinkKeys
from ..scheduling.visibility import sees
from ..staff.members import StaffMember
from .forms import StaffBookingForm
from .views import bp


@bp.route("/book", methods=["GET", "POST"])
def book() -> ResponseReturnValue:
    """GET: the choices and free times; POST: book them for the patient and show the consultation."""
    viewer = current_staff()
    if request.method == "GET":
        form = StaffBookingForm(request.args)
        return _page(viewer, form, _service(viewer, form))
    form = StaffBookingForm()
    wanted = form.checked_request(utcnow().astimezone(form.time_zone.chosen(form, _default_zone())).date())
    service = _service(viewer, form)  # after the form's own checks, which reset its fields' errors
    if service is None or wanted is None:
        return _page(viewer, form, service)
    try:
        booked = book_for_patient(
            db.session, viewer, wanted, now=utcnow(), keys=LinkKeys.from_config(current_app.config)
        )
    except SlotUnavailable as refusal:
        show_beside(form.start, str(refusal))
        return _page(viewer, form, service, refusal)
    except AlreadyBooked as held:
        show_beside(form.start, str(held))
        return _page(viewer, form, service, held)
    except NotFound as missing:
        show_beside(form[missing.field or "service"], str(missing))
        return _page(viewer, form, service)
    except IdempotencyConflict as used:
        return _form_used(viewer, form, service, used)
    consultation = booked.consultation
    if consultation.patient.email:
        flash(f"Booked {consultation.reference}. {consultation.patient.name} gets a confirmation e-mail.")
    else:
        flash(f"Booked {consultation.reference}. No e-mail: print the letter or read it to the patient.")
    return redirect(url_for("schedule.consultation", consultation_id=consultation.id), 303)


def _form_used(
    viewer: StaffMember, form: StaffBookingForm, service: Service | None, used: IdempotencyConflict
) -> ResponseReturnValue:
    """The form sent again with something changed after it booked (its first "Book" went through while the
    page hung): the booking it made, as it stands; the page again with a new key if `viewer` cannot see it."""
    made = booked_with_key(db.session, form.idempotency_key.data)
    if made is not None and sees(db.session, viewer, made.id):
        flash(
            f"This form booked {made.reference} already: nothing more was booked, and what was changed "
            "before sending it again was not saved. Check the booking below."
        )
        return redirect(url_for("schedule.consultation", consultation_id=made.id), 303)
    form.idempotency_key.renew()
    show_beside(form.start, "This form has booked a consultation already. Check the details and book again.")
    return _page(viewer, form, service, used)


def _page(
    viewer: StaffMember,
    form: StaffBookingForm,
    service: Service | None,
    refusal: BookingError | None = None,
) -> ResponseReturnValue:
    tz = form.time_zone.chosen(form, _default_zone())
    calendar = alternatives = None
    clinicians = []
    if service is not None:
        clinicians = bookable_clinicians(db.session, viewer, service)
        clinician_id = _offered_clinician_id(viewer, form, clinicians)
        days = current_app.config["BOOKING_DAYS_SHOWN"]
        calendar = calendar_page(
            db.session, service, clinician_id, tz, form.day.data, utcnow(), days, booker=Booker.STAFF
        )
    if isinstance(refusal, SlotUnavailable):
        alternatives = group_by_day([slot.start for slot in refusal.alternatives], tz)
    page = render_template(
        "schedule/book.html",
        form=form,
        services=bookable_services(db.session, viewer),
        service=service,
        clinicians=clinicians,
        calendar=calendar,
        alternatives=alternatives,
        first_available=not viewer.is_clinician,
    )
    return page, status_for(refusal) if refusal else (422 if form.errors else 200)


def _service(viewer: StaffMember, form: StaffBookingForm) -> Service | None:
    """The chosen service if `viewer` may book it; None (with the reason beside the field) otherwise."""
    if form.service.raw_data in (None, [], [""]):
        return None
    if not form.service.validate(form):
        return None
    try:
        return bookable_service(db.session, viewer, form.service.data)
    except NotFound as missing:
        show_beside(form.service, str(missing))
        return None


def _offered_clinician_id(
    viewer: StaffMember, form: StaffBookingForm, clinicians: list[Clinician]
) -> int | None:
    """Whose free times to show, and book with: a clinician's own (set on the form, which carries it to the
    booking); else the one chosen, or None for the first available. One chosen who does not offer the
    service (kept from another service chosen before) is said beside the field, once, and the first
    available shown instead, so that another may be chosen."""
    if viewer.is_clinician:
        form.clinician.data = viewer.clinician_id
        return viewer.clinician_id
    chosen = form.clinician.data
    if chosen is not None and chosen not in {c.id for c in clinicians}:
        if NotOffered.MESSAGE not in form.clinician.errors:  # the booking's refusal may have said it already
            show_beside(form.clinician, NotOffered.MESSAGE)
        chosen = form.clinician.data = None
    return chosen


def _default_zone() -> str:
    return current_app.config["DEFAULT_TIME_ZONE"]
