"""Who may open a staff page (`staff_only` on a blueprint, `staff_required` on a view) and who is asking
(`current_staff`), and the audit of their refusals."""

import functools
import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, Flask, Response, abort, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.exc import DBAPIError

from ..extensions import db, login_manager
from ..models import StaffRole, utcnow
from ..staff.members import StaffMember
from ..staff.refusals import Refusal, record_refusal

log = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable)


Roles = StaffRole | tuple[StaffRole, ...] | None
# The desk: who runs a department's bookings for its clinicians (their absences, handing a day to colleagues).
DESK = (StaffRole.RECEPTION, StaffRole.ADMIN)


def staff_required(role: Roles = None) -> Callable[[View], View]:
    """Let signed-in staff through (only those with `role`, when given); others sign in or get 403."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            return _refusal(role) or view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def staff_only(bp: Blueprint, role: Roles = None) -> None:
    """`staff_required(role)` for every view of `bp`, those added later too."""
    bp.before_request(lambda: _refusal(role))


def _refusal(role: Roles) -> ResponseReturnValue | None:
    """None if the signed-in user may pass; else the way to sign in, or 403 for the wrong role."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    allowed = (role,) if isinstance(role, StaffRole) else role
    if allowed is not None and current_user.role not in allowed:
        abort(403)
    return None


def background(view: View) -> View:
    """Mark a view that pages call by themselves (polling): it needs a live session but is not activity,
    so a schedule left open on an unattended screen still signs out after the idle timeout."""
    view.counts_as_activity = False  # type: ignore[attr-defined]
    return view


def current_staff() -> StaffMember:
    """The signed-in staff member of this request, as services take them (behind `staff_required`)."""
    user = current_user._get_current_object()  # one look-up through the proxy, not four
    return StaffMember(user.id, user.role, user.clinician_id, user.department_id, request.remote_addr)


def audit_refusals(app: Flask) -> None:
    """Record each refusal of a signed-in staff member's request (see `staff.refusals`), whichever part of
    the app refused it and however it answered: from the response, once it is made."""
    app.after_request(_audit_refusal)


def _audit_refusal(response: Response) -> Response:
    refused = response.status_code in (403, 404) and request.endpoint is not None
    if not refused or not current_user.is_authenticated:
        return response
    refusal = Refusal.of(request.endpoint, request.method, response.status_code, request.view_args or {})
    try:
        record_refusal(db.session, refusal, current_staff().actor, utcnow())
    except DBAPIError:  # the refusal stands; the database's trouble is answered on the next request
        log.warning("refusal of %s %s not audited: database error", request.method, request.endpoint)
    return response
