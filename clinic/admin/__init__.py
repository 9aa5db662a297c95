"""The admin pages under /admin: the outbox and its dead letters, services' video providers, patient data
exports."""

from . import patient_export  # noqa: F401 (adds its routes to bp)
from .views import bp

__all__ = ["bp"]
