"""/healthz says the process is up and nothing else; /readyz checks the database, the background work and
the request limits' storage, in JSON even while the database is down, with figures only for the holder of
CLINIC_READYZ_TOKEN."""

import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest

from clinic.extensions import db
from clinic.jobs.heartbeat import new_worker_id, register
from clinic.models import (
    EntryStatus,
    OutboxMessage,
    OutboxStatus,
    QueueStatus,
    WalkInEntry,
    WalkInQueue,
    utcnow,
)

from . import factories
from .conftest import build_app, postgres_only
from .fakes.outbox import open_clinic
from .fakes.redis_server import redis_server
from .fakes.reminders import FAKETIME, ROOT
from .fakes.tcp_link import linked
from .test_rate_limits_across_workers import REDIS_URL, key_prefix  # noqa: F401 (fixture)

REFUSING_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/clinic"  # nothing listens on port 1
TOKEN = "readyz-token-for-monitoring"
AS_MONITOR = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = {"database", "schema", "worker", "outbox", "dead_letters", "providers", "rate_limits"}
# The checks that need the database's answer.
OF_THE_DATABASE = CHECKS - {"database", "rate_limits"}


@pytest.fixture(autouse=True)
def monitored(app):
    app.config["READYZ_TOKEN"] = TOKEN


@pytest.fixture
def down(tmp_path):
    """The app with a database that refuses every connection."""
    app = build_app(REFUSING_DATABASE, str(tmp_path / "down"), READYZ_TOKEN=TOKEN)
    with app.app_context():
        yield app.test_client()
        db.engine.dispose()


def readyz(client, headers=None) -> tuple[int, dict]:
    answer = client.get("/readyz", headers=headers or {})
    assert answer.mimetype == "application/json"
    return answer.status_code, answer.get_json()


def booked_with_a_live_worker(session, now) -> None:
    factories.booking(session, open_clinic(session), now + timedelta(days=1, hours=2), now=now)
    register(session, new_worker_id(), utcnow())


def test_healthz_answers_while_the_database_refuses_connections(down):
    answer = down.get("/healthz")

    assert answer.status_code == 200 and answer.get_json() == {"status": "ok"}


def test_readyz_answers_json_503_while_the_database_is_down(down):
    status, body = readyz(down, AS_MONITOR)

    assert status == 503
    assert body["status"] == "failing"
    assert body["checks"] == {"database": "failing", "rate_limits": "ok"} | dict.fromkeys(
        OF_THE_DATABASE, "unknown"
    )


def test_readyz_is_ready_with_a_database_even_without_a_worker(client):
    status, body = readyz(client)

    assert status == 200  # a stopped worker must not take every web process out of the load balancer
    assert body["checks"]["database"] == "ok" and body["checks"]["worker"] == "failing"
    assert body["status"] == "failing"


def test_readyz_is_ok_when_everything_is(client, session):
    register(session, new_worker_id(), utcnow())

    status, body = readyz(client)

    assert status == 200
    assert body == {"status": "ok", "checks": dict.fromkeys(CHECKS, "ok")}


@pytest.mark.parametrize("fault", ["cut", "stall"])
def test_a_rate_limits_storage_that_does_not_answer_fails_its_check_and_leaves_the_process_ready(
    database_url,
    tmp_path,
    session,
    key_prefix,  # noqa: F811 (a fixture)
    fault,
):
    """Redis down or gone silent, each process counts the limits for itself (and a client gets each
    limit once per process): monitoring is told, and the process keeps serving."""
    register(session, new_worker_id(), utcnow())
    with linked(REDIS_URL) as (url, link):
        settings = {"RATELIMIT_STORAGE_URL": url, "RATELIMIT_KEY_PREFIX": key_prefix}
        client = build_app(database_url, str(tmp_path), RATELIMIT_ENABLED=True, **settings).test_client()
        assert readyz(client)[1]["status"] == "ok"

        getattr(link, fault)()
        status, body = readyz(client)
        assert status == 200 and body["status"] == "failing"
        assert body["checks"] == dict.fromkeys(CHECKS - {"rate_limits"}, "ok") | {"rate_limits": "failing"}

        link.mend()
        assert readyz(client)[1]["status"] == "ok"


def test_a_rate_limits_storage_at_its_memory_limit_fails_its_check(database_url, tmp_path, session):
    """Redis full answers PING, which the check asked, and refuses every count: it said ok."""
    register(session, new_worker_id(), utcnow())
    with redis_server() as server:
        settings = {"RATELIMIT_STORAGE_URL": server.url}
        client = build_app(database_url, str(tmp_path), RATELIMIT_ENABLED=True, **settings).test_client()
        assert readyz(client)[1]["status"] == "ok"

        server.fill()
        status, body = readyz(client)
        assert status == 200 and body["checks"]["rate_limits"] == "failing"

        server.free()
        assert readyz(client)[1]["status"] == "ok"


def test_anonymous_callers_see_only_ok_or_failing_never_a_figure(client, session, now):
    booked_with_a_live_worker(session, now)

    _, body = readyz(client, {"Authorization": "Bearer a-guess"})

    assert set(body) == {"status", "checks"}
    assert set(body["checks"].values()) <= {"ok", "failing"}
    assert not re.search(r"\d", str(body))


