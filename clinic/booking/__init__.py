"""The public booking pages, the patient's manage link and waiting room, companions' waiting rooms, and the
walk-in queue's pages."""

from . import rooms, walk_in  # noqa: F401 - register the waiting rooms' and walk-in pages' routes on bp
from .views import bp

__all__ = ["bp"]
