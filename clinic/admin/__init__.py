"""The admin pages under /admin: the outbox and its dead letters, services' video providers."""

from .views import bp

__all__ = ["bp"]
