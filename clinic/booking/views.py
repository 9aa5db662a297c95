"""The public booking pages, and changing or cancelling a booking: parse with a form, call a service, render.

The manage link's own page, the waiting room, is in `rooms`.
"""

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from ..errors import drawn_again_when_expired, expired, status_for
from ..extensions import db
from ..form_errors import show_beside
from ..links import MANAGE_PATH, PRIVACY_PATH
from ..models import Consultation, ConsultationStatus, utcnow
from ..scheduling.booking import BookingRequest, book, booked_with_key, next_free_times
from ..scheduling.errors import (
    AlreadyAtThatTime,
    AlreadyBooked,
    ChangeNotAllowed,
    ClinicianNoLongerOffers,
    IdempotencyConflict,
    SlotUnavailable,
    TooManyBookings,
)
from ..scheduling.holders import resend_booking_link
from ..scheduling.lifecycle import (
    Change,
    cancel,
    change_cutoff,
    change_deadline,
    keeps_clinician,
    reschedule_by_patient,
)
from ..scheduling.patients import PatientDetails, date_in_words
from ..scheduling.slots import Slot
from ..scheduling.status import PATIENT_STATUS_LABELS
from ..scheduling.tokens import LinkKeys, manage_link
from ..session_cookie import forgotten_as_idle
from ..walkin.queue import open_queues
from . import calendar, forms
from .access import LinkClosed, booked_here, changeable, link_keys, managed, patient_actor
from .arrival import link_resent, say_closed
from .journey import Journey, OwnBooking, resolve
from .link_tokens import MANAGE
from .radio import day_links, radio, time_radios

bp = Blueprint("booking", __name__)
bp.add_app_template_filter(calendar.local_time)
bp.add_app_template_filter(calendar.hospital_time)
bp.add_app_template_filter(calendar.zone_on)
bp.add_app_template_filter(date_in_words)
bp.add_app_template_filter(change_cutoff)
bp.add_app_template_global(radio)
bp.add_app_template_global(forms.has_problem)
bp.add_app_template_global(time_radios)
bp.add_app_template_global(day_links)
bp.add_app_template_global(PATIENT_STATUS_LABELS, "patient_status_labels")


@bp.get("/")
def front_door() -> ResponseReturnValue:
    """The hospital's address alone: patients come to book, so it opens the booking pages."""
    return redirect(url_for(".choose_service"))


@bp.get("/book")
def choose_service() -> ResponseReturnValue:
    return _step(forms.ChoiceForm(request.args), "service")


@bp.get("/book/clinician")
def choose_clinician() -> ResponseReturnValue:
    return _step(forms.ChoiceForm(request.args), "clinician")


@bp.get("/book/time")
def choose_time() -> ResponseReturnValue:
    return _step(forms.ChoiceForm(request.args), "time")


@bp.get("/book/details")
def enter_details() -> ResponseReturnValue:
    form = forms.DetailsForm(request.args)
    return _page(_journey(form, "details", booked_here=booked_here), form)


# Each page again as sent from an expired one, acting on nothing (errors.drawn_again_when_expired).
def _details_again() -> ResponseReturnValue:
    form = expired(forms.DetailsForm())
    return _page(_sent_journey(form), form)


@bp.post("/book/details")
@drawn_again_when_expired(_details_again)
def review() -> ResponseReturnValue:
    form = forms.DetailsForm()
    # A time taken meanwhile: see confirm(). One this visitor booked: sent again after Back without script.
    journey = _sent_journey(form)
    if journey.step != "details":
        return _stopped(journey, form)
    if "change" in request.form:
        return _page(journey, form)
    wanted = form.checked_request(journey.today)
    if wanted is None:
        return _page(journey, form)
    return render_template("booking/review.html", form=form, journey=journey, patient=wanted.patient)


def _review_again() -> ResponseReturnValue:
    form = expired(forms.DetailsForm())
    journey = _sent_journey(form)
    patient = form.checked_patient(journey.today) if journey.step == "details" else None
    if patient is None:
        return _stopped(journey, form)
    return render_template("booking/review.html", form=form, journey=journey, patient=patient)


