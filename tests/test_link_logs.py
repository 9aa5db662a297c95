"""Link tokens never reach a log: the app under real gunicorn, its access log and the app's own log in
files at debug level, the manage and companion links opened as a browser opens them."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bench.processes import GUNICORN
from clinic.models import utcnow
from clinic.scheduling.tokens import companion_link, companion_token, manage_link

from . import factories
from .conftest import TEST_KEYS, TEST_SECRET
from .test_booking_pages import next_week_at

ROOT = Path(__file__).resolve().parent.parent

# Every logger at debug into app.log, SQL statements with their parameters too; set in gunicorn's master
# before it forks its workers.
APP_LOG = """
import logging
logging.basicConfig(filename={app_log!r}, level=logging.DEBUG)
logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
"""


@pytest.fixture
def gunicorn(database_url, tmp_path):
    """Serves the app with gunicorn (2 workers) on a free port, its access, error and app logs in files:
    `gunicorn(project_config)` returns (base URL, log folder). Without the project's gunicorn.conf.py,
    gunicorn logs as it does by default, as a deployment with its own settings might. `app` serves
    another WSGI app, found on `pythonpath`, behind the same settings."""
    servers = []

    def serve(
        project_config: bool, app: str = "wsgi:app", pythonpath: Path | None = None
    ) -> tuple[str, Path]:
        logs = tmp_path / "logs"
        logs.mkdir()
        config = tmp_path / "gunicorn.conf.py"
        settings = (ROOT / "gunicorn.conf.py").read_text() if project_config else ""
        config.write_text(settings + APP_LOG.format(app_log=str(logs / "app.log")))
        port = _free_port()
        env = served_environ(database_url, tmp_path)
        command = [
            *(*GUNICORN, "--config", str(config), "--workers", "2"),
            *("--bind", f"127.0.0.1:{port}", "--log-level", "debug", "--capture-output"),
            *("--access-logfile", str(logs / "access.log"), "--error-logfile", str(logs / "error.log")),
            *(("--pythonpath", str(pythonpath)) if pythonpath else ()),
            app,
        ]
        servers.append(subprocess.Popen(command, cwd=ROOT, env=env))
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base, servers[-1])
        return base, logs

    yield serve
    for server in servers:
        server.terminate()
        server.wait(timeout=30)


def served_environ(database_url: str, tmp_path: Path, **variables: str) -> dict[str, str]:
    """The environment of the app served from a subprocess: development, on this test's database and
    instance folder, with `variables` besides."""
    return {
        **os.environ,
        "CLINIC_ENV": "development",
        "CLINIC_DATABASE_URL": database_url,
        "CLINIC_INSTANCE_PATH": str(tmp_path / "instance"),
        "CLINIC_SECRET_KEY": TEST_SECRET,
        **variables,
    }


def follow(browser: requests.Session, link: str) -> requests.Response:
    """Open a mail's link as a browser with open_link.js does: the part after "#" stays in the
    browser; the script posts its token with the page's form (and its CSRF token)."""
    address, _, fragment = link.partition("#")
    page = browser.get(address)
    form = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    if "data-link-form" not in page.text:
        return page
    return browser.post(address, data={"csrf_token": form.group(1), "code": fragment.removeprefix("t=")})


def test_opening_manage_and_companion_links_under_gunicorn_writes_their_tokens_in_no_log_line(
    gunicorn, session
):
    base, logs = gunicorn(project_config=False)
    service = factories.service(session, name="Skin check review")
    factories.clinician(session, [service])
    session.commit()
    companion = factories.companion_details(name="Grace Hopper")
    booked = factories.booking(session, service, next_week_at(10), now=utcnow(), companion=companion)
    consultation = booked.consultation
    reference = consultation.reference
    manage = manage_link(consultation, base_url=base, keys=TEST_KEYS)
    join = companion_link(consultation.companion, base_url=base, keys=TEST_KEYS)
    tokens = {booked.manage_token, companion_token(TEST_KEYS, consultation.companion)}

    patient, guest = requests.Session(), requests.Session()
    room = follow(patient, manage)
    cancel_page = patient.get(f"{base}/c/{reference}/cancel")
    guest_room = follow(guest, join)

    assert "Skin check review" in room.text and "Cancel your consultation?" in cancel_page.text
    assert "You are invited to join" in guest_room.text
    access = log_lines(logs / "access.log", waiting_for=f"POST /g/{reference} ")
    app_log = log_lines(logs / "app.log")
    every_line = access + app_log + log_lines(logs / "error.log")
    assert [line for line in every_line if any(token in line for token in tokens)] == []
    assert sum(f"POST /c/{reference} " in line for line in access) == 1
    assert sum(f"POST /g/{reference} " in line for line in access) == 1
    assert sum(reference in line for line in app_log) >= 4  # the app logged each request's queries


