"""`python -m clinic.start_check MODULE:APP`: whether gunicorn may serve the app, asked by its master before
it forks a worker (gunicorn.conf.py's on_starting), in a process of its own, as the master imports nothing of
the app (see there).

Exit status 4 with the reason on stderr where the app refuses to start: settings refused (wsgi.py exits so
as it is imported), or a database schema to upgrade (clinic.health.refusal_to_serve); 0 otherwise, a
database that does not answer included (the workers wait for it, /readyz says so)."""

import sys

from flask import Flask
from gunicorn.util import import_app

from .health import REFUSED_TO_START, refusal_to_serve


def main(app_uri: str) -> int:
    app = import_app(app_uri)
    refusal = refusal_to_serve(app) if isinstance(app, Flask) else None
    if refusal:
        print(refusal, file=sys.stderr)  # the reason alone, no traceback
        return REFUSED_TO_START
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