@bp.post("/book/confirm")
@drawn_again_when_expired(_review_again)
def confirm() -> ResponseReturnValue:
    form = forms.DetailsForm()
    journey, wanted = _wanted(form)
    if wanted is None:
        return _stopped(journey, form)
    config = current_app.config
    try:
        booked = book(
            db.session,
            wanted,
            now=journey.now,
            keys=LinkKeys.from_config(config),
            actor=patient_actor(),
            max_per_email=config["MAX_ACTIVE_BOOKINGS_PER_EMAIL"],
        )
    except AlreadyBooked as held:
        return _already_booked(form, journey), status_for(held)
    except SlotUnavailable as refusal:
        show_beside(form.start, str(refusal))
        form.refused.data = wanted.start
        return _other_times(form, journey, wanted.patient, refusal.alternatives), status_for(refusal)
    except IdempotencyConflict as used:
        return _form_used(form, journey, wanted, used)
    MANAGE.remember(booked.consultation.reference, booked.consultation.link_seed)
    return redirect(url_for(".confirmed", reference=booked.consultation.reference), 303)


def _already_booked_again() -> ResponseReturnValue:
    form = expired(forms.DetailsForm())
    journey = _sent_journey(form)
    return _already_booked(form, journey) if journey.step == "details" else _page(journey, form)


@bp.post("/book/resend-link")
@drawn_again_when_expired(_already_booked_again)
def resend_link() -> ResponseReturnValue:
    """Mail the link of the booking that stood in the way; the same page whether or not there is one."""
    form = forms.DetailsForm()
    journey, wanted = _wanted(form)
    if wanted is None:
        return _page(journey, form)
    resend_booking_link(
        db.session, wanted.service_id, wanted.patient, wanted.start, now=journey.now, actor=patient_actor()
    )
    department = journey.service.department
    return link_resent([(department.name, department.contact_phone)] if department.contact_phone else [])


@bp.get("/book/confirmed/<reference>")
def confirmed(reference: str) -> ResponseReturnValue:
    """The booking just made. Once it is no longer booked (cancelled, say, before Back came here or sent the
    reviewed form again), its page says what became of it instead: this one would say it is booked."""
    consultation = managed(reference)
    if consultation.status is not ConsultationStatus.BOOKED:
        return redirect(url_for(".manage", reference=consultation.reference), 303)
    link = manage_link(consultation, base_url=current_app.config["PUBLIC_BASE_URL"], keys=link_keys())
    deadline = change_deadline(consultation)
    return render_template(
        "booking/confirmed.html", consultation=consultation, manage_url=link, deadline=deadline, now=utcnow()
    )


@bp.get(PRIVACY_PATH)
def privacy() -> ResponseReturnValue:
    return render_template("booking/privacy.html")


def _cancel_again(reference: str) -> ResponseReturnValue:
    return _cancel_page(changeable(reference, Change.CANCEL), expired(forms.CancelForm()))


@bp.route(f"{MANAGE_PATH}/cancel", methods=["GET", "POST"])
@drawn_again_when_expired(_cancel_again)
def cancel_consultation(reference: str) -> ResponseReturnValue:
    consultation = changeable(reference, Change.CANCEL)
    form = forms.CancelForm()
    if form.validate_on_submit():
        cancel(db.session, consultation.id, now=utcnow(), actor=patient_actor(), reason=form.reason.data)
        _say_done(consultation, "Your consultation is cancelled.", "to confirm", "Booking cancelled")
        return redirect(url_for(".manage", reference=consultation.reference), 303)
    return _cancel_page(consultation, form)


@bp.get(f"{MANAGE_PATH}/reschedule")
def choose_new_time(reference: str) -> ResponseReturnValue:
    consultation = changeable(reference, Change.MOVE)
    form = forms.RescheduleForm(request.args, time_zone=consultation.patient_time_zone)
    return _new_time_page(consultation, form)


def _move_again(reference: str) -> ResponseReturnValue:
    consultation = changeable(reference, Change.MOVE)
    form = forms.RescheduleForm(time_zone=consultation.patient_time_zone)
    return _new_time_page(consultation, expired(form))


