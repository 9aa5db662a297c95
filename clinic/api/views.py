"""The /api/v1 endpoints: parse with `schemas`, call one service, serialise."""

from datetime import datetime
from functools import cache

from flask import Blueprint, Response, current_app, request, url_for

from ..audit import Actor
from ..extensions import db
from ..hospital.catalogue import offered_services
from ..links import privacy_url
from ..models import Consultation, Service, utcnow
from ..scheduling.availability import Booker, clinician_name, find_new_slots, find_slots
from ..scheduling.booking import book
from ..scheduling.errors import BookingError
from ..scheduling.events import record_read
from ..scheduling.lifecycle import Change, cancel, check_online_change, consultation_for_token, reschedule
from ..scheduling.offered import OfferedService, offered_service
from ..scheduling.slots import Slot
from ..scheduling.timezones import zone
from ..scheduling.tokens import LinkKeys
from ..scheduling.waiting_room import JoinWindow, join_as_patient
from . import schemas
from .problems import booking_problem, show_times_in
from .serializers import booking_json, service_json, slots_json

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.register_error_handler(BookingError, booking_problem)


@bp.get("/services")
def services() -> dict:
    return {"services": [service_json(service) for service in offered_services(db.session)]}


@bp.get("/privacy-notice")
def privacy_notice() -> dict:
    """The notice a patient must be shown and agree to before booking, and its version to send back."""
    # From PUBLIC_BASE_URL, as every link sent is: the request's Host may be a proxy's inner address.
    config = current_app.config
    return {"version": config["PRIVACY_NOTICE_VERSION"], "url": privacy_url(config["PUBLIC_BASE_URL"])}


@bp.get("/slots")
def slots() -> dict:
    query = schemas.slot_query(request.args)
    found = _free_times(query, utcnow())
    return {
        "service": query.service_id,
        "time_zone": query.tz.key,
        "slots": slots_json(found, query.tz),
    }


def _free_times(query: schemas.SlotQuery, now: datetime) -> list[Slot]:
    """The service's free times; or, for a booking being moved (opened by its manage token, as to reschedule
    it), those it may move to, as its patient's reschedule page offers them."""
    if query.moving is None:
        show_times_in(query.tz)
        service = offered_service(db.session, query.service_id)
        return find_slots(db.session, service, query.window_start, query.window_end, now, query.clinician_id)
    moving = _managed(query.moving)
    show_times_in(query.tz)
    check_online_change(moving, Change.MOVE, now)
    if moving.service_id != query.service_id:
        raise schemas.InvalidInput(
            {"moving": f"This booking moves within its own service: ask for service {moving.service_id}."}
        )
    window = query.window_start, query.window_end
    return find_new_slots(db.session, moving, *window, now, query.clinician_id, Booker.of(_actor()))


@bp.post("/bookings")
def create_booking() -> tuple[dict, int, dict]:
    now = utcnow()
    key = schemas.idempotency_key(request.headers)
    wanted = schemas.booking_request(
        schemas.json_object(request),
        idempotency_key=key,
        now=now,
        notice_version=current_app.config["PRIVACY_NOTICE_VERSION"],
        smtputf8=current_app.config["MAIL_SMTPUTF8"],
        language=request.accept_languages.best or "",
    )
    show_times_in(zone(wanted.patient.time_zone))
    config = current_app.config
    booked = book(
        db.session,
        wanted,
        now=now,
        keys=LinkKeys.from_config(config),
        actor=_actor(),
        max_per_email=config["MAX_ACTIVE_BOOKINGS_PER_EMAIL"],
    )
    consultation = booked.consultation
    headers = {"Location": url_for(".booking", reference=consultation.reference)}
    if booked.replayed:
        headers["Idempotent-Replayed"] = "true"
    name = None if booked.replayed else clinician_name(db.session, consultation.clinician_id)
    return (
        {**_booking_json(consultation, booked.service, name), "manage_token": booked.manage_token},
        201,
        headers,
    )


@bp.get("/bookings/<reference>")
def booking(reference: str) -> dict:
    consultation = _managed(reference)
    record_read(db.session, consultation, "api booking", utcnow(), _actor())
    return _booking_json(consultation)


@bp.post("/bookings/<reference>/cancel")
def cancel_booking(reference: str) -> dict:
    consultation = _managed(reference)
    reason = schemas.cancel_reason(schemas.json_object(request, optional=True))
    return _booking_json(cancel(db.session, consultation.id, now=utcnow(), actor=_actor(), reason=reason))


@bp.post("/bookings/<reference>/reschedule")
def reschedule_booking(reference: str) -> dict:
    consultation = _managed(reference)
    body = schemas.json_object(request)
    change = schemas.reschedule_request(body, default_time_zone=consultation.patient_time_zone)
    show_times_in(change.tz)
    moved = reschedule(
        db.session,
        consultation.id,
        change.start,
        now=utcnow(),
        actor=_actor(),
        clinician_id=change.clinician_id,
    )
    return _booking_json(moved)


@bp.post("/bookings/<reference>/join")
def join_call(reference: str) -> dict:
    """The call's link, the patient checked in on the way as their page's Join button does: their clinician
    sees them waiting."""
    consultation = _managed(reference)
    window = JoinWindow.from_config(current_app.config)
    join_as_patient(db.session, consultation, now=utcnow(), actor=_actor(), window=window)
    return _booking_json(consultation)


@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(_openapi_document(), mimetype="application/json")


@cache
def _openapi_document() -> bytes:
    with bp.open_resource("openapi.json") as document:
        return document.read()


def _booking_json(
    consultation: Consultation,
    service: Service | OfferedService | None = None,
    named: str | None = None,
) -> dict:
    window = JoinWindow.from_config(current_app.config)
    return booking_json(consultation, service, now=utcnow(), window=window, clinician_name=named)


def _managed(reference: str) -> Consultation:
    """The booking the bearer token opens; 404 alike for a wrong token and an unknown reference."""
    consultation = consultation_for_token(
        db.session,
        reference,
        schemas.bearer_token(request.headers),
        keys=LinkKeys.from_config(current_app.config),
        now=utcnow(),
        grace_days=current_app.config["MANAGE_LINK_GRACE_DAYS"],
    )
    show_times_in(zone(consultation.patient_time_zone))
    return consultation


def _actor() -> Actor:
    return Actor("patient", request.remote_addr)
