"""The staff schedule: /schedule (a day), /schedule/week, a consultation, booking for a patient."""

from .views import bp

__all__ = ["bp"]