@bp.post(f"{MANAGE_PATH}/reschedule")
@drawn_again_when_expired(_move_again)
def reschedule_consultation(reference: str) -> ResponseReturnValue:
    consultation = changeable(reference, Change.MOVE)
    form = forms.RescheduleForm(time_zone=consultation.patient_time_zone)
    if form.validate():
        if (refusal := _refused_move(consultation, form)) is None:
            _say_done(consultation, "Your consultation has moved.", "an updated invitation", "Booking moved")
            return redirect(url_for(".manage", reference=consultation.reference), 303)
        show_beside(form.start, refusal)
    return _new_time_page(consultation, form)


def _refused_move(consultation: Consultation, form: forms.RescheduleForm) -> str | None:
    """Move the booking to the form's time; why not, if refused. The form sent again finds its move made:
    the same outcome as its first sending, not "already its time"."""
    try:
        reschedule_by_patient(db.session, consultation, form.start.data, now=utcnow(), actor=patient_actor())
    except AlreadyAtThatTime as there:
        return None if form.moved_already else str(there)
    # ClinicianNoLongerOffers: taken from their clinician since the page was drawn; drawn again, it offers
    # the times of those who give it.
    except (SlotUnavailable, AlreadyBooked, ClinicianNoLongerOffers) as refusal:
        return str(refusal)
    return None


@bp.errorhandler(ChangeNotAllowed)
def too_late(error: ChangeNotAllowed) -> ResponseReturnValue:
    return render_template("booking/too_late.html", error=error), status_for(error)


@bp.errorhandler(LinkClosed)
def link_closed(error: LinkClosed) -> ResponseReturnValue:
    """A booking's (invitation's, offer's, place's) page, or a form sent from one, that this browser session
    holds no pass to: led to its link's page, which asks for the link, saying why when the session was
    closed as idle (or the form's page held the pass). A form sent from a page whose session is gone is
    refused by its token first: its page drawn again (errors.drawn_again_when_expired) meets the pass
    check, and comes here."""
    if forgotten_as_idle(session) or request.method == "POST":
        say_closed(error.room)
    return redirect(url_for(error.room, reference=request.view_args["reference"].upper()), 303)


@bp.errorhandler(TooManyBookings)
def too_many(error: TooManyBookings) -> ResponseReturnValue:
    return render_template("booking/too_many_bookings.html", error=error), status_for(error)


def _say_done(consultation: Consultation, done: str, mailed: str, title: str) -> None:
    """Say on the booking's page what the patient's change did, and that a mail follows only if one does:
    a patient booked by phone without an address (who opened it with their letter's code) is sent none.
    Said once: a form sent again before its first answer was shown finds it waiting (Flask's _flashes)."""
    said = (title, f"{done} We will e-mail you {mailed}." if consultation.patient.email else done)
    if said not in session.get("_flashes", []):
        flash(said[1], said[0])


def _step(form: forms.ChoiceFields, target: str) -> ResponseReturnValue:
    return _page(_journey(form, target), form)


def _wanted(form: forms.DetailsForm) -> tuple[Journey, BookingRequest | None]:
    """The journey, and the booking the reviewed form asks for (None, with its errors, if it is wrong).

    The time is not checked here: booking re-checks it and, if it is gone, offers others without
    losing the details. The visitor's own booking of it, if any, is the journey's booked_here.
    """
    journey = _sent_journey(form)
    return journey, form.checked_request(journey.today) if journey.step == "details" else None


def _sent_journey(form: forms.DetailsForm) -> Journey:
    """The journey a posted details form stands for; its time is checked by booking it (see confirm)."""
    return _journey(form, "details", check_free=False, booked_here=booked_here)


def _journey(
    form: forms.ChoiceFields, target: str, check_free: bool = True, booked_here: OwnBooking | None = None
) -> Journey:
    config = current_app.config
    return resolve(
        db.session,
        form,
        target,
        now=utcnow(),
        days_shown=config["BOOKING_DAYS_SHOWN"],
        default_zone=config["DEFAULT_TIME_ZONE"],
        check_free=check_free,
        twelve_hour=calendar.twelve_hour_reader(),
        booked_here=booked_here,
    )


