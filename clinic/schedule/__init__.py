"""The staff schedule: /schedule (a day), /schedule/week, a consultation, booking for a patient, and a
clinician's own hours and time off."""

from . import hours  # noqa: F401 (registers its routes on the blueprint)
from .views import bp

__all__ = ["bp"]
