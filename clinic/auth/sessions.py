"""Staff sessions in the web layer: Flask-Login over `staff_session` rows, the half-signed-in state
between password and second factor, and safe redirects.

Flask-Login's user id is the session's random token: the loader checks that session in the
database on every request (clinic/staff/sessions.py), so logout, the idle timeout, the absolute
lifetime, a password change, a deactivation or an admin ends every copy of the cookie at once.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, request, session
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_url, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from ..extensions import db, login_manager
from ..logs import bind
from ..models import SessionEnd, StaffUser, utcnow
from ..staff.sessions import Client, SessionUser, check_session
from ..staff.signin import PasswordPassed, SecondStep, SignInRules

PENDING = "staff_pending"
# Between the password and the second factor: long enough to fetch a phone or install an app.
PENDING_SECONDS = 600

SIGN_IN_TO_SEE = "Sign in to see that page."
# Nothing keeps what a form carried without a live session: whoever sent it is told so, plainly.
NOT_SAVED = "What you sent was not saved. Sign in to go back to its page."
# Set when this browser's session ended for being idle, until its sign-in page is next drawn.
_ENDED_IDLE = "ended_idle"


@dataclass(frozen=True)
class Pending:
    """A sign-in whose password `passed` and whose `step` is still due; `next` is where it was going."""

    passed: PasswordPassed
    step: SecondStep
    next: str | None


@login_manager.user_loader
def load_staff(token: str) -> SessionUser | None:
    view = current_app.view_functions.get(request.endpoint or "")
    activity = getattr(view, "counts_as_activity", True)  # see access.background
    check = check_session(db.session, token, now=utcnow(), rules=rules().sessions, activity=activity)
    if check.user is None:
        session.pop("_user_id", None)  # Flask-Login's key: a dead token need not be looked up again
        _say_why(check.ended)
    else:
        bind(staff_id=check.user.id)  # the rest of the request's log lines say who
    return check.user


@login_manager.unauthorized_handler
def to_sign_in() -> ResponseReturnValue:
    """To the sign-in page, which leads back to the page asked for; a form sent (a POST, whose address
    may answer posts only) leads back to the nearest page at or above its address, its own page."""
    sent = request.method not in ("GET", "HEAD")
    flash(NOT_SAVED if sent else SIGN_IN_TO_SEE)
    back = _page_at_or_above(request.path) if sent else request.full_path.removesuffix("?")
    return redirect(login_url("auth.login", next_url=back and request.script_root + back))


def _page_at_or_above(path: str) -> str | None:
    adapter = current_app.create_url_adapter(request)
    while path:
        try:
            adapter.match(path, method="GET")
        except RequestRedirect:  # the same page, with its slash
            return path
        except HTTPException:
            path = path.rpartition("/")[0]
        else:
            return path
    return None


def load_before_request() -> None:
    """Check the staff session first thing, while the database session holds no changes of the
    view's: the check may write (a refreshed last_seen_at, or the end of a dead session).

    A check the database could not answer leaves nobody signed in for the rest of the request: the
    error page that answers it asks for the user again, which would raise out of the app. The cookie
    is kept, so the next request checks the session again."""
    try:
        current_user._get_current_object()
    except SQLAlchemyError:
        login_manager._update_request_context_with_user()  # Flask-Login's own way to set no one
        raise


def rules() -> SignInRules:
    return SignInRules.from_config(current_app.config)


def client() -> Client:
    return Client(request.remote_addr, request.user_agent.string)


def start(user: StaffUser, token: str) -> None:
    """Mark this browser signed in with the session `token` (after every factor passed)."""
    session.clear()  # nothing from before the sign-in carries over into the staff session
    user.session_token = token
    login_user(user)


def end() -> None:
    """Forget the staff member in this browser (the caller ends the session row itself)."""
    logout_user()


def hold_pending(passed: PasswordPassed, step: SecondStep, next_path: str | None) -> None:
    """Remember, in the signed cookie and for a short while, whose password passed, and which one."""
    session.clear()
    session[PENDING] = {
        "user": passed.user_id,
        "password": passed.password_mark,
        "step": str(step),
        "until": utcnow().timestamp() + PENDING_SECONDS,
        "next": local_path(next_path),
    }


def pending(step: SecondStep) -> Pending | None:
    """The half-finished sign-in waiting for `step`, unless there is none or it has gone stale."""
    held = session.get(PENDING)
    if not isinstance(held, dict) or held.get("step") != step or held.get("until", 0) < utcnow().timestamp():
        return None
    if not isinstance(held.get("password"), str):  # held before passwords were marked: start again
        return None
    return Pending(PasswordPassed(held["user"], held["password"]), step, held.get("next"))


def drop_pending() -> None:
    session.pop(PENDING, None)


def local_path(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None: a `next` link must not lead elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read "\" as "/" and drop tabs and newlines, so "/\evil.example" leaves the site.
    if "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def _say_why(ended: SessionEnd | None) -> None:
    config = current_app.config
    if ended is SessionEnd.IDLE:
        session[_ENDED_IDLE] = True
        flash(f"You were signed out after {config['STAFF_IDLE_MINUTES']} minutes without activity.")
    elif ended is SessionEnd.EXPIRED:
        flash(f"You were signed out: a sign-in lasts at most {config['STAFF_SESSION_HOURS']} hours.")


def note_copy_kept() -> bool:
    """Whether the sign-in page about to be drawn may keep a note's copy held in the browser tab
    (unsaved_note.js): after an idle sign-out, for its writer to sign in again and find it, and on a sign-in
    tried again there. Any other way to the page (a sign-out elsewhere, a session an admin ended, a visit)
    has the tab delete it: a copy must not outlive its session for the next person at that browser."""
    return bool(session.pop(_ENDED_IDLE, False)) or request.method == "POST"
