"""The admin pages: admins only; each view parses a form, calls one service, renders or redirects."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..auth.access import current_staff, staff_only
from ..extensions import db
from ..jobs.monitor import outbox_page, retry_dead_letter
from ..meetings.base import PROVIDER_NAMES
from ..models import StaffRole, utcnow
from .forms import OutboxFilterForm, provider_label, provider_problem

bp = Blueprint("admin", __name__, url_prefix="/admin")
staff_only(bp, StaffRole.ADMIN)
bp.add_app_template_filter(provider_label)
bp.add_app_template_global(PROVIDER_NAMES, "provider_names")
bp.add_app_template_global(provider_problem)


@bp.get("/")
def index() -> ResponseReturnValue:
    return render_template("admin/index.html")


@bp.get("/outbox")
def outbox() -> ResponseReturnValue:
    form = OutboxFilterForm(request.args)
    form.validate()
    found = outbox_page(
        db.session,
        status=form.chosen_status(),
        now=utcnow(),
        page=form.page.data,
    )
    return render_template("admin/outbox.html", form=form, found=found), 422 if form.errors else 200


@bp.post("/outbox/<id:message_id>/retry")
def retry(message_id: int) -> ResponseReturnValue:
    if retry_dead_letter(db.session, message_id, now=utcnow(), actor=current_staff().actor):
        flash(f"Message {message_id} is queued again: the worker runs it within a few seconds.")
    else:
        flash(f"Message {message_id} is not a dead letter (any more), so nothing changed.")
    return redirect(url_for(".outbox"), 303)
