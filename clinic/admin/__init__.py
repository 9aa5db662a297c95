"""The admin pages under /admin: the outbox and its dead letters, and the hospital's catalogue."""

from . import catalogue  # noqa: F401 (registers its routes on the blueprint)
from .views import bp

__all__ = ["bp"]
