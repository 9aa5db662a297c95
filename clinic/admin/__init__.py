"""The admin pages under /admin: the outbox and its dead letters, services' video providers, the audit log."""

from . import audit_log  # noqa: F401 (its routes join bp)
from .views import bp

__all__ = ["bp"]
