"""The notes settings, read and checked once when the app starts, so a bad value stops the start."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask

from ..extensions import db
from ..models import StaffRole
from ..models.sealed_text import use_sealer
from ..privacy.retention import RetentionPeriods
from .access import granted_roles
from .encryption import NoteCipher, cipher_from_settings

_EXTENSION = "clinic.notes"


@dataclass(frozen=True)
class NotesSettings:
    cipher: NoteCipher
    # Roles given every consultation's notes besides each consultation's own clinician.
    granted_roles: frozenset[StaffRole]
    # How long a patient's reasons are kept (RETENTION_REASON_DAYS): the pages say when one was erased.
    reasons_kept_for: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "NotesSettings":
        """The settings from CLINIC_NOTES_KEY, CLINIC_NOTES_ROLES and CLINIC_RETENTION_REASON_DAYS; raises
        ValueError naming a bad one."""
        return cls(
            cipher=cipher_from_settings(config["NOTES_KEY"], config["SECRET_KEY"]),
            granted_roles=granted_roles(config["NOTES_ROLES"]),
            reasons_kept_for=RetentionPeriods.from_config(config).reason,
        )


def init_app(app: Flask) -> None:
    """Check the notes settings now, at start-up, and keep them for the requests and commands."""
    settings = NotesSettings.from_config(app.config)
    app.extensions[_EXTENSION] = settings
    with app.app_context():
        use_sealer(db.engine, settings.cipher)  # the patients' reasons are sealed like their notes


def notes_settings(app: Flask) -> NotesSettings:
    return app.extensions[_EXTENSION]
