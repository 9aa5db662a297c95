"""Who may open a staff page: `staff_required` on each view, one rule for every area."""

import functools
from collections.abc import Callable
from typing import TypeVar

from flask import abort
from flask_login import current_user

from ..extensions import login_manager
from ..models import StaffRole

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
