"""Staff sign-in and sign-out: parse the form, call the accounts service, start or end the session."""

import math

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..extensions import db
from ..models import StaffUser, utcnow
from ..staff.accounts import AccountLocked, LockoutPolicy, LoginRefused, authenticate, sign_out
from . import sessions
from .forms import LoginForm

bp = Blueprint("auth", __name__)
bp.before_app_request(sessions.expire_idle_session)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm(next=request.args.get("next"))
    if current_user.is_authenticated and not form.is_submitted():
        return render_template("auth/signed_in.html")
    if not form.validate_on_submit():
        return _login_page(form)
    now = utcnow()
    try:
        user = authenticate(
            db.session,
            form.email.data,
            form.password.data,
            now=now,
            policy=LockoutPolicy.from_config(current_app.config),
            remote_addr=request.remote_addr,
        )
    except AccountLocked as locked:
        form.password.errors.append(
            f"Too many wrong passwords: this account is locked until {locked.until:%H:%M} UTC. "
            "Try again after that, or ask an admin to reset your password."
        )
        wait = max(1, math.ceil((locked.until - now).total_seconds()))
        return render_template("auth/login.html", form=form), 429, {"Retry-After": str(wait)}
    except LoginRefused as refused:
        form.password.errors.append(str(refused))
        return _login_page(form)
    sessions.start(user)
    return redirect(sessions.local_path(form.next.data) or _landing(user), 303)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    if current_user.is_authenticated:
        sign_out(db.session, current_user.id, now=utcnow(), remote_addr=request.remote_addr)
        sessions.end()
        flash("You are signed out.")
    return redirect(url_for(".login"), 303)


def _login_page(form: LoginForm) -> tuple[str, int]:
    return render_template("auth/login.html", form=form), 422 if form.errors else 200


def _landing(user: StaffUser) -> str:
    # Clinicians' schedule pages are still to come: until then they land on their signed-in page.
    return url_for("admin.index") if user.is_admin else url_for(".login")
