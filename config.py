"""Clinic settings. Every setting is read here, from `CLINIC_*` environment variables.

An instance `config.py` (in the instance folder) may override any of them.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent
DEFAULT_SECRET_KEY = "dev-only-not-secret"
MIGRATIONS_DIR = str(_ROOT / "migrations")


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"CLINIC_{name}", default)


def instance_path() -> str:
    """The instance folder: the SQLite database, mail files, instance config."""
    return str(Path(_env("INSTANCE_PATH", str(_ROOT / "instance"))).resolve())


class Config:
    # Signs sessions and CSRF tokens and derives manage-link tokens; production refuses the default.
    SECRET_KEY = _env("SECRET_KEY", DEFAULT_SECRET_KEY)
    # Database URL; SQLite in the instance folder by default, e.g. postgresql+psycopg://user@host/db.
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL") or f"sqlite:///{instance_path()}/clinic.sqlite"
    # Name of the hospital as shown to patients.
    HOSPITAL_NAME = _env("HOSPITAL_NAME", "St Example University Hospital")
    # Time zone preset on the booking page before the browser reports the patient's own.
    DEFAULT_TIME_ZONE = _env("DEFAULT_TIME_ZONE", "Europe/London")
    # Days of free times shown per page of the booking calendar.
    BOOKING_DAYS_SHOWN = int(_env("BOOKING_DAYS_SHOWN", "7"))
    # How long a manage link keeps working after the consultation has ended.
    MANAGE_LINK_GRACE_DAYS = int(_env("MANAGE_LINK_GRACE_DAYS", "7"))
    # Largest request body accepted (bytes); larger ones get 413.
    MAX_CONTENT_LENGTH = int(_env("MAX_CONTENT_LENGTH", str(64 * 1024)))

    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = 3600 * 4
    TESTING = False


class DevelopmentConfig(Config):
    DEBUG = True


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True


configs = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_name() -> str:
    """Which config class to use, from CLINIC_ENV (development, testing or production)."""
    return _env("ENV", "development")
