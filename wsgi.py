"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi …`."""

import sys

from clinic import create_app
from clinic.health import REFUSED_TO_START
from config import InvalidSettings

try:
    app = create_app()
except InvalidSettings as refused:
    # What to fix, in the admin's words; a traceback would only bury it.
    print(refused, file=sys.stderr)
    sys.exit(REFUSED_TO_START)
