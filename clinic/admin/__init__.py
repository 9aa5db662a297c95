"""The admin pages under /admin: the outbox and its dead letters, the hospital's catalogue, staff accounts,
the effective settings and connection tests, the audit log, patient data exports, reports."""

from . import accounts, audit_log, catalogue, patient_export, reports, settings  # noqa: F401 (their routes join bp)
from .views import bp

__all__ = ["bp"]
