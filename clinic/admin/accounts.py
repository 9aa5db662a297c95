"""Staff accounts under /admin/staff: list, create, role and link, (re)activate, unlock, password link, MFA.

A password is never typed by an admin: a new account and a forgotten password both get a one-time link
(clinic/staff/reset_links.py) that the admin hands over and the staff member opens to choose one.
"""

import secrets

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..auth.access import current_staff
from ..extensions import db
from ..form_errors import show_beside_fields, show_saved
from ..hospital.records import ChangedMeanwhile, saved_version
from ..keys import secret_keys
from ..links import password_link_url
from ..models import StaffUser, utcnow
from ..staff.accounts import (
    change_details,
    change_role,
    create_staff,
    deactivate_staff,
    reactivate_staff,
    role_version,
    unlock_staff,
)
from ..staff.directory import link_choices, staff_page
from ..staff.errors import AccountError, InvalidAccount, NoSuchAccount
from ..staff.mfa import recovery_codes_left, reset_mfa
from ..staff.reset_links import RESET_LINK_VALID, make_reset_token
from ..staff.sessions import SessionRules, live_sessions
from .staff_forms import ROLE_LABELS, NewStaffForm, RoleForm, StaffDetailsForm, StaffFilterForm
from .views import bp


@bp.app_template_filter()
def role_label(role) -> str:
    return ROLE_LABELS.get(role, str(role))


@bp.get("/staff")
def staff() -> ResponseReturnValue:
    form = StaffFilterForm(request.args)
    form.validate()
    found = staff_page(db.session, role=form.chosen_role(), active=form.chosen_active(), page=form.page.data)
    return render_template("admin/staff.html", form=form, found=found), 422 if form.errors else 200


@bp.route("/staff/new", methods=["GET", "POST"])
def new_staff() -> ResponseReturnValue:
    form = NewStaffForm(*link_choices(db.session))
    if not form.validate_on_submit():
        return render_template("admin/staff_new.html", form=form), 422 if form.errors else 200
    try:
        user = create_staff(
            db.session,
            email=form.email.data,
            display_name=form.display_name.data,
            password=secrets.token_urlsafe(32),  # nobody knows it: they choose theirs through the link
            now=utcnow(),
            actor=current_staff().actor,
            **form.role_and_link(),
        )
    except InvalidAccount as invalid:
        show_beside_fields(form, invalid.errors)
        return render_template("admin/staff_new.html", form=form), 422
    return _password_link_page(user.id, made=True)


@bp.get("/staff/<id:user_id>")
def staff_member(user_id: int) -> ResponseReturnValue:
    return _account_page(user_id)


@bp.post("/staff/<id:user_id>/role")
def set_role(user_id: int) -> ResponseReturnValue:
    form = RoleForm(*link_choices(db.session))
    if not form.validate():
        return _account_page(user_id, role_form=form), 422
    try:
        user = change_role(
            db.session,
            user_id,
            now=utcnow(),
            actor=current_staff().actor,
            drawn=form.drawn.data,
            **form.role_and_link(),
        )
    except InvalidAccount as invalid:
        show_beside_fields(form, invalid.errors)
        return _account_page(user_id, role_form=form), 422
    flash(
        f"Saved: {user.display_name} is now {role_label(user.role).lower()}. If that was a change, they are "
        "signed out everywhere and sign in again under it."
    )
    return redirect(url_for(".staff_member", user_id=user_id), 303)


@bp.post("/staff/<id:user_id>/details")
def set_details(user_id: int) -> ResponseReturnValue:
    user = _account(user_id)
    form = StaffDetailsForm(obj=user)
    if not form.validate():
        return _account_page(user_id, details_form=form), 422
    try:
        user = change_details(
            db.session,
            user_id,
            now=utcnow(),
            actor=current_staff().actor,
            drawn=form.drawn.data,
            **form.details(),
        )
    except InvalidAccount as invalid:
        show_beside_fields(form, invalid.errors)
        return _account_page(user_id, details_form=form), 422
    except ChangedMeanwhile as meanwhile:
        show_saved(
            form, StaffDetailsForm(obj=db.session.get(StaffUser, user_id), from_row=True), meanwhile.changed
        )
        form.drawn.data = saved_version(db.session, user)
        return _account_page(user_id, details_form=form), 409
    flash(f"Saved: {user.display_name}. They sign in with the address shown below from now on.")
    return redirect(url_for(".staff_member", user_id=user_id), 303)


