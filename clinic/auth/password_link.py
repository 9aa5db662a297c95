"""The page an admin's one-time password link opens: the staff member chooses a new password there.

The link carries its token after "#" (clinic/links.py), which browsers never send: open_link.js
puts it into the form, so it reaches the server only in a POST body, which no access log records.
"""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..extensions import db
from ..form_errors import show_beside
from ..keys import secret_keys
from ..links import PASSWORD_LINK_PATH
from ..models import utcnow
from ..staff.errors import InvalidAccount
from ..staff.reset_links import ResetLinkInvalid, reset_password
from .forms import PasswordLinkForm
from .views import bp


@bp.route(PASSWORD_LINK_PATH, methods=["GET", "POST"])
def password_link() -> ResponseReturnValue:
    form = PasswordLinkForm()
    if not form.validate_on_submit():
        return render_template("auth/password_link.html", form=form), 422 if form.errors else 200
    try:
        reset_password(
            db.session,
            form.token(),
            form.new_password.data,
            secret_keys=secret_keys(current_app.config),
            now=utcnow(),
            remote_addr=request.remote_addr,
        )
    except InvalidAccount as invalid:
        show_beside(form.new_password, invalid.errors["password"])
        return render_template("auth/password_link.html", form=form), 422
    except ResetLinkInvalid as dead:
        show_beside(form.code, str(dead))
        return render_template("auth/password_link.html", form=form), 422
    flash("Your password is set: sign in with it now.")
    return redirect(url_for(".login"), 303)
