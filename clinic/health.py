"""GET /healthz: 200 while the app is up and its database answers, with the state of the background work.

The web process is healthy even when no worker runs (a load balancer must not drop it for that);
monitoring reads `worker.status` and the outbox figures to page someone before reminders go missing.
"""

from flask import Blueprint

from .extensions import db
from .jobs.heartbeat import outbox_health
from .models import utcnow

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    health = outbox_health(db.session, utcnow())
    return {
        "status": "ok",
        "worker": {"status": "ok" if health.worker_ok else "missing", "live": health.live_workers},
        "outbox": {
            "due": health.due_messages,
            "oldest_due_seconds": health.oldest_due_seconds,
            "dead_letters": health.dead_letters,
        },
    }
