"""The public booking pages, the patient's manage link and waiting room, and companions' waiting rooms."""

from . import rooms  # noqa: F401 - registers the waiting rooms' routes on bp
from .views import bp

__all__ = ["bp"]
