"""What bench/load.py gives gunicorn: the app as wsgi.py builds it, plus hello-world baselines.

    gunicorn --config gunicorn.conf.py bench.served:app

`/__bench/hello` answers "Hello, world" without entering the app: the cheapest answer the same gunicorn
(its workers, access log and sockets) can give, which every page's latency is measured against.
`/__bench/flask-hello` is Flask's own hello-world app, a route of its own on the same workers: the cost of
the framework alone, without Clinic's hooks, session and headers. `/__bench/sql-alone/<page>` (for
/book/time, /api/v1/slots and /schedule/) replays, through a bare DB-API cursor on a connection of the
app's own engine, its reads (the SELECTs it ran outside any transaction) with the parameters that this
worker's latest serving of that page ran, and answers as hello does: the page's reads with no Python around
them, under which that page's latency cannot fall. The statements are heard at psycopg's cursors, so those
a page runs past SQLAlchemy (clinic.models.driver), which no engine event hears, are among them.
`/__bench/sql-in-app/<page>` replays the same statements from a route of Clinic's own app, on the cursor a
page's reads take (clinic.models.driver.read_cursor): the page with everything but its own Python, through the
hooks, session and headers every page of Clinic goes through. Both send the statements outside any
transaction, as a page's reads go (clinic.models.transactions.read_without_transaction). Until the worker has
served the page both answer 204, which the load bench leaves out (a floor that never answers otherwise fails
the bench). `/__bench/spin/<ms>` runs a loop of integer additions, pure Python touching nothing else, as many
as `ms` milliseconds of this worker's CPU take when the core is busy (measured as the worker starts), then
answers as hello does: how long that much CPU work takes a request on this host, whatever code does it. The
product has none of these routes.
With CLINIC_BENCH_TIMINGS naming a folder, each worker also appends one line per request to a file of its
own there: method, path (never the query string), wall and CPU seconds spent inside the worker's call of
the app.
"""

import os
import time
from collections.abc import Callable

import psycopg
from flask import Flask, Response
from sqlalchemy import event

from clinic.extensions import db
from clinic.models.driver import read_cursor
from wsgi import app as clinic

HELLO_PATH = "/__bench/hello"
FLASK_HELLO_PATH = "/__bench/flask-hello"
SQL_ALONE_PATH = "/__bench/sql-alone"
SQL_IN_APP_PATH = "/__bench/sql-in-app"
SQL_ALONE_PAGES = ("/book/time", "/api/v1/slots", "/schedule/")
SPIN_PATH = "/__bench/spin"
_HELLO = b"Hello, world\n"
_TIMINGS = os.environ.get("CLINIC_BENCH_TIMINGS")

flask_hello = Flask("hello")


@flask_hello.route(FLASK_HELLO_PATH)
def hello() -> str:
    return "Hello, World!"


class PageSql:
    """Each read page's SELECT statements as this worker last ran them, to replay without the page."""

    def __init__(self) -> None:
        with clinic.app_context():
            self._engine = db.engine
        self._statements: dict[str, list[tuple[str, object]]] = {}
        self._recording: list[tuple[str, object]] | None = None
        self._connection = None
        if self._engine.dialect.name == "postgresql":  # the race's SQLite run has no floors to replay
            event.listen(self._engine, "checkout", _hear_cursors)

    def app_for(self, environ: dict) -> Callable:
        """The app, recording the reads of the request if it asks for a read page. Every serving: the first
        runs statements once for the worker's life (filling caches) that later ones do not."""
        page = environ.get("PATH_INFO", "")
        if environ["REQUEST_METHOD"] != "GET" or page not in SQL_ALONE_PAGES:
            return clinic

        def recorded(environ: dict, start_response):
            self._recording = []
            try:
                return clinic(environ, start_response)  # Flask's teardown has run before this
            finally:
                statements, self._recording = self._recording, None
                if statements:
                    self._statements[page] = statements

        return recorded

    def replay(self, page: str, start_response):
        statements = self._statements.get(page)
        if statements is None:
            start_response("204 No Content", [])
            return []
        if self._connection is None:
            self._connection = self._engine.raw_connection()
            if self._engine.dialect.name == "postgresql":
                self._connection.driver_connection.autocommit = True  # as the page's reads run
        cursor = self._connection.cursor()
        _run(cursor, statements)
        cursor.close()
        return _hello(start_response)

    def replay_in_app(self, page: str) -> Response:
        """The page's statements on the cursor the page's own reads run on (models.driver.read_cursor)."""
        statements = self._statements.get("/" + page)
        if statements is None:
            return Response(status=204)
        with read_cursor(db.session) as cursor:
            _run(cursor, statements)
        return Response(_HELLO, mimetype="text/plain")

    def heard(self, statement: str, parameters: object, autocommit: bool) -> None:
        """Record a page's reads: the SELECTs it runs outside any transaction. Its writes, and the
        statements of a write's transaction (such as the audit event of who was shown /schedule's list,
        under the audit chain's lock), are not replayed: they would add to the data."""
        if self._recording is not None and autocommit and statement.lstrip().upper().startswith("SELECT"):
            self._recording.append((statement, parameters))


class _HeardCursor(psycopg.Cursor):
    """A cursor telling `page_sql` each statement it runs, whoever runs it: SQLAlchemy or models.driver."""

    def execute(self, query, params=None, **options):
        page_sql.heard(query, params, self.connection.autocommit)
        return super().execute(query, params, **options)


def _hear_cursors(dbapi_connection, _record, _proxy) -> None:
    dbapi_connection.cursor_factory = _HeardCursor


page_sql = PageSql()
clinic.add_url_rule(f"{SQL_IN_APP_PATH}/<path:page>", "bench_sql_in_app", page_sql.replay_in_app)


def _run(cursor, statements: list[tuple[str, object]]) -> None:
    for statement, parameters in statements:
        cursor.execute(statement, parameters)
        cursor.fetchall()


def _add_up(additions: int) -> int:
    """Pure Python work and nothing else: `additions` integer additions in a loop."""
    total = 0
    for number in range(additions):
        total += number
    return total


def _additions_per_ms() -> float:
    """_add_up's additions per millisecond of this process's CPU, the core busy: the best of 20 runs back
    to back (the first ones run on a core that was idle, which is slower; see bench/idle_worker.py)."""
    additions, best = 100_000, float("inf")
    for _ in range(20):
        started = time.process_time()
        _add_up(additions)
        best = min(best, time.process_time() - started)
    return additions / (best * 1000)


ADDITIONS_PER_MS = _additions_per_ms()


def _spin(environ: dict, start_response) -> list[bytes]:
    _add_up(round(float(environ["PATH_INFO"].removeprefix(SPIN_PATH + "/")) * ADDITIONS_PER_MS))
    return _hello(start_response)


def _hello(start_response) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(_HELLO)))])
    return [_HELLO]


def app(environ: dict, start_response):
    path = environ.get("PATH_INFO", "")
    if path == HELLO_PATH:
        return _hello(start_response)
    if path == FLASK_HELLO_PATH:
        return flask_hello(environ, start_response)
    if path.startswith(SQL_ALONE_PATH):
        return page_sql.replay(path.removeprefix(SQL_ALONE_PATH), start_response)
    served = _spin if path.startswith(SPIN_PATH) else page_sql.app_for(environ)
    if not _TIMINGS:
        return served(environ, start_response)
    wall, cpu = time.perf_counter(), time.process_time()
    body = served(environ, start_response)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with open(os.path.join(_TIMINGS, f"worker-{os.getpid()}.txt"), "a") as out:
        out.write(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')} {wall:.6f} {cpu:.6f}\n")
    return body
