"""The waitlist's pages: joining it when no time suits, the entry's link (to leave), and an offer's link,
which books the time offered in one step."""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..errors import drawn_again_when_expired, expired, status_for
from ..extensions import db
from ..form_errors import show_beside, show_beside_fields
from ..links import OFFER_PATH, WAITLIST_PATH
from ..models import OfferStatus, WaitlistOffer, WaitlistStatus, utcnow
from ..scheduling.availability import service_clinicians
from ..scheduling.errors import AlreadyBooked, IdempotencyConflict, NotFound, OfferEnded
from ..scheduling.offered import active_service
from ..scheduling.offers import still_free, take_offer, time_of
from ..scheduling.patients import InvalidDetails
from ..scheduling.timezones import zone_label
from ..scheduling.tokens import waitlist_link
from ..scheduling.waitlist import join_waitlist, leave_waitlist, waitlist_days
from .access import link_keys, offered, patient_actor, waitlisted
from .arrival import arriving, entered, entered_again
from .calendar import local_day
from .link_tokens import MANAGE, OFFER, WAITLIST
from .views import bp
from .waitlist_form import WaitlistForm

bp.add_app_template_filter(local_day)


@bp.get("/book/waitlist")
def waitlist_form() -> ResponseReturnValue:
    return _form_page(WaitlistForm(request.args))


def _join_again() -> ResponseReturnValue:
    """The form again as sent from a page that expired, joining nothing (errors.drawn_again_when_expired)."""
    return _form_page(expired(WaitlistForm()))


@bp.post("/book/waitlist")
@drawn_again_when_expired(_join_again)
def join() -> ResponseReturnValue:
    form = WaitlistForm()
    today = utcnow().astimezone(form.time_zone.chosen(form, _default_zone())).date()
    wanted = form.checked_request(today)
    if wanted is None:
        return _form_page(form)
    try:
        joined = join_waitlist(db.session, wanted, now=utcnow(), keys=link_keys(), actor=patient_actor())
    except InvalidDetails as invalid:  # days that do not fit the service
        show_beside_fields(form, invalid.errors)
        return _form_page(form)
    except IdempotencyConflict as used:  # the form's key, sent again with other details
        form.join_key.renew()
        show_beside(form.name, str(used))
        return _form_page(form)[0], status_for(used)
    except NotFound as missing:  # the service is gone (404), or the clinician no longer offers it
        if missing.field != "clinician":
            raise
        return _form_page(form)  # which asks for a clinician from its list
    WAITLIST.remember(joined.entry.reference, joined.entry.link_seed)
    return redirect(url_for(".joined", reference=joined.entry.reference), 303)


@bp.get("/book/waitlist/joined/<reference>")
def joined(reference: str) -> ResponseReturnValue:
    entry = waitlisted(reference)
    link = waitlist_link(entry, base_url=current_app.config["PUBLIC_BASE_URL"], keys=link_keys())
    return render_template("booking/waitlist_joined.html", entry=entry, link=link, shared=_offers_shared())


@bp.get(WAITLIST_PATH)
def waitlist_entry(reference: str) -> ResponseReturnValue:
    if landing := arriving(reference, WAITLIST, waitlisted, ".waitlist_entry", "place on the waitlist"):
        return landing
    return render_template("booking/waitlist_entry.html", entry=waitlisted(reference))


@bp.post(WAITLIST_PATH)
@drawn_again_when_expired(entered_again(WAITLIST, "place on the waitlist"))
def open_waitlist_entry(reference: str) -> ResponseReturnValue:
    return entered(reference, WAITLIST, waitlisted, ".waitlist_entry", "place on the waitlist")


@bp.get(f"{WAITLIST_PATH}/leave")
def confirm_leaving(reference: str) -> ResponseReturnValue:
    """Leaving asks once more, as the walk-in queue does; a place left already just shows."""
    entry = waitlisted(reference)
    if entry.status is not WaitlistStatus.WAITING:
        return redirect(url_for(".waitlist_entry", reference=entry.reference), 303)
    return render_template("booking/waitlist_leave.html", entry=entry)


# Said on the question drawn again for its answer sent from a page that expired (see _leave_again).
LEAVE_EXPIRED = (
    "This page was open for too long and has expired, so you are still on the waitlist. "
    "To leave it, press the button again."
)


def _leave_again(reference: str) -> ResponseReturnValue:
    """The question again for its answer whose token expired, leaving nothing; the place, if it is no longer
    waiting. Without the place's pass (the session forgotten as idle), LinkClosed leads to its link's form
    (views.link_closed)."""
    entry = waitlisted(reference)
    if entry.status is not WaitlistStatus.WAITING:
        return render_template("booking/waitlist_entry.html", entry=entry)
    flash(LEAVE_EXPIRED, "Error: Not left")
    return render_template("booking/waitlist_leave.html", entry=entry)


