"""The services' errors as problem+json (RFC 9457), with what a client needs to recover."""

from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, g

from ..errors import problem, status_for
from ..scheduling.errors import BookingError, ChangeNotAllowed, SlotUnavailable, TooManyBookings
from ..scheduling.patients import InvalidDetails
from ..scheduling.timezones import zone
from .serializers import instant_json, slots_json


def show_times_in(tz: ZoneInfo) -> None:
    """Name the zone this request's answer, an error's alternatives included, gives times in."""
    g.api_time_zone = tz


def booking_problem(error: BookingError) -> Response:
    """One problem+json for every service error: a `code`, and the field, errors or alternatives."""
    status = status_for(error)
    tz = g.get("api_time_zone") or zone("UTC")
    detail = str(error)
    extra: dict[str, Any] = {"code": error.code}
    if error.field:
        extra["field"] = error.field
    if isinstance(error, InvalidDetails):
        detail = "Some fields are missing or not valid: see errors."
        extra["errors"] = error.errors
    if isinstance(error, SlotUnavailable):
        extra["alternatives"] = slots_json(error.alternatives, tz)
    if isinstance(error, ChangeNotAllowed | TooManyBookings):
        extra["contact_phone"] = error.contact_phone
    if isinstance(error, ChangeNotAllowed) and error.deadline:
        extra["deadline"] = instant_json(error.deadline, tz)
    return problem(status, HTTPStatus(status).phrase, detail, **extra)
