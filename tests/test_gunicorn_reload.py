"""`systemctl reload clinic-web` (HUP to gunicorn's master) gives the new workers the code on disk and the
settings read anew: the master, with the repo's gunicorn.conf.py, holds no module of the app for them to
inherit as it first loaded them."""

import os
import runpy
import signal
import subprocess
import sys
import time

import pytest
import requests

from .test_link_logs import ROOT, _free_port, _wait_until_up, served_environ


@pytest.fixture
def served(database_url, tmp_path):
    """The app under gunicorn, one worker, on a free port, the hospital's name read from a file."""
    name_file = tmp_path / "hospital_name"
    name_file.write_text("Old Name Hospital\n")
    port = _free_port()
    env = served_environ(database_url, tmp_path, CLINIC_HOSPITAL_NAME_FILE=str(name_file))
    command = [
        *(sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"), "--workers", "1"),
        *("--bind", f"127.0.0.1:{port}", "--control-socket", str(tmp_path / "gunicorn.ctl"), "wsgi:app"),
    ]
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, server)
        yield server, base, name_file
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_reload_gives_the_workers_a_secret_file_changed_since_the_start(served):
    server, base, name_file = served
    assert "Old Name Hospital" in requests.get(f"{base}/login", timeout=10).text

    name_file.write_text("New Name Hospital\n")
    server.send_signal(signal.SIGHUP)

    deadline, page = time.monotonic() + 20, ""
    while "New Name Hospital" not in page and time.monotonic() < deadline:
        time.sleep(0.2)
        page = requests.get(f"{base}/login", timeout=10).text
    assert "New Name Hospital" in page and "Old Name Hospital" not in page


def test_gunicorns_master_loads_no_module_of_the_app_or_its_packages():
    """What the master imports, a reload's workers inherit: config.py's settings as read at the start, the
    clinic package and Flask or SQLAlchemy as they were before an upgrade."""
    loaded = subprocess.run(
        [sys.executable, "-c", PRINT_LOADED],
        cwd=ROOT,
        env={**os.environ, "CLINIC_LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    set_up, modules = loaded.stdout.splitlines()
    assert set_up == "True x-request-id" and modules == ""


# gunicorn.conf.py run, and its logger set up, as gunicorn's master does; then every module of the app or
# its packages loaded (none).
PRINT_LOADED = """
import runpy
import sys
from gunicorn.config import Config

settings = runpy.run_path("gunicorn.conf.py")
logger = settings["ClinicLogger"](Config())
app = ("config", "setting_kinds", "wsgi", "clinic", "flask", "sqlalchemy", "werkzeug", "cryptography")
print(logger.json_lines, logger.request_id_header)
print(*sorted(name for name in sys.modules if name.split(".")[0] in app))
"""


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "text"),
        ({"CLINIC_ENV": "production"}, "json"),
        ({"CLINIC_ENV": " Production "}, "json"),
        ({"CLINIC_ENV": "production", "CLINIC_LOG_FORMAT": "Text"}, "text"),
        ({"CLINIC_LOG_FORMAT": " JSON "}, "json"),
        ({"CLINIC_LOG_FORMAT_FILE": "{folder}/format"}, "json"),
    ],
)
def test_gunicorns_lines_take_the_apps_log_format_as_config_reads_it(
    environ, expected, tmp_path, monkeypatch
):
    (tmp_path / "format").write_text("json\n")
    for name in ("CLINIC_ENV", "CLINIC_LOG_FORMAT", "CLINIC_LOG_FORMAT_FILE", "CLINIC_ENV_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value.format(folder=tmp_path))
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    assert settings["log_format"]() == expected
