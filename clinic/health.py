"""GET /healthz: the process is up (for a supervisor's liveness probe; it never touches the database).
GET /readyz: whether it can serve, and how the background work is doing (for load balancers and monitoring).

/readyz answers 503 only when the database does not answer, or has no schema or an older one than this code
needs: a load balancer must not drop every web process because the worker or Redis stopped. Monitoring
reads each check; the figures behind them, and the reason for a 503 (revisions, the driver's words), need
`Authorization: Bearer <CLINIC_READYZ_TOKEN>`.
"""

import logging

from flask import Blueprint, Flask, current_app, request
from sqlalchemy.exc import DBAPIError

from .extensions import db
from .keys import same_secret
from .limits import counted_together
from .models.schema_revision import SchemaBehind, schema_check
from .models.transactions import driver_reason
from .readiness import readiness

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

# The exit status of a process that refuses to start (settings refused, a schema to upgrade): gunicorn's
# "App failed to load", on which it stops where it would start worker after worker; the systemd units do not
# restart it (RestartPreventExitStatus=4), as trying again every few seconds would only say it again.
REFUSED_TO_START = 4


# Endpoints that answer without the tables: /healthz reads no database, /readyz checks the schema itself.
_WITHOUT_TABLES = {"health.healthz", "health.readyz", "static"}


@bp.before_app_request
def require_the_schema() -> None:
    """Until this process's schema check has passed, each request asks it first: a gunicorn worker that
    started while the database did not answer (no refusal: it may come back) served 500s when it came back
    without the schema. SchemaBehind is answered 503 (errors.py), and logged once."""
    check = schema_check(current_app)
    if check.passed or request.endpoint in _WITHOUT_TABLES:
        return
    try:
        check.require_current(db.session.connection())
    except SchemaBehind as behind:
        if check.first_told(behind):
            log.warning("pages answer 503: %s", behind)
        raise


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    report = readiness(
        db.session,
        limits_together=counted_together(),
        schema=schema_check(current_app),
        password=db.engine.url.password,
    )
    checks = report.checks()
    body = {"status": "ok" if set(checks.values()) == {"ok"} else "failing", "checks": checks}
    if _monitor_asks():
        body["figures"] = report.figures()
        if report.reason:
            body["reason"] = report.reason
    return body, 200 if report.serving else 503


def _monitor_asks() -> bool:
    token = current_app.config["READYZ_TOKEN"]
    given = request.headers.get("Authorization", "")
    return bool(token) and same_secret(given, f"Bearer {token}")


def refusal_to_serve(app: Flask) -> str | None:
    """Why `app` must not serve, asked as a gunicorn worker starts: the database has no schema, or an older
    one than this code needs, and every page reading a table it lacks would be a 500. Not create_app()'s to
    ask: `flask db upgrade`, which mends it, builds the app too. A database that does not answer yet is
    no reason (logged): /readyz answers 503 and asks again."""
    with app.app_context():
        try:
            with db.engine.connect() as connection:
                schema_check(app).require_current(connection)
        except SchemaBehind as behind:
            return str(behind)
        except DBAPIError as error:
            said = driver_reason(error, db.engine.url.password)
            log.warning("the database does not answer, its schema is unchecked: %s", said)
        finally:
            db.engine.dispose()  # no connection of this check stays open in the worker
    return None
