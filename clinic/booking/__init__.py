"""The public booking pages, the patient's manage link and waiting room, companions' waiting rooms, and
the waitlist."""

from . import (
    rooms,  # noqa: F401 - registers the waiting rooms' routes on bp
    waitlist_pages,  # noqa: F401 - registers the waitlist's routes on bp
)
from .views import bp

__all__ = ["bp"]
