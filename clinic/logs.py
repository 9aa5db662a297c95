"""Log lines: one JSON object per line in production, readable text in development.

Each line carries the ids of what it is about (the request id of the request it belongs to, the
outbox message the worker is running, the staff member signed in), taken from a context variable,
so callers log ids and never personal data: no names, e-mail addresses, phone numbers, reasons for
visit or tokens. In JSON lines an exception is its type and stack without its text, which can quote
what was stored (a database error repeats its statement's parameters).
"""

import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, TextIO

from flask import Flask, Response, g, has_request_context, request

from .log_lines import REQUEST_ID_HEADER, JsonFormatter

# The same header as the WSGI environ holds it: read there, a request without one raises no KeyError inside
# werkzeug's header look-up.
_REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"
FORMATS = ("json", "text")
# An incoming request id is kept only if it is short and plain (no "@", no spaces, no quotes), so a
# client can neither forge a line nor slip an e-mail address into ours; any other gets a fresh one.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_context: ContextVar[Mapping[str, Any]] = ContextVar("clinic_log_context", default=MappingProxyType({}))
log = logging.getLogger(__name__)


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Every line logged inside the block carries these ids (besides those already in force)."""
    token = _context.set({**_context.get(), **ids})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**ids: Any) -> None:
    """Add ids to the request's context, for the rest of the request. Outside a request this module began
    (no request, or before its start) nothing is bound: the ids would outlive it, on the thread's later
    lines."""
    if has_request_context() and "log_context" in g:
        _context.set({**_context.get(), **ids})


class ContextFilter(logging.Filter):
    """Puts the ids in force on the record, with any fields a call passed as `extra={"fields": {...}}`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.fields = {**_context.get(), **getattr(record, "fields", {})}
        return True


class TextFormatter(logging.Formatter):
    """A readable line for development: the ids at the end, the whole traceback below."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        ids = " ".join(f"{name}={value}" for name, value in getattr(record, "fields", {}).items())
        return f"{super().formatMessage(record)} [{ids}]" if ids else super().formatMessage(record)


def log_handler(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    """A handler writing `log_format` ("json" or "text") lines to `stream` (standard error by default)."""
    if log_format not in FORMATS:
        raise ValueError(f"CLINIC_LOG_FORMAT must be json or text, not {log_format!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    return handler


def configure_logging(log_format: str, level: str) -> None:
    """Send this process's log lines to standard error, unless logging is set up already (by a test, or
    a deployment's own logging configuration): theirs then stands."""
    root = logging.getLogger()
    if root.handlers:
        return
    root.addHandler(log_handler(log_format))
    root.setLevel(level.upper())
    # APScheduler logs every tick at INFO; its warnings and errors are what matter.
    logging.getLogger("apscheduler").setLevel(max(root.level, logging.WARNING))


def init_app(app: Flask) -> None:
    """Set up this process's logging, and give every request an id: its lines carry it, its response
    names it in X-Request-ID. Call before anything else registers a before_request function or a URL
    value preprocessor: the request starts in the app's first, which Flask runs before both (a
    blueprint's preprocessor may already read who is signed in, and bind their id)."""
    configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    app.url_value_preprocessor(_start_request)
    app.after_request(_finish_request)
    app.teardown_request(_end_request)


def _start_request(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    incoming = request.environ.get(_REQUEST_ID_ENVIRON, "")
    request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    g.log_context = _context.set({"request_id": request_id})
    g.request_started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    request_id = _context.get().get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    if log.isEnabledFor(logging.DEBUG):  # production logs at INFO: no timing to compute
        # The endpoint, not the path: a path may hold a booking's reference.
        took = round((time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000, 1)
        log.debug("%s %s answered %s in %s ms", request.method, request.endpoint, response.status_code, took)
    return response


def _end_request(error: BaseException | None) -> None:
    token = g.pop("log_context", None)
    if token is not None:
        _context.reset(token)
