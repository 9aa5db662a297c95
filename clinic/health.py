"""GET /healthz: the process is up (for a supervisor's liveness probe; it never touches the database).
GET /readyz: whether it can serve, and how the background work is doing (for load balancers and monitoring).

/readyz answers 503 only when the database does not answer: a load balancer must not drop every web
process because the worker or Redis stopped. Monitoring reads each check; the figures behind them need
`Authorization: Bearer <CLINIC_READYZ_TOKEN>`.
"""

from flask import Blueprint, current_app, request

from .extensions import db
from .keys import same_secret
from .limits import counted_together
from .readiness import readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    report = readiness(db.session, limits_together=counted_together())
    checks = report.checks()
    body = {"status": "ok" if set(checks.values()) == {"ok"} else "failing", "checks": checks}
    if _monitor_asks():
        body["figures"] = report.figures()
    return body, 200 if report.serving else 503


def _monitor_asks() -> bool:
    token = current_app.config["READYZ_TOKEN"]
    given = request.headers.get("Authorization", "")
    return bool(token) and same_secret(given, f"Bearer {token}")
