"""Who may open a staff page (`staff_required` on each view) and who is asking (`current_staff`)."""

import functools
from collections.abc import Callable
from typing import TypeVar

from flask import abort, request
from flask_login import current_user

from ..extensions import login_manager
from ..models import StaffRole
from ..staff.members import StaffMember

View = TypeVar("View", bound=Callable)


def staff_required(role: StaffRole | tuple[StaffRole, ...] | None = None) -> Callable[[View], View]:
    """Let signed-in staff through (only those with `role`, when given); others sign in or get 403."""
    allowed = (role,) if isinstance(role, StaffRole) else role

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if allowed is not None and current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def background(view: View) -> View:
    """Mark a view that pages call by themselves (polling): it needs a live session but is not activity,
    so a schedule left open on an unattended screen still signs out after the idle timeout."""
    view.counts_as_activity = False  # type: ignore[attr-defined]
    return view


def current_staff() -> StaffMember:
    """The signed-in staff member of this request, as services take them (behind `staff_required`)."""
    user = current_user
    return StaffMember(user.id, user.role, user.clinician_id, user.department_id, request.remote_addr)
