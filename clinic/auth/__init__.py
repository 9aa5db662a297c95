"""Staff sign-in and sign-out, and the session rules (per-account token, idle timeout)."""

from .sessions import login_manager
from .views import bp

__all__ = ["bp", "login_manager"]
