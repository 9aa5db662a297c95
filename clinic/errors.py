"""One place that turns errors into pages, or into problem+json (RFC 9457) under /api/."""

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from .scheduling.errors import (
    AlreadyBooked,
    BookingError,
    ChangeNotAllowed,
    NotFound,
    NotNow,
    SlotTaken,
    TooManyBookings,
)
from .scheduling.status import InvalidTransition

log = logging.getLogger(__name__)

# Status codes for the services' errors; anything else that is a BookingError is 422.
STATUS = {
    NotFound: 404,
    SlotTaken: 409,
    AlreadyBooked: 409,
    TooManyBookings: 409,
    ChangeNotAllowed: 409,
    InvalidTransition: 409,
    NotNow: 409,
}


def status_for(error: BookingError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 422


def problem(status: int, title: str, detail: str = "", **extra) -> Response:
    """An application/problem+json response."""
    body = {"type": "about:blank", "title": title, "status": status, **extra}
    if detail:
        body["detail"] = detail
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _wants_problem() -> bool:
    return request.path.startswith("/api/")


def register(app: Flask) -> None:
    @app.errorhandler(BookingError)
    def refused(error: BookingError):
        # Pages' refusals; the API's blueprint answers its own with problem+json.
        status = status_for(error)
        return render_template("error.html", code=status, message=str(error)), status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if _wants_problem():
            return problem(error.code or 500, error.name, error.description or "")
        return render_template("error.html", code=error.code, title=error.name), error.code

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        # Log the type and where only: exception text can carry personal data.
        log.error(
            "unhandled %s on %s %s",
            type(error).__name__,
            request.method,
            request.endpoint,
            exc_info=app.debug,
        )
        if _wants_problem():
            return problem(500, "Internal Server Error", "Something went wrong on our side.")
        return render_template("error.html", code=500, title="Something went wrong"), 500
