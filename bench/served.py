"""What bench/load.py gives gunicorn: the app as wsgi.py builds it, plus hello-world baselines.

    gunicorn --config gunicorn.conf.py bench.served:app

`/__bench/hello` answers "Hello, world" without entering the app: the cheapest answer the same gunicorn
(its workers, access log and sockets) can give, which every page's latency is measured against.
`/__bench/flask-hello` is Flask's own hello-world app, a route of its own on the same workers: the cost of
the framework alone, without Clinic's hooks, session and headers. The product has neither route.
With CLINIC_BENCH_TIMINGS naming a folder, each worker also appends one line per request to a file of its
own there: method, path (never the query string), wall and CPU seconds spent inside the worker's call of
the app.
"""

import os
import time

from flask import Flask

from wsgi import app as clinic

HELLO_PATH = "/__bench/hello"
FLASK_HELLO_PATH = "/__bench/flask-hello"
_HELLO = b"Hello, world\n"
_TIMINGS = os.environ.get("CLINIC_BENCH_TIMINGS")

flask_hello = Flask("hello")


@flask_hello.route(FLASK_HELLO_PATH)
def hello() -> str:
    return "Hello, World!"


def app(environ: dict, start_response):
    if environ.get("PATH_INFO") == HELLO_PATH:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(_HELLO)))])
        return [_HELLO]
    if environ.get("PATH_INFO") == FLASK_HELLO_PATH:
        return flask_hello(environ, start_response)
    if not _TIMINGS:
        return clinic(environ, start_response)
    wall, cpu = time.perf_counter(), time.process_time()
    body = clinic(environ, start_response)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with open(os.path.join(_TIMINGS, f"worker-{os.getpid()}.txt"), "a") as out:
        out.write(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')} {wall:.6f} {cpu:.6f}\n")
    return body
