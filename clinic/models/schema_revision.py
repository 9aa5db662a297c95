"""Whether the database's schema is the one this code was written for: the revision `flask db upgrade` left
in its alembic_version table, against the head of the migrations folder Flask-Migrate was given.

Asked where serving starts (each gunicorn worker, the outbox worker) and by /readyz. Without it an empty or
older schema answered pages with a 500, crashed the worker with a traceback, and made /readyz say the
database did not answer, where it answered and only the tables were missing. Once the check passes, the
process never asks again: a schema does not go back while the process runs.

A schema *ahead* of the code (a revision its migrations do not know) passes, with a warning: upgrading
runs the migrations of the new code while the old web workers still serve (docs/operations.md,
"Upgrading"), and gunicorn replaces some of those meanwhile; refusing them would take the site down.
"""

import functools
import logging

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Flask
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

UPGRADE = "flask --app wsgi db upgrade"
_EXTENSION = "clinic.schema_revision"
# Where `flask db upgrade` keeps the revision: Alembic's default, which migrations/env.py keeps.
_VERSION_TABLE = "alembic_version"


class SchemaBehind(Exception):
    """The database has no schema yet, or an older one than this code needs: it must be upgraded first."""

    def __init__(self, found: list[str], needs: list[str]) -> None:
        self.found, self.needs = found, needs
        at = ", ".join(found) or "none"
        super().__init__(
            f"the database schema is at revision {at}, this code needs {', '.join(needs)}: run `{UPGRADE}`"
        )


class SchemaCheck:
    """One app's check of the schema's revision: a pass remembered."""

    def __init__(self, directory: str) -> None:
        self._directory = directory
        self.passed = False
        self._told = ""

    def require_current(self, connection: Connection) -> None:
        """Raise SchemaBehind unless the database's revision is this code's head (or one it does not know:
        newer code has upgraded it, see above). Two small queries, until it passes; none after."""
        if self.passed:
            return
        scripts = _migrations(self._directory)
        needs = list(scripts.get_heads())
        found = _database_revisions(connection)
        if set(found) == set(needs):
            self.passed = True
            return
        unknown = [revision for revision in found if not _known(scripts, revision)]
        if not unknown:
            raise SchemaBehind(found, needs)
        log.warning(
            "the database schema is at revision %s, which this code's migrations (head %s) do not know:"
            " newer code has upgraded it; serving on",
            ", ".join(found),
            ", ".join(needs),
        )
        self.passed = True

    def first_told(self, behind: SchemaBehind) -> bool:
        """Whether this process has not yet said `behind` (a log line once, not at each request refused)."""
        told, self._told = self._told, str(behind)
        return told != self._told


@functools.cache
def _migrations(directory: str) -> ScriptDirectory:
    """The migrations folder, read once a process (~20 ms): its revisions do not change while it runs."""
    return ScriptDirectory(directory)


def _database_revisions(connection: Connection) -> list[str]:
    """The revisions in the database's version table; none without one. (Alembic's MigrationContext
    reads the same, with two INFO lines each time about the database's dialect.)"""
    if not inspect(connection).has_table(_VERSION_TABLE):
        return []
    return list(connection.scalars(text(f"SELECT version_num FROM {_VERSION_TABLE}")))


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


def schema_check(app: Flask) -> SchemaCheck:
    """The app's check, on the migrations folder it gave Flask-Migrate."""
    check = app.extensions.get(_EXTENSION)
    if check is None:
        check = app.extensions[_EXTENSION] = SchemaCheck(app.extensions["migrate"].directory)
    return check
