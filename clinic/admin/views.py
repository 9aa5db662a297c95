"""The admin pages: admins only; each view parses a form, calls one service, renders or redirects."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..auth.access import current_staff, staff_only
from ..extensions import db
from ..hospital.service_settings import services_for_admin, set_meeting_provider
from ..jobs.monitor import outbox_page, retry_dead_letter
from ..meetings.base import PROVIDER_NAMES
from ..models import StaffRole, utcnow
from .forms import OutboxFilterForm, ProviderForm, provider_label

bp = Blueprint("admin", __name__, url_prefix="/admin")
staff_only(bp, StaffRole.ADMIN)
bp.add_app_template_filter(provider_label)


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


@bp.get("/services")
def services() -> ResponseReturnValue:
    return _services_page()


@bp.post("/services/<id:service_id>")
def set_service_provider(service_id: int) -> ResponseReturnValue:
    form = ProviderForm(prefix=_prefix(service_id))
    if not form.validate():
        return _services_page({service_id: form}), 422
    chosen = form.provider.data or None
    service = set_meeting_provider(db.session, service_id, chosen, now=utcnow(), actor=current_staff().actor)
    provider = provider_label(chosen) if chosen else "the hospital default"
    flash(f"Saved: new meetings for {service.name} are made with {provider}.")
    return redirect(url_for(".services"), 303)


@bp.errorhandler(403)
def forbidden(_error: Exception) -> ResponseReturnValue:
    return render_template("admin/forbidden.html"), 403


def _services_page(posted: dict[int, ProviderForm] | None = None) -> str:
    listed = services_for_admin(db.session)
    forms = {
        service.id: (posted or {}).get(service.id)
        or ProviderForm(prefix=_prefix(service.id), formdata=None, provider=service.meeting_provider or "")
        for service in listed
    }
    return render_template("admin/services.html", services=listed, forms=forms, provider_names=PROVIDER_NAMES)


def _prefix(service_id: int) -> str:
    return f"service-{service_id}"
