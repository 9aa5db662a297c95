"""The staff schedule: /schedule (a day), /schedule/week, a consultation, booking for a patient, a
clinician's own hours and time off, reception recording a clinician's time off, and taking the next caller
from a walk-in queue."""

from flask import Blueprint

from ..auth.access import DESK, staff_required
from ..models import StaffRole
from . import booking_desk, consultation, hours, lists, walk_in  # noqa: F401 (their routes join bp)
from .views import bp

hours.register(bp, guard=staff_required(StaffRole.CLINICIAN))
# A clinician who phones in sick at 07:30 tells the desk, not an IT admin: reception records the absence.
desk_bp = Blueprint("desk", __name__, url_prefix="/schedule/clinicians/<id:clinician_id>")
hours.register(desk_bp, guard=staff_required(DESK), weekly_hours=False)

__all__ = ["bp", "desk_bp"]
