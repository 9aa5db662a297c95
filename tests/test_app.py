"""Configuration, the demo data command and the app's error handling."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

import config
from clinic import create_app
from clinic.extensions import db
from clinic.models import Clinician, Consultation, Department, Service

from .conftest import TEST_SECRET, production_config, production_environment
from .test_link_logs import _free_port

ROOT = Path(__file__).resolve().parent.parent


def test_production_refuses_the_default_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("CLINIC_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="CLINIC_SECRET_KEY"):
        create_app("production")


def test_the_demo_hospital_loads_once(app, session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["clinic", "demo", "--bookings", "40"])
    assert "loaded" in first.output
    second = runner.invoke(args=["clinic", "demo"])
    assert "nothing to do" in second.output

    assert session.scalar(select(func.count()).select_from(Department)) == 3
    clinicians = session.scalars(select(Clinician)).all()
    assert len(clinicians) >= 8
    assert {c.time_zone for c in clinicians} == {"Europe/London", "Europe/Amsterdam"}
    durations = set(session.scalars(select(Service.duration_minutes)))
    assert {15, 20, 30, 45} <= durations
    assert session.scalar(select(func.count()).select_from(Consultation)) == 40


def test_security_headers_are_on_every_response(client):
    for response in (client.get("/healthz"), client.get("/no-such-page")):
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_response_that_sets_a_security_header_keeps_its_own_once(client):
    page, stylesheet = client.get("/healthz"), client.get("/static/clinic.css")

    assert page.headers.getlist("Cache-Control") == ["no-store"]
    assert stylesheet.headers.getlist("Cache-Control") == ["no-cache"]  # revalidated, not refetched
    assert stylesheet.headers.getlist("X-Frame-Options") == ["DENY"]


def test_the_demo_refuses_to_load_in_production(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CLINIC_ENV", "production")
    monkeypatch.setenv("CLINIC_INSTANCE_PATH", str(tmp_path))

    app = create_app(production_config(database_url))
    result = app.test_cli_runner().invoke(args=["clinic", "demo"])

    assert result.exit_code == 1 and "development only" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Department)) == 0


def test_the_demo_loads_through_the_real_flask_command(database_url, tmp_path):
    # The flask command resets app.debug from FLASK_DEBUG: what `make run` does must still work.
    env = {
        **os.environ,
        "CLINIC_ENV": "development",
        "CLINIC_DATABASE_URL": database_url,
        "CLINIC_INSTANCE_PATH": str(tmp_path),
    }
    env.pop("FLASK_DEBUG", None)
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "clinic", "demo", "--bookings", "5"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert "Demo hospital loaded" in result.stdout


@pytest.mark.parametrize(
    ("given", "expected"),
    [("1", True), ("TRUE", True), ("on", True), ("0", False), ("false", False), ("", False)],
)
def test_on_off_settings_read_the_usual_spellings(monkeypatch, given, expected):
    monkeypatch.setenv("CLINIC_SOME_SWITCH", given)
    assert config._flag("SOME_SWITCH", default=False) is expected


def test_the_session_cookie_follows_a_change_of_secret_key(app, client):
    with client.session_transaction() as session:
        session["seen"] = "yes"

    app.config.update(SECRET_KEY="a-new-secret-key", SECRET_KEY_FALLBACKS=[TEST_SECRET])
    with client.session_transaction() as session:
        assert session["seen"] == "yes"  # signed with the old key, which is now a fallback

    app.config.update(SECRET_KEY="yet-another-secret-key", SECRET_KEY_FALLBACKS=[])
    with client.session_transaction() as session:
        assert "seen" not in session  # no key left that signed it


def test_the_layout_links_follow_the_path_the_app_is_mounted_at(client):
    for mounted_at in ("", "/clinic", ""):
        page = client.get("/privacy", base_url=f"http://localhost{mounted_at}/").get_data(as_text=True)

        assert f'<link rel="stylesheet" href="{mounted_at}/static/clinic.css">' in page
        assert f'<a class="staff-link" href="{mounted_at}/login">Staff sign in</a>' in page


def test_the_development_server_refuses_to_run_in_production(database_url, tmp_path):
    env = {**os.environ, **production_environment(database_url), "CLINIC_INSTANCE_PATH": str(tmp_path)}
    port = str(_free_port())
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "clinic", "serve", "--port", port]

    ran = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert ran.returncode == 1
    assert ran.stderr.strip().splitlines()[-1] == (
        "Error: `clinic serve` is the development server, not for production (CLINIC_ENV is production):"
        " run gunicorn as docs/operations.md says"
    ), ran.stderr