# CSRFProtect checks every POST's token (a 400 without it) before these views run.
@bp.post("/staff/<id:user_id>/deactivate")
def deactivate(user_id: int) -> ResponseReturnValue:
    user = deactivate_staff(db.session, user_id, now=utcnow(), actor=current_staff().actor)
    flash(f"{user.display_name} is deactivated: they cannot sign in, and every session they had has ended.")
    return redirect(url_for(".staff_member", user_id=user_id), 303)


@bp.post("/staff/<id:user_id>/reactivate")
def reactivate(user_id: int) -> ResponseReturnValue:
    user = reactivate_staff(db.session, user_id, now=utcnow(), actor=current_staff().actor)
    flash(f"{user.display_name} is active again: they sign in afresh, with their password and second factor.")
    return redirect(url_for(".staff_member", user_id=user_id), 303)


@bp.post("/staff/<id:user_id>/unlock")
def unlock(user_id: int) -> ResponseReturnValue:
    user = unlock_staff(db.session, user_id, now=utcnow(), actor=current_staff().actor)
    flash(f"{user.display_name} is unlocked: they can sign in again now.")
    return redirect(url_for(".staff_member", user_id=user_id), 303)


@bp.post("/staff/<id:user_id>/password-link")
def password_link(user_id: int) -> ResponseReturnValue:
    return _password_link_page(user_id, made=False)


@bp.post("/staff/<id:user_id>/reset-mfa")
def remove_second_factor(user_id: int) -> ResponseReturnValue:
    if reset_mfa(db.session, user_id, now=utcnow(), actor=current_staff().actor):
        flash(
            "Second factor removed, and they are signed out everywhere: they set up a new one when they "
            "next sign in or on their account page."
        )
    else:
        flash("This account has no second factor: there was nothing to remove.")
    return redirect(url_for(".staff_member", user_id=user_id), 303)


@bp.errorhandler(NoSuchAccount)
def no_such_account(_error: NoSuchAccount) -> ResponseReturnValue:
    return render_template("error.html", code=404, message="There is no such staff account."), 404


@bp.errorhandler(AccountError)
def refused(error: AccountError) -> ResponseReturnValue:
    """A change the account rules refuse (the last admin, a deactivated account): said on its page."""
    user_id = (request.view_args or {}).get("user_id")
    if user_id is None:
        raise error
    return _account_page(user_id, refusal=str(error)), 409


def _password_link_page(user_id: int, *, made: bool) -> str:
    config = current_app.config
    token = make_reset_token(
        db.session, user_id, secret_keys=secret_keys(config), now=utcnow(), actor=current_staff().actor
    )
    user = db.session.get(StaffUser, user_id)
    link = password_link_url(config["PUBLIC_BASE_URL"], token)
    hours = int(RESET_LINK_VALID.total_seconds() // 3600)
    return render_template("admin/staff_link.html", user=user, link=link, made=made, hours=hours)


def _account(user_id: int) -> StaffUser:
    user = db.session.get(StaffUser, user_id)
    if user is None:
        raise NoSuchAccount("There is no such staff account.")
    return user


def _account_page(
    user_id: int,
    *,
    role_form: RoleForm | None = None,
    details_form: StaffDetailsForm | None = None,
    refusal: str | None = None,
) -> str:
    user = _account(user_id)
    if details_form is None:
        details_form = StaffDetailsForm(obj=user, from_row=True)
        details_form.drawn.data = saved_version(db.session, user)
    now = utcnow()
    role_form = role_form or RoleForm(
        *link_choices(db.session),
        formdata=None,
        role=user.role.value,
        clinician=user.clinician_id,
        department=user.department_id,
        drawn=role_version(db.session, user.id),
    )
    return render_template(
        "admin/staff_member.html",
        user=user,
        role_form=role_form,
        details_form=details_form,
        refusal=refusal,
        locked=user.locked_until is not None and user.locked_until > now,
        sessions=len(
            live_sessions(db.session, user.id, now=now, rules=SessionRules.from_config(current_app.config))
        ),
        codes_left=recovery_codes_left(db.session, user.id),
        tz=current_app.config["DEFAULT_TIME_ZONE"],  # the hospital's clock, as its staff read it
    )
