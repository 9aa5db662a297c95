"""The staff member's own account: where they are signed in, their password and TOTP second factor.

The second-factor page also serves an admin half-way through signing in where
CLINIC_REQUIRE_ADMIN_MFA is on: until it is set up they have no session, so no other page opens.
"""

import segno
from flask import current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..extensions import db, login_manager
from ..form_errors import show_beside_fields
from ..keys import secret_keys
from ..models import utcnow
from ..staff.errors import AccountError, InvalidAccount, LoginRefused
from ..staff.mfa import pending_enrolment
from ..staff.overview import account_overview
from ..staff.sessions import end_other_sessions
from ..staff.signin import SecondStep, change_own_password, confirm_enrolment, sign_in_enrolling
from . import sessions
from .access import background, current_staff, staff_required
from .forms import ChangePasswordForm, CodeForm, ReplaceFactorForm
from .views import bp, landing, page, refusal


@bp.get("/account")
@staff_required()
def account() -> ResponseReturnValue:
    return _account_page(ChangePasswordForm())


@bp.get("/account/alive")
@staff_required()
def alive() -> ResponseReturnValue:
    """Nothing but the session check every request makes, which counts as activity: a page where
    someone is typing for a long while (a consultation note) asks it, so the idle timeout spares them."""
    return "", 204


@bp.get("/account/time-left")
@background
def time_left() -> ResponseReturnValue:
    """Seconds until the idle sign-out (0 once signed out), for the warning every staff page gives
    before it. Asked by the page itself, so not activity: an unattended screen still signs out."""
    if not current_user.is_authenticated:
        return {"seconds": 0}
    return {"seconds": max(0, int((current_user.idle_until - utcnow()).total_seconds()))}


@bp.post("/account/password")
@staff_required()
def change_password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _account_page(form)
    actor = current_staff().actor
    current, new = form.current_password.data, form.new_password.data
    try:
        change_own_password(
            db.session,
            current_user.id,
            current,
            new,
            now=utcnow(),
            rules=sessions.rules(),
            client=sessions.client(),
            actor=actor,
        )
    except InvalidAccount as invalid:
        show_beside_fields(form, invalid.errors)
        return _account_page(form)
    except AccountError as refused:  # this address failed too often: wait, as at sign-in
        return refusal("auth/account.html", form, form.current_password, refused, **_overview())
    sessions.end()
    flash("Your password is changed and every session has ended: sign in with the new password.")
    return redirect(url_for(".login"), 303)


@bp.post("/account/sessions/end-others")
@staff_required()
def sign_out_elsewhere() -> ResponseReturnValue:
    actor, token = current_staff().actor, current_user.session_token
    ended = end_other_sessions(db.session, current_user.id, token, now=utcnow(), actor=actor)
    flash(f"Signed out of {ended} other session{'' if ended == 1 else 's'}.")
    return redirect(url_for(".account"), 303)


@bp.route("/account/two-factor", methods=["GET", "POST"])
def two_factor() -> ResponseReturnValue:
    """Set up (or replace) the authenticator app: scan or type the key, then prove it with a code."""
    enrolling = sessions.pending(SecondStep.ENROL)
    if not current_user.is_authenticated and enrolling is None:
        return login_manager.unauthorized()
    user_id = current_user.id if current_user.is_authenticated else enrolling.passed.user_id
    replacing = current_user.is_authenticated and current_user.has_totp
    form = ReplaceFactorForm() if replacing else CodeForm()
    if form.validate_on_submit():
        try:
            return _confirmed(user_id, form, enrolling)
        except AccountError as refused:
            if enrolling is not None and isinstance(refused, LoginRefused):  # as at the code step
                sessions.drop_pending()
            field = form[getattr(refused, "field", "code")]
            return refusal("auth/two_factor.html", form, field, refused, **_enrolment(user_id))
    return page("auth/two_factor.html", form, **_enrolment(user_id))


def _confirmed(user_id: int, form: CodeForm, enrolling: sessions.Pending | None) -> ResponseReturnValue:
    """The recovery codes, shown once; a half-signed-in admin is signed in from here on."""
    now, rules = utcnow(), sessions.rules()
    if current_user.is_authenticated:
        actor = current_staff().actor
        current_code = form.current_code.data if isinstance(form, ReplaceFactorForm) else ""
        codes = confirm_enrolment(
            db.session,
            user_id,
            form.code.data,
            now=now,
            rules=rules,
            client=sessions.client(),
            actor=actor,
            current_code=current_code,
        )
        onward = url_for(".account")
    else:
        result = sign_in_enrolling(
            db.session, enrolling.passed, form.code.data, now=now, rules=rules, client=sessions.client()
        )
        sessions.start(result.user, result.token)
        codes, onward = result.recovery_codes, sessions.local_path(enrolling.next) or landing(result.user)
    return render_template("auth/recovery_codes.html", codes=codes, onward=onward)


def _account_page(form: ChangePasswordForm) -> ResponseReturnValue:
    return page("auth/account.html", form, **_overview())


def _overview() -> dict:
    overview = account_overview(
        db.session, current_user.id, current_user.session_token, now=utcnow(), rules=sessions.rules().sessions
    )
    return {"overview": overview}


def _enrolment(user_id: int) -> dict:
    enrolment = pending_enrolment(
        db.session,
        user_id,
        secret_keys=secret_keys(current_app.config),
        issuer=current_app.config["HOSPITAL_NAME"],
    )
    # Drawn here, as a data: URI (the CSP allows img-src data:), so the secret never leaves the server.
    qr = segno.make(enrolment.uri, error="m").svg_data_uri(scale=5, border=2)
    return {"enrolment": enrolment, "qr": qr}
