"""The admin pages: admins only; each view parses a form, calls one service, renders or redirects."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..auth.access import current_staff, staff_only
from ..extensions import db
from ..hospital.records import MAX_DESCRIPTION
from ..jobs.monitor import outbox_page, retry_dead_letter
from ..meetings.base import PROVIDER_NAMES
from ..models import StaffRole, utcnow
from .forms import OutboxFilterForm, provider_label, provider_problem

bp = Blueprint("admin", __name__, url_prefix="/admin")
staff_only(bp, StaffRole.ADMIN)
bp.add_app_template_filter(provider_label)
bp.add_app_template_global(PROVIDER_NAMES, "provider_names")
bp.add_app_template_global(provider_problem)
# Room for two of the longest descriptions however they are encoded (up to 12 bytes a character,
# percent-encoded), and the rest of a form: one too long is then refused beside its field, with the rest
# of what was typed kept, not by a bare 413 before the form is read.
ADMIN_FORM_MAX_BYTES = 2 * MAX_DESCRIPTION * 12 + 64 * 1024


@bp.url_value_preprocessor
def _room_for_long_descriptions(_endpoint: str | None, _values: dict | None) -> None:
    # As the notes' pages: URL value preprocessors run before every before_request hook (CSRFProtect's
    # reads the body); signed-in staff only (the admin role is checked next), so anonymous requests keep
    # the site's small limit.
    if request.method == "POST" and current_user.is_authenticated:
        request.max_content_length = request.max_form_memory_size = ADMIN_FORM_MAX_BYTES


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
