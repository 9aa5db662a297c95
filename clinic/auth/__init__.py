"""Staff sign-in, second factor and sign-out; the session rules; the staff member's account page."""

from . import account, password_link  # noqa: F401  (their routes join the auth blueprint)
from .access import staff_required
from .views import bp

__all__ = ["bp", "staff_required"]
