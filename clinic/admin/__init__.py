"""The admin pages under /admin: the outbox and its dead letters, the hospital's catalogue, the audit log,
patient data exports."""

from . import audit_log, catalogue, patient_export  # noqa: F401 (their routes join bp)
from .views import bp

__all__ = ["bp"]
