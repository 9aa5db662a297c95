"""The page an admin's one-time password link opens: the staff member chooses a new password there."""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..extensions import db
from ..models import utcnow
from ..staff.errors import InvalidAccount
from ..staff.reset_links import ResetLinkInvalid, account_for_token, reset_password
from .forms import NewPasswordForm
from .views import bp


@bp.route("/account/password-link/<token>", methods=["GET", "POST"])
def reset_password_page(token: str) -> ResponseReturnValue:
    secret_key, now = current_app.config["SECRET_KEY"], utcnow()
    try:
        user = account_for_token(db.session, token, secret_key=secret_key, now=now)
    except ResetLinkInvalid as dead:
        return render_template("auth/password_link.html", dead=str(dead)), 404
    form = NewPasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/password_link.html", form=form, user=user), 422 if form.errors else 200
    try:
        reset_password(
            db.session,
            token,
            form.new_password.data,
            secret_key=secret_key,
            now=now,
            remote_addr=request.remote_addr,
        )
    except InvalidAccount as invalid:
        form.new_password.errors.append(invalid.errors["password"])
        return render_template("auth/password_link.html", form=form, user=user), 422
    except ResetLinkInvalid as dead:
        return render_template("auth/password_link.html", dead=str(dead)), 404
    flash("Your password is set: sign in with it now.")
    return redirect(url_for(".login"), 303)
