"""gunicorn's settings for `gunicorn wsgi:app`, which reads this file from the working folder; options
given on the command line win. docs/operations.md has the production start around it.

The access log names the path without its query string: a manage or companion link mailed before their
tokens moved after "#" (`/c/<reference>?t=…`) still arrives with the token in the query, and query
strings may carry other personal data. gunicorn's warning about a request it could not parse leaves
out what it would quote of it (the request line, a header line). With CLINIC_LOG_FORMAT=json
(production's default) gunicorn's own lines are JSON objects too, each answer's with the request id
the app gave it.

gunicorn's master imports nothing of the app (config.py, clinic) nor of its packages: the workers a reload
(HUP) forks would inherit those modules as the master first loaded them, with the settings read then.
They load the app themselves, so a reload gives them the code on disk and the settings read anew.
"""

import gc
import importlib.util
import multiprocessing
import os
import re
import subprocess
import sys
from pathlib import Path

from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger

# Behind a reverse proxy (TLS, static files) on the same machine.
bind = "127.0.0.1:8000"
# Requests only touch the database (providers and mail are the outbox worker's), so a few processes per
# core; each holds one database connection: keep the sum over machines under PostgreSQL's max_connections.
workers = min(multiprocessing.cpu_count() * 2 + 1, 12)
# A worker silent this long is killed and replaced; on SIGTERM, requests in hand get as long to finish.
timeout = 30
graceful_timeout = 30
# Seconds an idle connection from the proxy stays open.
keepalive = 5
# Replace each worker after about this many requests, so slow growth of memory never accumulates.
max_requests = 2000
max_requests_jitter = 200
# Both logs to the standard streams: systemd's journal (or the container's log) keeps them.
accesslog = "-"
errorlog = "-"
# gunicorn's default format, with the path alone (%(U)s) where it logged the request line (%(r)s).
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s"'

# What gunicorn's warning about a request it could not parse quotes of it, as Python quotes a str.
QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def on_starting(server) -> None:
    """Where the app refuses to start (settings refused, a database schema to upgrade), gunicorn stops here,
    before it forks a worker, with the reason once and status 4: each worker found it for itself, so it was
    said once a worker, and with several, gunicorn halting on one worker's status 4 while it reaped another's
    added its own traceback and exited 1. The app is imported in a process of its own (clinic/start_check.py),
    as this master imports none of it (above).

    The start's warnings (a setting unknown, a choice weakening production) are said here once too, as the
    app logs them loading: the workers leave them unsaid (CLINIC_START_WARNINGS), where each said them."""
    ran = _start_check(server)
    if ran is None:
        return
    sys.stderr.write(ran.stderr)  # what the app logged as it loaded (its start warnings); any reason after
    if ran.returncode == Arbiter.APP_LOAD_ERROR:
        sys.exit(Arbiter.APP_LOAD_ERROR)
    os.environ["CLINIC_START_WARNINGS"] = "0"  # said once here: the workers forked from now on say none


def on_reload(server) -> None:
    """A reload (HUP) reads the settings anew, so the start's warnings are said once again, before the new
    workers fork; a refusal is theirs to say and stop on (post_worker_init): a reload does not stop here."""
    ran = _start_check(server)
    if ran is not None and ran.returncode != Arbiter.APP_LOAD_ERROR:
        sys.stderr.write(ran.stderr)


def _start_check(server) -> subprocess.CompletedProcess | None:
    """clinic/start_check.py run on gunicorn's app, its start warnings on (the workers' are off), or None
    where gunicorn serves no app given as MODULE:APP."""
    app_uri = getattr(server.app, "app_uri", None)
    if app_uri is None:
        return None
    path = os.pathsep.join(entry for entry in sys.path if entry)  # gunicorn's --chdir and --pythonpath too
    check = [sys.executable, "-m", "clinic.start_check", app_uri]
    env = {**os.environ, "PYTHONPATH": path, "CLINIC_START_WARNINGS": "1"}
    return subprocess.run(check, cwd=server.cfg.chdir, env=env, capture_output=True, text=True, check=False)


