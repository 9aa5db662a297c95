"""An instance config.py (in the instance folder) sets settings by their keys: a value one of them refuses
is named with where it came from, and a key no setting has is warned of, with the one it may mean."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clinic import create_app

from .conftest import production_config, production_environment

ROOT = Path(__file__).resolve().parent.parent


def start_production(database_url: str, instance: Path, config_py: str) -> subprocess.CompletedProcess:
    """Import wsgi.py as gunicorn does, in production, with this instance config.py."""
    instance.mkdir(exist_ok=True)
    (instance / "config.py").write_text(config_py)
    env = {**os.environ, **production_environment(database_url), "CLINIC_INSTANCE_PATH": str(instance)}
    return subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_value_set_in_the_instance_config_is_named_with_where_it_came_from(database_url, tmp_path):
    """CLINIC_SMTP_PORT was named, which the admin had never set: the value was in the instance file."""
    instance = tmp_path / "instance"

    started = start_production(
        database_url, instance, 'SMTP_PORT = "abc"\nSECRET_KEY = "short"\nMAIL_BACKEND = "file"\n'
    )

    where = instance / "config.py"
    refused = "CLINIC_SMTP_PORT must be a whole number from 1 to 65535, not 'abc'"
    assert f"- {refused} (CLINIC_SMTP_PORT is set in {where}, as SMTP_PORT)" in started.stderr
    assert f"(CLINIC_SECRET_KEY is set in {where}, as SECRET_KEY)" in started.stderr
    assert f"(CLINIC_MAIL_BACKEND is set in {where}, as MAIL_BACKEND)" in started.stderr
    assert "short" not in started.stderr


def test_a_value_from_the_environment_is_named_as_before(database_url, tmp_path):
    started = start_production(database_url, tmp_path / "instance", "HOSPITAL_NAME = 'St Example'\n")

    assert started.returncode == 0, started.stderr


@pytest.fixture
def warnings(monkeypatch, caplog):
    monkeypatch.setattr(logging.getLogger("clinic"), "disabled", False)  # Alembic's log config
    with caplog.at_level(logging.WARNING, logger="clinic"):
        yield caplog


def test_a_key_of_the_instance_config_no_setting_has_is_warned_of_with_the_closest(
    production, database_url, tmp_path, warnings
):
    (tmp_path / "config.py").write_text(
        "SMTP_HOTS = 'mail.hospital.example'\n"
        "CLINIC_HOSPITAL_NAME = 'St Example'\n"  # the environment's name
        "DATABASE_URL = 'sqlite://'\n"  # the environment's name of SQLALCHEMY_DATABASE_URI
        "QWERTY = 1\n"
        "RATELIMIT_BOKING = '1 per hour'\n"
        # Flask's and its extensions' own: no warning
        "SESSION_COOKIE_NAME = 'clinic'\nRATELIMIT_KEY_PREFIX = 'clinic'\nSQLALCHEMY_ECHO = False\n"
        "hospital_name = 'lower case is no setting, and no Flask config'\n"
    )

    create_app(production_config(database_url))

    where = tmp_path / "config.py"
    warned = [record.getMessage() for record in warnings.records if str(where) in record.getMessage()]
    unknown = "is not a setting Clinic reads"
    assert sorted(warned) == [
        f"CLINIC_HOSPITAL_NAME in {where} {unknown} (did you mean HOSPITAL_NAME?); ignored",
        f"DATABASE_URL in {where} {unknown} (did you mean SQLALCHEMY_DATABASE_URI?); ignored",
        f"QWERTY in {where} {unknown}; ignored",
        f"RATELIMIT_BOKING in {where} {unknown} (did you mean RATELIMIT_BOOKING?); ignored",
        f"SMTP_HOTS in {where} {unknown} (did you mean SMTP_HOST?); ignored",
    ]
