"""The signed session cookie: Flask's own, with its signing serializer built once per set of keys, and a
visitor's session forgotten an hour after its last page.

A visitor (no staff sign-in) is mostly a patient, who has no account: their session keeps the passes of the
bookings and queue places they made or opened in this browser (booking.link_tokens), often on a shared
computer or a kiosk at the hospital. Its cookie stays a browser-session cookie (no Expires: closing the
browser forgets it), and the app takes it back only for PATIENT_SESSION_IDLE_MINUTES after the last page
that used it, which signs it again: a kiosk whose browser is never closed, or one that restores its last
session, no longer shows the last patient's bookings to the next person for Flask's 31 days. A caller
waiting in a queue keeps theirs, as their page asks again every few seconds.

A staff member's cookie is taken back as before, for PERMANENT_SESSION_LIFETIME: it carries only their
sign-in's token, which their session row judges on every request (idle timeout, absolute lifetime, logout:
staff.sessions).
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import BadSignature, URLSafeTimedSerializer

_STAFF_KEY = "_user_id"  # Flask-Login's: the sign-in's token (auth.sessions)


class CookieSession(SecureCookieSession):
    """Flask's cookie session, which says whether the cookie sent was a visitor's session forgotten after
    PATIENT_SESSION_IDLE_MINUTES without a page: the pages of what it held can say why it is gone."""

    forgotten_as_idle = False


class SignedCookieSessions(SecureCookieSessionInterface):
    """Flask's cookie sessions, but the serializer (which holds no state of a request) is kept while the
    keys stay the same: Flask builds a new one, and serializes a test value with it, on every request."""

    session_class = CookieSession

    def __init__(self) -> None:
        self._built: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        built = self._built
        if built is None or built[0] != keys:
            built = self._built = (keys, super().get_signing_serializer(app))
        return built[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """The cookie's session; an empty one if it is not signed by us, or is a visitor's signed longer
        ago than PATIENT_SESSION_IDLE_MINUTES, or anyone's longer ago than PERMANENT_SESSION_LIFETIME."""
        serializer = self.get_signing_serializer(app)
        value = request.cookies.get(self.get_cookie_name(app))
        if serializer is None or not value:
            return super().open_session(app, request)
        most = int(app.permanent_session_lifetime.total_seconds())
        try:
            content, signed_at = serializer.loads(value, max_age=most, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        idle = timedelta(minutes=app.config["PATIENT_SESSION_IDLE_MINUTES"])
        if not _signed_in(content) and signed_at < datetime.now(UTC) - idle:
            forgotten = self.session_class()
            forgotten.forgotten_as_idle = True
            return forgotten
        return self.session_class(content)

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        """Flask's rule, and a visitor's session that this page used is signed again: its idle time counts
        from its last page. (One no page used, a static file's, is left alone.)"""
        visiting = session.accessed and bool(session) and not _signed_in(session)
        return visiting or super().should_set_cookie(app, session)


def forgotten_as_idle(session: SessionMixin) -> bool:
    """Whether this request's session is a visitor's that was forgotten as idle (see CookieSession)."""
    return getattr(session, "forgotten_as_idle", False)


def _signed_in(content: Mapping) -> bool:
    return _STAFF_KEY in content