def post_worker_init(worker) -> None:
    """A worker whose database has no schema, or an older one than the code needs, stops gunicorn with one
    line that says to upgrade it (see clinic.health.refusal_to_serve), as wsgi.py does for a setting: as
    on_starting checks first, only where the schema went back since.

    Once a worker has loaded the app, its ~150,000 objects (modules, templates, mapped tables) live as
    long as it does: gc.freeze() leaves them out of every later collection, so a full collection scans a
    request's garbage only. Before, one took ~130 ms of CPU and came about once in 50 booking pages."""
    from flask import Flask

    from clinic.health import refusal_to_serve

    refusal = refusal_to_serve(worker.wsgi) if isinstance(worker.wsgi, Flask) else None
    if refusal:
        print(refusal, file=sys.stderr)  # the reason alone, no traceback
        # gunicorn stops on this status ("App failed to load"), where it would start worker after worker.
        sys.exit(Arbiter.APP_LOAD_ERROR)
    gc.freeze()


def _setting(name: str) -> str:
    """CLINIC_<name>, or the text of the file CLINIC_<name>_FILE names, as config.py reads it, in lower
    case; "" when unset or unreadable (the app names what it cannot read, as it loads)."""
    path = os.environ.get(f"CLINIC_{name}_FILE")
    try:
        text = os.environ.get(f"CLINIC_{name}", "") if path is None else Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    return text.strip().lower()


def log_format() -> str:
    """The app's CLINIC_LOG_FORMAT: as given, else json in production and text otherwise. An unknown
    CLINIC_ENV (or a LOG_FORMAT that is no format) is the app's to refuse, as it loads."""
    return _setting("LOG_FORMAT") or ("json" if _setting("ENV") == "production" else "text")


def _log_lines():
    """clinic/log_lines.py (standard library only), run from its file: no module of the app stays in the
    master (above). The package is found on the path as `import clinic` would find it, without running it."""
    (package,) = importlib.util.find_spec("clinic").submodule_search_locations
    spec = importlib.util.spec_from_file_location("clinic_log_lines", Path(package) / "log_lines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ClinicLogger(Logger):
    """gunicorn's logs, as JSON objects when the app logs JSON; otherwise as gunicorn writes them. A reload
    sets it up again: the log format, and the JSON line's code, as they are then."""

    json_lines = False
    request_id_header = ""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        self.json_lines = log_format() == "json"
        if self.json_lines:
            lines = _log_lines()
            self.request_id_header = lines.REQUEST_ID_HEADER.lower()
            for handler in self.error_log.handlers + self.access_log.handlers:
                handler.setFormatter(lines.JsonFormatter())

    def access(self, resp, req, environ, request_time) -> None:
        if not self.json_lines:
            return super().access(resp, req, environ, request_time)
        if not self.access_log_enabled:
            return None
        # For the 500 gunicorn answers itself when an error escapes the app, the response has its status line
        # only, and the environ no path.
        status = int(str(resp.status).split(None, 1)[0])
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO") or req.path
        request_id = next(
            (value for name, value in resp.headers if name.lower() == self.request_id_header), None
        )
        fields = {
            "request_id": request_id,
            "method": method,
            "path": path,  # never the query string (above)
            "status": status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote_addr": environ.get("REMOTE_ADDR"),
        }
        self.access_log.info("%s %s %s", method, path, status, extra={"fields": fields})
        return None

    def warning(self, msg, *args, **kwargs) -> None:
        """gunicorn's warning about a request it could not parse quotes what the client sent, a request
        line with its query or a header line with its value: the warning keeps the kind of fault only."""
        if isinstance(msg, str) and msg.startswith("Invalid request from"):
            msg = QUOTED.sub("'(left out)'", msg)
        super().warning(msg, *args, **kwargs)

    def exception(self, msg, *args, **kwargs) -> None:
        """gunicorn names a request that failed by its target, the query string included (above)."""
        super().exception(msg, *map(_without_query, args), **kwargs)


def _without_query(argument):
    return argument.split("?", 1)[0] if isinstance(argument, str) and argument.startswith("/") else argument


logger_class = ClinicLogger
