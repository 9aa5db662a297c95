"""What gunicorn's own log lines share with the app's: the request id's header, and the JSON line.

Standard library only: gunicorn's master loads this file by its path (gunicorn.conf.py), so that it holds
no module of the app, nor of its packages, for the workers it forks on a reload to inherit.
"""

import json
import logging
import traceback
from datetime import UTC, datetime

REQUEST_ID_HEADER = "X-Request-ID"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the ids and other fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
            line["stack"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(line, default=str)