def test_a_link_mailed_before_with_its_token_in_the_query_leaves_it_in_no_log_line_either(gunicorn, session):
    base, logs = gunicorn(project_config=True)
    service = factories.service(session)
    factories.clinician(session, [service])
    session.commit()
    booked = factories.booking(session, service, next_week_at(10), now=utcnow())
    reference = booked.consultation.reference

    room = requests.get(f"{base}/c/{reference}?t={booked.manage_token}", timeout=30)

    assert room.status_code == 200 and room.url == f"{base}/c/{reference}"
    access = log_lines(logs / "access.log", waiting_for=f'"GET /c/{reference} HTTP/1.1" 303')
    assert any(f'"GET /c/{reference} HTTP/1.1" 303' in line for line in access)
    every_line = access + log_lines(logs / "app.log") + log_lines(logs / "error.log")
    assert [line for line in every_line if booked.manage_token in line] == []


def log_lines(path: Path, waiting_for: str = "", timeout: float = 10) -> list[str]:
    """The file's lines; with `waiting_for`, once a line holds it (gunicorn writes an access line after
    it has sent the answer, so the client can be faster than the log)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines()
        if not waiting_for or any(waiting_for in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(base: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            requests.get(f"{base}/healthz", timeout=10)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise TimeoutError("gunicorn did not start")


def test_the_development_servers_request_lines_leave_out_the_query_and_its_token(database_url, tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "CLINIC_ENV": "development",
        "CLINIC_DATABASE_URL": database_url,
        "CLINIC_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "clinic", "serve", "--port", str(port)]
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}", server)
        requests.get(f"http://127.0.0.1:{port}/c/ABC-DEFG?t=a-token-in-the-query", timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=30)

    lines = log_lines(log)
    assert any("GET /c/ABC-DEFG HTTP/1.1" in line for line in lines), lines
    assert [line for line in lines if "a-token-in-the-query" in line] == []


# Requests gunicorn cannot parse, each with a token where gunicorn's warning about it quoted it: in the
# request line's query, a header line with no colon, a target with a control character.
GARBLED = [
    "GET /c/ABC-DEFG?t={token} HTTP/1.1 extra\r\nHost: clinic\r\n\r\n",
    "GET /c/ABC-DEFG?t={token}\x01 HTTP/1.1\r\nHost: clinic\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: clinic\r\nCookie session={token}\r\n\r\n",
    "GET /c/ABC-DEFG?t={token} HTTP/9.9\r\nHost: clinic\r\n\r\n",
    "G\x01T /c/ABC-DEFG?t={token} HTTP/1.1\r\nHost: clinic\r\n\r\n",
]


def test_requests_gunicorn_cannot_parse_leave_what_they_carry_in_no_log_line(gunicorn):
    base, logs = gunicorn(project_config=True)
    port = int(base.rsplit(":", 1)[1])
    tokens = [f"garbled-token-{n}" for n in range(len(GARBLED))]
    for token, request in zip(tokens, GARBLED, strict=True):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request.format(token=token).encode("latin-1"))
            assert sock.recv(4096).startswith(b"HTTP/1.1 400 ")

    every_line = log_lines(logs / "error.log") + log_lines(logs / "access.log") + log_lines(logs / "app.log")
    assert [line for line in every_line if any(token in line for token in tokens)] == []
    warnings = [line for line in every_line if "Invalid request from ip=127.0.0.1" in line]
    assert len(warnings) == len(GARBLED)  # each still logged, with the kind of fault
    assert sum("Invalid HTTP Header: " in line for line in warnings) == 1
