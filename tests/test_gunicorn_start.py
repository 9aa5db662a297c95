"""gunicorn's start as the tests, the benches and production run it: a refusal to start (settings refused, a
database schema to upgrade) is said once and ends gunicorn with status 4, where each worker said it and
gunicorn, halting on one worker's status while it reaped another's, added its own traceback and exited 1;
the start's warnings are logged once, not once by each worker; and the tests' and benches' gunicorn opens
no control socket at the one path every run of a user shared."""

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from bench.processes import GUNICORN
from clinic.models.schema_revision import UPGRADE

from .conftest import production_environment
from .fakes.reminders import WorkerProcess
from .fakes.smtp import smtp_server  # noqa: F401 (a fixture)
from .test_link_logs import ROOT, _free_port, _wait_until_up, served_environ
from .test_schema_revision import HEAD, empty_database  # noqa: F401 (a fixture)
from .test_worker import wait_for

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


WEAKENING = {"REQUIRE_ADMIN_MFA": "0", "RATELIMIT_STORAGE_URL": "memory://", "DATABASE_LOCK_WAIT": "30"}


def test_productions_start_warnings_are_logged_once_however_many_workers_gunicorn_forks(
    database_url, tmp_path
):
    """Each worker loaded the app and logged them again (after the start check had, unseen): an admin read
    each one once per worker, and once more from the outbox worker, which still logs them at its start."""
    logged = gunicorns_log(weakened_production(database_url, tmp_path), tmp_path, reloads=0)

    for name in WEAKENING:
        assert logged.count(f"CLINIC_{name} is ") == 1, logged


def test_a_reload_says_the_start_warnings_once_again(database_url, tmp_path):
    """A reload reads the settings anew, so what they weaken is said anew: once, not by each new worker."""
    logged = gunicorns_log(weakened_production(database_url, tmp_path), tmp_path, reloads=1)

    for name in WEAKENING:
        assert logged.count(f"CLINIC_{name} is ") == 2, logged


def test_the_outbox_worker_still_logs_productions_start_warnings_once(database_url, tmp_path, smtp_server):  # noqa: F811
    """A process of its own (its own systemd unit), which no start check of gunicorn's speaks for."""
    settings = {
        **weakened_production(database_url, tmp_path),
        "CLINIC_INSTANCE_PATH": str(tmp_path / "worker"),
    }
    worker = WorkerProcess(database_url, smtp_server, tmp_path, lease_seconds=120, settings=settings)
    try:
        assert wait_for(lambda: "ticking every" in worker.log()), worker.log()
    finally:
        worker.stop()

    for name in WEAKENING:
        assert worker.log().count(f"CLINIC_{name} is ") == 1, worker.log()


def weakened_production(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **served_environ(database_url, tmp_path, CLINIC_LOG_FORMAT="text"),
        **production_environment(database_url),
        **{f"CLINIC_{name}": value for name, value in WEAKENING.items()},
    }


def gunicorns_log(env: dict[str, str], tmp_path: Path, reloads: int, workers: int = 2) -> str:
    """What gunicorn and the app logged (both on standard error) from its start, through `reloads` reloads
    (HUP), each until its workers booted, to its stop."""
    errors = tmp_path / "gunicorn.log"
    command = [*GUNICORN, "--workers", str(workers), "--bind", f"127.0.0.1:{_free_port()}", "wsgi:app"]
    with errors.open("w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        _wait_until_booted(errors, server, workers)
        for reload in range(1, reloads + 1):
            server.send_signal(signal.SIGHUP)
            _wait_until_booted(errors, server, workers * (reload + 1))
    finally:
        server.terminate()  # a worker still loading the app finishes loading it first, then stops
        server.wait(timeout=30)
    return errors.read_text()


def _wait_until_booted(log: Path, server: subprocess.Popen, workers: int) -> None:
    deadline = time.monotonic() + 60
    while log.read_text().count("Booting worker") < workers:
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


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
