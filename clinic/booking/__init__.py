"""The public booking pages and the patient's manage link."""

from .views import bp

__all__ = ["bp"]
