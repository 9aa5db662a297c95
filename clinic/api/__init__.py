"""The JSON API for patient apps and portals, under /api/v1."""

from .views import bp

__all__ = ["bp"]