# Said beside the time when the reviewed form's key booked another time (see _form_used).
FORM_USED = "This form has booked a consultation already. Check the details and confirm again."


def _form_used(
    form: forms.DetailsForm, journey: Journey, wanted: BookingRequest, used: IdempotencyConflict
) -> ResponseReturnValue:
    """The reviewed form sent again with another time after its key booked one (without script, Back from
    the confirmation sends again the form that lost the race): the booking it made, to the browser that made
    it; to any other, the review again with a fresh key."""
    made = booked_with_key(db.session, wanted.idempotency_key)
    if made is not None and MANAGE.holds(made.reference):
        return redirect(url_for(".confirmed", reference=made.reference), 303)
    form.idempotency_key.renew()
    show_beside(form.start, FORM_USED)
    page = render_template("booking/review.html", form=form, journey=journey, patient=wanted.patient)
    return page, status_for(used)


def _stopped(journey: Journey, form: forms.DetailsForm) -> ResponseReturnValue:
    """The step a posted details form stopped at, its message beside the field. The page of other times
    (see confirm) sent without one chosen is that page again, its details kept: the time step would lose
    them, as its links carry nothing personal."""
    if journey.step == "time" and form.start.errors and form.refused.data is not None:
        patient = form.checked_patient(journey.today)
        if patient is not None:
            after = max(form.refused.data, journey.now)
            slots = next_free_times(db.session, journey.service, after, journey.now, journey.clinician_id)
            return _other_times(form, journey, patient, slots), 422
    return _page(journey, form)


def _other_times(
    form: forms.DetailsForm, journey: Journey, patient: PatientDetails, slots: list[Slot]
) -> str:
    """The review page offering `slots` instead of the time `form.refused` holds, the details kept."""
    alternatives = journey.times(slots)
    return render_template(
        "booking/review.html", form=form, journey=journey, patient=patient, alternatives=alternatives
    )


def _page(journey: Journey, form: forms.ChoiceFields) -> ResponseReturnValue:
    """The journey's current step; 422 when it shows because a choice was wrong. Its first step, choosing a
    service, also leads to the walk-in lines open now, for those who need to talk to someone today."""
    lines = open_queues(db.session, utcnow()) if journey.step == "service" else []
    page = render_template(f"booking/{journey.step}.html", form=form, journey=journey, walk_in_lines=lines)
    return page, 422 if form.errors else 200


def _already_booked(form: forms.DetailsForm, journey: Journey) -> str:
    return render_template("booking/already_booked.html", form=form, journey=journey)


def _cancel_page(consultation: Consultation, form: forms.CancelForm) -> ResponseReturnValue:
    page = render_template("booking/cancel.html", form=form, consultation=consultation)
    return page, 422 if form.errors else 200


def _new_time_page(consultation: Consultation, form: forms.RescheduleForm) -> ResponseReturnValue:
    """The times to move to, from the day asked for; a form sent back (a time refused, a page expired)
    shows the days from the time it chose, checked. Those of its clinician, or once that one no longer
    gives the service, of whoever does (`reschedule_by_patient`)."""
    now = utcnow()
    keeps = keeps_clinician(db.session, consultation)
    tz = form.time_zone.chosen(form, consultation.patient_time_zone)
    days_shown = current_app.config["BOOKING_DAYS_SHOWN"]
    chosen_day = form.start.data.astimezone(tz).date() if form.start.data else None
    form.moving_from.data = consultation.starts_at  # the time the page shows it at
    found = calendar.page(
        db.session,
        consultation.service,
        consultation.clinician_id if keeps else None,
        tz,
        form.day.data or chosen_day,
        now,
        days_shown,
        twelve_hour=calendar.twelve_hour_reader(),
        moving=consultation,
    )
    page = render_template(
        "booking/reschedule.html", form=form, consultation=consultation, calendar=found, keeps_clinician=keeps
    )
    return page, 422 if form.errors else 200