def test_the_monitor_with_the_token_sees_the_figures(client, session, now):
    booked_with_a_live_worker(session, now)
    consultation_id = session.scalars(db.select(OutboxMessage.consultation_id)).first()
    dead = OutboxMessage(
        consultation_id=consultation_id, kind="mail.reminder", due_at=now, idempotency_key="dead-one"
    )
    dead.status = OutboxStatus.DEAD
    session.add(dead)
    session.commit()

    _, body = readyz(client, AS_MONITOR)

    assert body["checks"]["outbox"] == "failing"  # the booking's messages are due since `now`, long ago
    assert body["checks"]["dead_letters"] == "failing"
    figures = body["figures"]
    assert figures["worker"] == {"live": 1}
    assert figures["outbox"]["due"] >= 4  # meeting, two confirmations, reminder planning
    assert figures["outbox"]["oldest_due_seconds"] >= (utcnow() - now).total_seconds() - 60
    assert figures["dead_letters"] == {"count": 1}
    assert figures["providers"] == {"meeting_calls_retrying": 0}


def test_a_meeting_call_waiting_for_a_retry_fails_the_providers_check(client, session, now):
    booked_with_a_live_worker(session, now)
    meeting = session.scalars(db.select(OutboxMessage).where(OutboxMessage.kind == "meeting.create")).one()
    meeting.attempts, meeting.last_error = 1, "ProviderUnavailable"
    meeting.due_at = utcnow() + timedelta(minutes=1)
    session.commit()

    _, body = readyz(client, AS_MONITOR)

    assert body["checks"]["providers"] == "failing"
    assert body["figures"]["providers"] == {"meeting_calls_retrying": 1}


@pytest.fixture
def queues(session):
    """Callers in walk-in queues: the open Helpline has two waiting (for 10 and 3 minutes) and one taken;
    the open Night line none; the paused Skin line one."""
    svc = factories.service(session)
    nurse = factories.clinician(session, [svc])
    helpline = factories.walk_in_queue(session, svc, [nurse], slug="helpline")
    factories.walk_in_queue(session, svc, [nurse], slug="night-line")
    skin_line = factories.walk_in_queue(session, svc, [nurse], slug="skin-line")
    start = utcnow()
    for minutes_ago in (10, 3, 1):
        details = factories.caller_details(
            name=f"Zebedee Quartermain {minutes_ago}", email="zebedee.q@example.org"
        )
        factories.walk_in(session, helpline, now=start - timedelta(minutes=minutes_ago), details=details)
    factories.walk_in(session, skin_line, now=start - timedelta(hours=2))
    taken = session.scalars(db.select(WalkInEntry).order_by(WalkInEntry.id.desc())).all()[1]
    taken.status, taken.taken_at = EntryStatus.TAKEN, start
    skin_line.status = QueueStatus.PAUSED
    session.commit()


def test_the_monitor_sees_each_open_queue_s_callers_waiting_and_the_longest_wait(client, session, queues):
    _, body = readyz(client, AS_MONITOR)

    walk_in = body["figures"]["walk_in"]
    assert list(walk_in) == ["helpline", "night-line"]  # the paused queue is not open
    assert walk_in["helpline"]["waiting"] == 2
    assert 10 * 60 <= walk_in["helpline"]["oldest_wait_seconds"] < 10 * 60 + 60
    assert walk_in["night-line"] == {"waiting": 0, "oldest_wait_seconds": None}
    assert "Zebedee" not in str(body) and "zebedee" not in str(body)


def test_anonymous_callers_see_no_walk_in_figure(client, session, queues):
    _, body = readyz(client)

    assert set(body) == {"status", "checks"} and "walk_in" not in body["checks"]
    assert not re.search(r"\d|helpline", str(body))


def test_a_long_queue_never_makes_the_process_unready(client, session, queues):
    register(session, new_worker_id(), utcnow())
    helpline = session.scalars(db.select(WalkInQueue).where(WalkInQueue.slug == "helpline")).one()
    for _ in range(30):
        factories.walk_in(session, helpline, now=utcnow() - timedelta(days=1))

    status, body = readyz(client, AS_MONITOR)

    assert status == 200
    assert body["status"] == "ok" and body["checks"] == dict.fromkeys(CHECKS, "ok")
    assert body["figures"]["walk_in"]["helpline"]["waiting"] == 32


@postgres_only
def test_postgresql_counts_the_waiting_through_the_queue_status_index(session, queues):
    """With sequential scans priced out, the plan of /readyz's count uses the entries' (queue, status,
    position) index, as take-next does."""
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql

    from clinic.walkin.duty import waiting_query

    query = waiting_query([1, 2])
    compiled = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(session.scalars(text(f"EXPLAIN {compiled}")))

    assert "ix_walk_in_entry_queue_status_position" in plan


# Asks /readyz of an app in a process of its own, whose clock libfaketime sets off (FAKETIME).
_READYZ_OF_A_PROCESS = """
import json, sys
from tests.conftest import build_app
app = build_app(sys.argv[1], sys.argv[2])
print(json.dumps(app.test_client().get("/readyz").get_json()))
"""


@postgres_only
@pytest.mark.skipif(FAKETIME is None, reason="needs libfaketime (Debian's faketime)")
@pytest.mark.parametrize(
    ("web_clock", "beat_seconds_ago", "worker"),
    [("+60s", 0, "ok"), ("-60s", 45, "failing")],
)
def test_the_worker_check_keeps_the_databases_time_whatever_the_web_machines_clock(
    session, database_url, tmp_path, web_clock, beat_seconds_ago, worker
):
    """A worker beats by the database's clock (jobs/clock.py). Compared with a web machine's own clock,
    its beat looked a minute old to one running ahead (the worker failing), and one 45 s old, from a
    worker gone, looked fresh to one running behind."""
    register(session, new_worker_id(), utcnow() - timedelta(seconds=beat_seconds_ago))
    environment = {
        **os.environ,
        "LD_PRELOAD": str(FAKETIME),
        "FAKETIME": web_clock,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    asked = subprocess.run(
        [sys.executable, "-c", _READYZ_OF_A_PROCESS, database_url, str(tmp_path / "web")],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(asked.stdout.splitlines()[-1])["checks"]["worker"] == worker
