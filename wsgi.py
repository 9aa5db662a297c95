"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi …`."""

import sys

from clinic import create_app
from config import InvalidSettings

# gunicorn stops on a worker that exits with this status ("App failed to load"), where it would start
# worker after worker on any other.
APP_LOAD_ERROR = 4

try:
    app = create_app()
except InvalidSettings as refused:
    # What to fix, in the admin's words; a traceback would only bury it.
    print(refused, file=sys.stderr)
    sys.exit(APP_LOAD_ERROR)
