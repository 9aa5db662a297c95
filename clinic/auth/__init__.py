"""Staff sign-in and sign-out, and the session rules (per-account token, idle timeout)."""

from .access import staff_required
from .views import bp

__all__ = ["bp", "staff_required"]
