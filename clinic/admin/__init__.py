"""The admin pages under /admin: the outbox and its dead letters, services' video providers, the audit log,
patient data exports."""

from . import audit_log, patient_export  # noqa: F401 (their routes join bp)
from .views import bp

__all__ = ["bp"]
