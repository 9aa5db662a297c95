"""What a request's link opens: the patient's booking (manage token) or a companion's invitation (join
token), each looked up with the token of its own kind only."""

from datetime import timedelta

from flask import current_app, request

from ..audit import Actor
from ..extensions import db
from ..models import Companion, Consultation, utcnow
from ..scheduling.companions import companion_for_token
from ..scheduling.lifecycle import consultation_for_token
from ..scheduling.waiting_room import JoinWindow
from .link_tokens import COMPANION, MANAGE


def managed(reference: str, token: str | None = None) -> Consultation:
    """The booking the link's token (or the one this browser session remembers) opens; else NotFound."""
    return consultation_for_token(
        db.session,
        reference,
        MANAGE.token_for(reference) if token is None else token,
        now=utcnow(),
        grace_days=current_app.config["MANAGE_LINK_GRACE_DAYS"],
    )


def invited(reference: str, token: str | None = None) -> Companion:
    """The companion whose join link (or the one this browser session remembers) this is; else NotFound."""
    return companion_for_token(
        db.session,
        reference,
        COMPANION.token_for(reference) if token is None else token,
        now=utcnow(),
        grace_days=current_app.config["MANAGE_LINK_GRACE_DAYS"],
    )


def join_window() -> JoinWindow:
    """The waiting room's hours, from CLINIC_JOIN_WINDOW_MINUTES and CLINIC_JOIN_GRACE_MINUTES."""
    config = current_app.config
    return JoinWindow(
        before_start=timedelta(minutes=config["JOIN_WINDOW_MINUTES"]),
        after_end=timedelta(minutes=config["JOIN_GRACE_MINUTES"]),
    )


def patient_actor() -> Actor:
    """The patient, as the audit trail names them, with the address they came from."""
    return Actor("patient", request.remote_addr)
