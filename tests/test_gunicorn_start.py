"""gunicorn's start as the tests, the benches and production run it: a refusal to start (settings refused, a
database schema to upgrade) is said once and ends gunicorn with status 4, where each worker said it and
gunicorn, halting on one worker's status while it reaped another's, added its own traceback and exited 1;
and the tests' and benches' gunicorn opens no control socket at the one path every run of a user shared."""

import os
import subprocess

import requests

from bench.processes import GUNICORN
from clinic.models.schema_revision import UPGRADE

from .test_link_logs import ROOT, _free_port, _wait_until_up, served_environ
from .test_schema_revision import HEAD, empty_database  # noqa: F401 (a fixture)

WORKERS = "4"  # several, each of which would find the refusal for itself


def started(env: dict[str, str], *options: str) -> subprocess.CompletedProcess:
    """gunicorn with the project's gunicorn.conf.py, `WORKERS` workers, given 60 s to stop by itself."""
    bind = f"127.0.0.1:{_free_port()}"
    command = [*GUNICORN, "--workers", WORKERS, "--bind", bind, *options, "wsgi:app"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_a_database_without_the_schema_stops_gunicorn_once_with_status_4(empty_database, tmp_path):  # noqa: F811
    ran = started(served_environ(empty_database, tmp_path, CLINIC_LOG_FORMAT="text"))

    refusal = f"the database schema is at revision none, this code needs {HEAD}: run `{UPGRADE}`"
    assert ran.returncode == 4, ran.stderr
    assert ran.stderr.splitlines().count(refusal) == 1 and "Traceback" not in ran.stderr, ran.stderr
    assert "Booting worker" not in ran.stderr, ran.stderr  # refused before forking one


def test_refused_settings_stop_gunicorn_once_with_status_4(database_url, tmp_path):
    env = served_environ(database_url, tmp_path, CLINIC_ENV="production", CLINIC_LOG_FORMAT="text")

    ran = started(env)

    assert ran.returncode == 4, ran.stderr
    assert ran.stderr.count("CLINIC_SECRET_KEY") == 1 and "Traceback" not in ran.stderr, ran.stderr


def test_the_tests_gunicorn_opens_no_control_socket_in_the_users_home(database_url, tmp_path):
    home = tmp_path / "home"
    env = {**served_environ(database_url, tmp_path), "HOME": str(home)}
    env.pop("XDG_RUNTIME_DIR", None)
    port = _free_port()
    command = [*GUNICORN, "--workers", "1", "--bind", f"127.0.0.1:{port}", "wsgi:app"]
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}", server)
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert not os.path.exists(home / ".gunicorn"), list(home.rglob("*"))
