"""The admin pages under /admin: the outbox and dead letters, services' video providers, staff accounts."""

from . import accounts, settings  # noqa: F401  (their routes join the admin blueprint)
from .views import bp

__all__ = ["bp"]
