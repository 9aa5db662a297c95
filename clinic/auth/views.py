"""Staff sign-in (password, then a code if the account has a second factor) and sign-out."""

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import Field

from ..extensions import db
from ..form_errors import show_beside
from ..models import StaffUser, utcnow
from ..staff.errors import AccountError, AddressThrottled, LoginRefused
from ..staff.events import actor_for
from ..staff.sessions import SessionUser, end_session
from ..staff.signin import SecondStep, SignedIn, sign_in_with_code, sign_in_with_password
from ..walkin.take import unfinished_calls
from . import sessions
from .forms import CodeForm, LoginForm

bp = Blueprint("auth", __name__)
# The session's key for the walk-in calls a first "Sign out" warned of (see _unfinished_walk_in_calls).
WARNED_OF_CALLS = "warned_of_calls"
bp.before_app_request(sessions.load_before_request)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm(next=request.args.get("next"))
    if current_user.is_authenticated and not form.is_submitted():
        return redirect(landing(current_user), 303)
    if not form.validate_on_submit():
        return page("auth/login.html", form, note_copy_kept=sessions.note_copy_kept())
    try:
        result = sign_in_with_password(
            db.session,
            form.email.data,
            form.password.data,
            now=utcnow(),
            rules=sessions.rules(),
            client=sessions.client(),
        )
    except AccountError as refused:
        return refusal("auth/login.html", form, form.password, refused, note_copy_kept=True)
    return after_sign_in(result, form.next.data)


@bp.route("/login/code", methods=["GET", "POST"])
def code() -> ResponseReturnValue:
    waiting = sessions.pending(SecondStep.CODE)
    if waiting is None:
        flash("Sign in again: the time to enter a code ran out.")
        return redirect(url_for(".login"), 303)
    form = CodeForm()
    if not form.validate_on_submit():
        return page("auth/code.html", form)
    try:
        result = sign_in_with_code(
            db.session,
            waiting.passed,
            form.code.data,
            now=utcnow(),
            rules=sessions.rules(),
            client=sessions.client(),
        )
    except AccountError as refused:
        if isinstance(refused, LoginRefused):  # locked or password changed meanwhile: start again
            sessions.drop_pending()
        return refusal("auth/code.html", form, form.code, refused)
    return after_sign_in(result, waiting.next)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    if current_user.is_authenticated:
        if warning := _unfinished_walk_in_calls():
            return warning
        leave_session()
        flash("You are signed out.")
    return redirect(url_for(".login"), 303)


def _unfinished_walk_in_calls() -> ResponseReturnValue | None:
    """A clinician signing out with walk-in callers taken and their calls unfinished is sent to the first
    call instead, told, the first time: nobody else finishes it. Signing out again signs them out."""
    if current_user.clinician_id is None:
        return None
    calls = unfinished_calls(db.session, current_user.clinician_id)
    if not calls or {c.id for c in calls} <= set(session.get(WARNED_OF_CALLS, ())):
        return None
    session[WARNED_OF_CALLS] = [c.id for c in calls]
    names = ", ".join(c.patient.name for c in calls)
    flash(
        f"You are still signed in: you took {names} from the walk-in queue and have not finished with "
        "them. Finish the call, or send them back to the queue, first: otherwise they wait for you. "
        "To sign out anyway, press Sign out again."
    )
    return redirect(url_for("schedule.consultation", consultation_id=calls[0].id), 303)


def leave_session() -> None:
    """End this browser's staff session, row and cookie, so no copy of the cookie works again."""
    actor = actor_for(current_user.id, request.remote_addr)
    end_session(db.session, current_user.session_token, now=utcnow(), actor=actor)
    sessions.end()


def after_sign_in(result: SignedIn, next_path: str | None) -> ResponseReturnValue:
    """Into the staff pages when every factor has passed; else on to the step still due."""
    if current_user.is_authenticated:  # signing in over another sign-in ends that one
        leave_session()
    if result.next_step is not None:
        sessions.hold_pending(result.passed, result.next_step, next_path)
        endpoint = ".code" if result.next_step is SecondStep.CODE else ".two_factor"
        return redirect(url_for(endpoint), 303)
    sessions.start(result.user, result.token)
    return redirect(sessions.local_path(next_path) or landing(result.user), 303)


def page(template: str, form: FlaskForm, **context) -> tuple[str, int]:
    return render_template(template, form=form, **context), 422 if form.errors else 200


def refusal(
    template: str, form: FlaskForm, field: Field, refused: AccountError, **context
) -> ResponseReturnValue:
    """The form again with the refusal beside `field`: 429 with Retry-After when throttled, else 422."""
    show_beside(field, str(refused))
    body = render_template(template, form=form, **context)
    if isinstance(refused, AddressThrottled):
        return body, 429, {"Retry-After": str(refused.retry_after)}
    return body, 422


def landing(user: StaffUser | SessionUser) -> str:
    """Where a staff member starts: admins in the admin pages, everyone else on their schedule."""
    return url_for("admin.index") if user.is_admin else url_for("schedule.day")
