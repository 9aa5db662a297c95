"""One place that turns errors into pages, or into problem+json (RFC 9457) under /api/."""

import logging
import math
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_limiter import RateLimitExceeded
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .extensions import db, limiter
from .form_errors import show_beside
from .hospital.catalogue import contact_numbers
from .models.schema_revision import SchemaBehind
from .models.transactions import is_busy, is_full, is_out_of_reach
from .scheduling.errors import (
    AlreadyAtThatTime,
    AlreadyBooked,
    BookingError,
    ChangeNotAllowed,
    ClinicianNoLongerOffers,
    NotFound,
    NotNow,
    OfferEnded,
    SlotTaken,
    TooManyBookings,
)
from .scheduling.status import InvalidTransition
from .unstorable import UnstorableText

log = logging.getLogger(__name__)

# Status codes for the services' errors; anything else that is a BookingError is 422.
STATUS = {
    NotFound: 404,
    SlotTaken: 409,
    AlreadyBooked: 409,
    AlreadyAtThatTime: 409,
    ClinicianNoLongerOffers: 409,
    TooManyBookings: 409,
    ChangeNotAllowed: 409,
    InvalidTransition: 409,
    NotNow: 409,
    OfferEnded: 409,
}


# Seconds a client is asked to wait before trying again when the database was busy, out of reach, or full
# (which lasts until someone makes room).
BUSY_RETRY_AFTER = 5
AWAY_RETRY_AFTER = 30
FULL_RETRY_AFTER = 300
# What they are told, on a page or in a problem's detail.
BUSY = "The system is busy. Nothing was saved; please try again in a few seconds."
AWAY = "The system cannot reach its records just now. Please try again in a minute."
FULL = "The system cannot save anything just now. Nothing was saved; please try again later."
TOO_LARGE = (
    "What you sent was too large to save. Nothing was saved: go back, shorten the longest text and send it "
    "again."
)


# Said beside a form sent from a page that expired: its CSRF token older than WTF_CSRF_TIME_LIMIT, or the
# session that drew it gone (a browser closed, its tabs restored). See drawn_again_when_expired.
FORM_EXPIRED = (
    "This page was open for too long and has expired, so nothing was done. "
    "What you entered is kept: check it and send it again."
)
_View = TypeVar("_View", bound=Callable[..., ResponseReturnValue])


def drawn_again_when_expired(draw: Callable[..., ResponseReturnValue]) -> Callable[[_View], _View]:
    """Mark a view whose form, sent from an expired page, is shown again by `draw` rather than refused with
    a bare 400 page that loses what the person typed. `draw` takes the view's URL arguments and renders the
    page from the form as sent, `expired(form)`, acting on nothing: the token is never trusted."""

    def mark(view: _View) -> _View:
        view.drawn_again_when_expired = draw
        return view

    return mark


def expired(form: FlaskForm) -> FlaskForm:
    """`form`, FORM_EXPIRED beside it (the error summary says it); drawn, it carries a fresh token."""
    show_beside(form.csrf_token, FORM_EXPIRED)
    return form


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


def _retry_after() -> int:
    # Whole seconds until the limit this request broke lets it through again.
    broken = limiter.current_limit
    return max(1, math.ceil(broken.reset_at - time.time())) if broken else 60


def _phones() -> list[tuple[str, str]]:
    """The departments' numbers, on a patient's page, for booking by phone instead: staff need none. Empty
    if the database cannot say, as the page answers a database error already."""
    if request.blueprint != "booking":
        return []
    try:
        db.session.rollback()  # whatever the request's transaction left
        return contact_numbers(db.session)
    except DBAPIError:
        return []


def refusal_page(error: BookingError) -> tuple[str, int]:
    """A refusal on a page of its own, with its status."""
    status = status_for(error)
    return render_template("error.html", code=status, message=str(error)), status


def register(app: Flask) -> None:
    # Pages' refusals; the API's blueprint answers its own with problem+json, the schedule's staff
    # actions theirs on the consultation's page.
    app.register_error_handler(BookingError, refusal_page)

    @app.errorhandler(RateLimitExceeded)
    def too_many_requests(error: RateLimitExceeded):
        wait = _retry_after()
        headers = {"Retry-After": str(wait)}
        if _wants_problem():
            detail = f"Too many requests from your address. Try again in {wait} seconds."
            return problem(429, "Too Many Requests", detail, code="rate_limited"), headers
        page = render_template("rate_limited.html", wait=timedelta(seconds=wait), phones=_phones())
        return page, 429, headers

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError):
        # A lock stayed taken for all of DATABASE_LOCK_WAIT, or PostgreSQL ended the statement (a DBA's
        # statement_timeout): the attempt was rolled back, so say "busy, try again" (a booking's
        # idempotency key makes its retry safe) instead of a 500.
        # The database down or cut off: the same, for longer. Its disk full: the same to the client, and an
        # error in the log, as it lasts until someone makes room.
        if is_busy(error):
            return _try_again("busy", BUSY_RETRY_AFTER, BUSY)
        if is_out_of_reach(error):
            return _try_again("unavailable", AWAY_RETRY_AFTER, AWAY, reads=False)
        if is_full(error):
            why = "full (no room left on its disk)"
            return _try_again("unavailable", FULL_RETRY_AFTER, FULL, why=why, level=logging.ERROR)
        return unexpected(error)

    @app.errorhandler(SchemaBehind)
    def schema_behind(error: SchemaBehind):
        # Logged once where it was found (health.require_the_schema), not at each request refused.
        return _unavailable("unavailable", AWAY_RETRY_AFTER, AWAY, reads=False)

    def _try_again(
        code: str, wait: int, detail: str, why: str = "", level: int = logging.WARNING, reads: bool = True
    ):
        log.log(level, "database %s on %s %s", why or code, request.method, request.endpoint)
        return _unavailable(code, wait, detail, reads)

    def _unavailable(code: str, wait: int, detail: str, reads: bool):
        """503, to try again after `wait` seconds; on a patient's page, while the database still `reads`,
        with the departments' numbers to call instead."""
        headers = {"Retry-After": str(wait)}
        if _wants_problem():
            return problem(503, "Service Unavailable", detail, code=code), headers
        phones = _phones() if reads else []
        return render_template("error.html", code=503, message=detail, phones=phones), 503, headers

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        # Keep the exception's own headers (Allow on a 405, Retry-After on a 429, ...); the body is ours.
        headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
        if _wants_problem():
            response = problem(error.code or 500, error.name, error.description or "")
            response.headers.extend(headers)
            return response
        message = error.description if isinstance(error, UnstorableText) else None  # others keep the page's
        if isinstance(error, RequestEntityTooLarge):
            message = TOO_LARGE
        page = render_template("error.html", code=error.code, message=message)
        return page, error.code, headers

    @app.errorhandler(CSRFError)
    def form_expired(error: CSRFError):
        # CSRFProtect checks last before the view (create_app): the request was counted and tidied.
        draw = getattr(app.view_functions.get(request.endpoint), "drawn_again_when_expired", None)
        if draw is None:
            return http_error(error)
        try:
            response = make_response(draw(**(request.view_args or {})))
        except Exception as refused:
            # The booking gone, past its deadline, or no longer open in this browser: that error's own answer.
            return app.handle_user_exception(refused)
        response.status_code = 400  # refused: nothing was done
        return response

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
        return render_template("error.html", code=500), 500
