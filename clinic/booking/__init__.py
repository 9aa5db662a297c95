"""The public booking pages, the patient's manage link and waiting room, companions' waiting rooms, the
waitlist, and the walk-in queue's pages."""

# Each registers its routes on bp.
from . import rooms, waitlist_pages, walk_in  # noqa: F401
from .views import bp

__all__ = ["bp"]
