"""Heartbeats: /readyz tells whether a worker is alive and how far behind the outbox is; SQLite has one."""

import subprocess
import sys
from datetime import timedelta

import pytest

from clinic.jobs.heartbeat import (
    ALIVE_WITHIN,
    FORGET_AFTER,
    WorkerAlreadyRunning,
    beat,
    new_worker_id,
    outbox_health,
    register,
    retire,
)
from clinic.models import WorkerHeartbeat, utcnow

from .conftest import postgres_only, sqlite_only

ELSEWHERE = "another-host:4242:00c0ffee"


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_worker_is_alive_while_it_beats_and_gone_when_it_retires(session, now):
    worker_id = new_worker_id()
    register(session, worker_id, now)
    assert outbox_health(session, now).live_workers == 1

    later = now + 2 * ALIVE_WITHIN
    assert outbox_health(session, later).live_workers == 0  # it missed three beats
    beat(session, worker_id, later)
    assert outbox_health(session, later).worker_ok

    retire(session, worker_id)
    assert session.get(WorkerHeartbeat, worker_id) is None


def test_beats_forget_workers_gone_for_a_day(session, now):
    session.add(WorkerHeartbeat(worker_id=ELSEWHERE, started_at=now, beat_at=now))
    session.commit()
    survivor = new_worker_id()
    register(session, survivor, now + FORGET_AFTER)  # on SQLite too: the other one is long silent

    beat(session, survivor, now + FORGET_AFTER + timedelta(minutes=1))
    assert session.get(WorkerHeartbeat, ELSEWHERE) is None
    assert session.get(WorkerHeartbeat, survivor) is not None


@sqlite_only
def test_on_sqlite_a_second_worker_is_refused_while_the_first_is_alive(session, now):
    register(session, ELSEWHERE, now)

    with pytest.raises(WorkerAlreadyRunning, match="already running"):
        register(session, new_worker_id(), now + timedelta(seconds=5))
    register(session, new_worker_id(), now + ALIVE_WITHIN + timedelta(seconds=1))  # its beat went stale


@sqlite_only
def test_on_sqlite_a_killed_worker_on_this_host_does_not_block_its_successor(session, now):
    host = new_worker_id().split(":")[0]
    register(session, f"{host}:{dead_pid()}:deadbeef", now)

    register(session, new_worker_id(), now + timedelta(seconds=1))
    assert outbox_health(session, now).live_workers == 2


@postgres_only
def test_on_postgresql_workers_run_side_by_side(session, now):
    register(session, ELSEWHERE, now)
    register(session, new_worker_id(), now)
    assert outbox_health(session, now).live_workers == 2


@sqlite_only
def test_the_worker_command_explains_why_it_will_not_start(app, session):
    register(session, ELSEWHERE, utcnow())

    result = app.test_cli_runner().invoke(args=["clinic", "worker"])

    assert result.exit_code == 1
    assert "already running on this SQLite database" in result.output
