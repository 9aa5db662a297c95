"""gunicorn's start as the tests and the benches run it: it opens no control socket at the one path every run
of a user shared."""

import os
import subprocess

import requests

from bench.processes import GUNICORN

from .test_link_logs import ROOT, _free_port, _wait_until_up, served_environ


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
