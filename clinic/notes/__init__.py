"""Consultation notes: SOAP drafts, signing, amendments and printing, the text encrypted at rest."""

from .settings import init_app
from .views import bp

__all__ = ["bp", "init_app"]
