"""Staff sessions: Flask-Login keyed by the account's session token, an idle timeout, safe redirects.

The idle timeout keeps the time of the last request in the signed session cookie and checks it
before each request, rather than relying on PERMANENT_SESSION_LIFETIME: the cookie then stays a
browser-session cookie, and the check does not depend on the browser honouring an expiry date.
A copied cookie cannot outlive a logout either way: logout replaces the token it carries.
"""

import time
from urllib.parse import urlsplit

from flask import current_app, flash, session
from flask_login import current_user, login_user, logout_user

from ..extensions import db, login_manager
from ..models import StaffUser
from ..staff.accounts import user_for_session

LAST_SEEN = "staff_last_seen"

login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to see that page."


@login_manager.user_loader
def load_staff(token: str) -> StaffUser | None:
    return user_for_session(db.session, token)


def start(user: StaffUser) -> None:
    """Mark the request's session as signed in as `user` (after the password checked out)."""
    session.clear()  # nothing from before the sign-in carries over into the staff session
    login_user(user)
    session[LAST_SEEN] = time.time()


def end() -> None:
    """Forget the staff member in this browser (the caller rotates the token to end copies too)."""
    logout_user()
    session.pop(LAST_SEEN, None)


def expire_idle_session() -> None:
    """Before each request: sign out a staff session idle for longer than STAFF_IDLE_MINUTES."""
    if not current_user.is_authenticated:
        return
    now, minutes = time.time(), current_app.config["STAFF_IDLE_MINUTES"]
    last_seen = session.get(LAST_SEEN)
    if not isinstance(last_seen, int | float) or now - last_seen > minutes * 60:
        end()
        flash(f"You were signed out after {minutes} minutes without activity.")
        return
    session[LAST_SEEN] = now


def local_path(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None: a `next` link must not lead elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read "\" as "/" and drop tabs and newlines, so "/\evil.example" leaves the site.
    if "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target