@bp.post(f"{WAITLIST_PATH}/leave")
@drawn_again_when_expired(_leave_again)
def leave(reference: str) -> ResponseReturnValue:
    """Leave, then show the place (now left) by GET: Back and Reload send nothing again."""
    entry = leave_waitlist(db.session, waitlisted(reference).id, now=utcnow(), actor=patient_actor())
    return redirect(url_for(".waitlist_entry", reference=entry.reference), 303)


@bp.get(OFFER_PATH)
def offer(reference: str) -> ResponseReturnValue:
    if landing := arriving(reference, OFFER, offered, ".offer", "offer"):
        return landing
    return _offer_page(offered(reference))


@bp.post(OFFER_PATH)
@drawn_again_when_expired(entered_again(OFFER, "offer"))
def open_offer(reference: str) -> ResponseReturnValue:
    return entered(reference, OFFER, offered, ".offer", "offer")


# Said on the offer drawn again for its form sent from a page that expired (see _take_again).
TAKE_EXPIRED = (
    "This page was open for too long and has expired, so nothing was booked. "
    'If the time is still free, press "Book this time" again.'
)


def _take_again(reference: str) -> ResponseReturnValue:
    """The offer again for its form whose token expired, booking nothing; without the offer's pass (the
    session forgotten as idle), LinkClosed leads to its link's form (views.link_closed)."""
    offer = offered(reference)
    flash(TAKE_EXPIRED, "Error: Not booked")
    return _offer_page(offer)


@bp.post(f"{OFFER_PATH}/book")
@drawn_again_when_expired(_take_again)
def take(reference: str) -> ResponseReturnValue:
    offer = offered(reference)
    config = current_app.config
    try:
        booked = take_offer(
            db.session,
            offer.id,
            now=utcnow(),
            keys=link_keys(),
            actor=patient_actor(),
            max_per_email=config["MAX_ACTIVE_BOOKINGS_PER_EMAIL"],
        )
    except (OfferEnded, AlreadyBooked) as refusal:
        return _offer_page(offered(reference), refusal), status_for(refusal)
    MANAGE.remember(booked.consultation.reference, booked.consultation.link_seed)
    return redirect(url_for(".confirmed", reference=booked.consultation.reference), 303)


def _offer_page(offer: WaitlistOffer, refusal: Exception | None = None) -> str:
    now = utcnow()
    offered_now = offer.status is OfferStatus.OFFERED and now < offer.expires_at
    # Booked another way since: gone, though housekeeping has not yet ended the offer.
    time_gone = offered_now and not still_free(db.session, time_of(offer), now)
    return render_template(
        "booking/waitlist_offer.html",
        offer=offer,
        entry=offer.entry,
        open_now=offered_now and not time_gone and refusal is None,
        time_gone=time_gone,
        refusal=refusal,
        now=now,
        shared=_offers_shared(),
    )


def _form_page(form: WaitlistForm) -> ResponseReturnValue:
    """The form, with the service and the clinicians to choose from; 422 when it shows errors."""
    try:
        service = active_service(db.session, form.service.data)
    except NotFound as missing:
        return render_template("error.html", code=404, message=str(missing)), 404
    clinicians = service_clinicians(db.session, service)
    if form.clinician.data is not None and form.clinician.data not in {c.id for c in clinicians}:
        show_beside(form.clinician, "Choose a clinician from the list.")
    tz = form.time_zone.chosen(form, _default_zone())
    zone_name = zone_label(tz, utcnow())
    if form.time_zone.replaced:  # the zone comes from the time page's link: there is no list to choose from
        form.time_zone.errors = [
            f"We could not tell your time zone, so these are days in {zone_name}. Check them, then send "
            "the form again."
        ]
    form.offer_days(*waitlist_days(service, utcnow(), tz))
    page = render_template(
        "booking/waitlist.html",
        form=form,
        service=service,
        clinicians=clinicians,
        zone=tz,
        zone_name=zone_name,
        shared=_offers_shared(),
    )
    return page, 422 if form.errors else 200


def _offers_shared() -> bool:
    """Whether each freed time is offered to several patients at once, the first to book it getting it."""
    return current_app.config["WAITLIST_OFFERS_PER_TIME"] > 1


def _default_zone() -> str:
    return current_app.config["DEFAULT_TIME_ZONE"]
