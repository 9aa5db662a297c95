"""The staff schedule: /schedule (a day), /schedule/week, a consultation, booking for a patient, and a
clinician's own hours and time off, and taking the next caller from a walk-in queue."""

from ..auth.access import staff_required
from ..models import StaffRole
from . import hours, walk_in  # noqa: F401 (walk_in's routes join bp)
from .views import bp

hours.register(bp, guard=staff_required(StaffRole.CLINICIAN))

__all__ = ["bp"]
