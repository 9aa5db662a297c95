"""The worker: one APScheduler job ticking the outbox, run by `flask clinic worker`, never by the web app."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import re
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import select, update

from clinic.jobs.settings import WorkerSettings, parse_durations
from clinic.jobs.worker import (
    HEARTBEAT_JOB_ID,
    HOUSEKEEPING_JOB_ID,
    JOB_ID,
    BackgroundWorker,
    Worker,
    build_scheduler,
    stopper,
)
from clinic.models import OutboxMessage, WorkerHeartbeat, utcnow

from . import factories
from .conftest import build_app
from .fakes.outbox import open_clinic
from .fakes.reminders import WorkerProcess
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent


def next_weekday_at_ten() -> datetime:
    """A bookable time a few days from the real now (the worker process runs on the real clock)."""
    day = datetime.now(ZoneInfo("Europe/London")).date() + timedelta(days=3)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 10, tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)


def wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def mails_due_in(session, seconds: float) -> tuple[str, datetime]:
    """A booking whose mails fall due `seconds` from now, so a worker started meanwhile first finds nothing
    due: its patient's address, and when."""
    service = open_clinic(session)
    booked = factories.booking(session, service, next_weekday_at_ten(), now=utcnow())
    email, due = booked.consultation.patient.email, utcnow() + timedelta(seconds=seconds)
    session.execute(update(OutboxMessage).values(due_at=due))
    session.commit()
    return email, due


def assert_told_once(log: str, began: str, ended: str) -> None:
    """The worker's log told of a trouble in two lines, when it began and when it was over, and of nothing
    else worth a look: no traceback a tick."""
    assert log.count(began) == 1 and log.count(ended) == 1, log
    assert len([line for line in log.splitlines() if " WARNING " in line or " ERROR " in line]) == 2, log
    assert "Traceback" not in log, log


def test_the_scheduler_keeps_three_in_memory_jobs_that_never_overlap_or_pile_up(app):
    scheduler = build_scheduler(Worker(app), BackgroundScheduler)

    dispatcher, heartbeat, housekeeping = scheduler.get_jobs()
    assert (dispatcher.id, heartbeat.id, housekeeping.id) == (JOB_ID, HEARTBEAT_JOB_ID, HOUSEKEEPING_JOB_ID)
    # One run at a time, runs missed while one went on made one, and a late run run (not skipped).
    for job in (dispatcher, heartbeat, housekeeping):
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, None)
    assert dispatcher.trigger.interval == timedelta(seconds=app.config["OUTBOX_TICK_SECONDS"])
    # Its own thread: a long batch on the dispatcher's must not stop the beats.
    assert heartbeat.executor != dispatcher.executor
    assert all(pending[2] is True for pending in scheduler._pending_jobs)  # replace_existing
    assert isinstance(scheduler._jobstores["default"], MemoryJobStore)


def test_a_sigterm_arriving_inside_the_schedulers_job_loop_stops_the_worker_cleanly(app):
    # The signal is raised right after a job is handed to its executor, inside the loop over due jobs,
    # where a deployment's SIGTERM can land. Handled there, the shutdown emptied the job stores under
    # the loop: JobLookupError, and the worker process exited with status 1.
    worker = Worker(app)
    scheduler = build_scheduler(worker, BlockingScheduler)
    executor = scheduler._lookup_executor("default")
    hand_over = executor.submit_job

    def hand_over_then_signal(job, run_times) -> None:
        hand_over(job, run_times)
        signal.raise_signal(signal.SIGTERM)

    executor.submit_job = hand_over_then_signal
    previous = signal.signal(signal.SIGTERM, stopper(worker, scheduler))
    try:
        scheduler.start()  # returns once stopped; pytest's timeout ends a hang
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert worker.stopping.is_set()


def test_creating_the_app_starts_no_scheduler(database_url, tmp_path):
    build_app(database_url, str(tmp_path))
    assert not [thread.name for thread in threading.enumerate() if "APScheduler" in thread.name]


def test_the_worker_and_serve_commands_are_registered(app):
    result = app.test_cli_runner().invoke(args=["clinic", "--help"])
    assert "worker" in result.output and "serve" in result.output


def test_worker_settings_name_a_bad_duration(app):
    with pytest.raises(ValueError, match="soon"):
        WorkerSettings.from_config({**app.config, "REMINDER_OFFSETS": "24h,soon"}, app.instance_path)
    assert parse_durations("1h, 2d,90s") == (timedelta(days=2), timedelta(hours=1), timedelta(seconds=90))


def test_the_in_process_worker_of_the_dev_server_delivers_mail(app, session, smtp_server):
    app.config.update(smtp_server.settings(), OUTBOX_TICK_SECONDS=0.1)
    consultation = factories.booking(
        session, open_clinic(session), next_weekday_at_ten(), now=utcnow()
    ).consultation

    worker = BackgroundWorker(app)
    try:
        assert wait_for(lambda: len(smtp_server.inbox(consultation.clinician.email)) == 1)
    finally:
        worker.stop()


def test_the_worker_process_delivers_mail_and_stops_cleanly_on_sigterm(
    session, database_url, tmp_path, smtp_server
):
    consultation = factories.booking(
        session, open_clinic(session), next_weekday_at_ten(), now=utcnow()
    ).consultation
    worker = WorkerProcess(database_url, smtp_server, tmp_path, lease_seconds=120)
    try:
        delivered = wait_for(lambda: len(smtp_server.inbox(consultation.patient.email)) == 1)
        beating = heartbeats(session)
    finally:
        worker.stop()
    log = worker.log()
    assert delivered, log
    assert worker.process.returncode == 0, log
    assert "outbox worker" in log
    assert len(smtp_server.inbox(consultation.clinician.email)) == 1
    assert len(beating) == 1 and heartbeats(session) == []  # it retired on the way out


def test_a_worker_stopped_idle_logs_that_it_stopped_between_batches(database_url, tmp_path, smtp_server):
    worker = WorkerProcess(database_url, smtp_server, tmp_path, lease_seconds=120)
    try:
        assert wait_for(lambda: "ticking every" in worker.log()), worker.log()
    finally:
        worker.stop()

    log = worker.log()
    assert worker.process.returncode == 0, log
    assert re.search(r"outbox worker \S+ stopped on SIGTERM between batches", log), log


def test_a_worker_stopped_during_a_batch_finishes_it_and_logs_so(
    session, database_url, tmp_path, smtp_server
):
    factories.booking(session, open_clinic(session), next_weekday_at_ten(), now=utcnow())
    smtp_server.handler.data_seconds = 2
    worker = WorkerProcess(database_url, smtp_server, tmp_path, lease_seconds=120)
    try:
        assert wait_for(lambda: smtp_server.handler.data_begun >= 1), worker.log()
    finally:
        worker.stop()

    log = worker.log()
    assert worker.process.returncode == 0, log
    assert re.search(r"outbox worker \S+ stopping on SIGTERM: it finishes the tick in hand first", log), log
    assert re.search(r"outbox worker \S+ stopped on SIGTERM: it finished the batch in hand", log), log
    assert len(smtp_server.received) == smtp_server.handler.data_begun  # each mail begun was sent


def heartbeats(session) -> list[str]:
    session.rollback()  # a fresh snapshot: the worker process writes them
    return list(session.scalars(select(WorkerHeartbeat.worker_id)))


def test_the_worker_reads_its_mail_settings_once_when_it_starts(app):
    """Not at each tick, where a setting it cannot use failed every tick (and every mail) after a start
    that looked sound."""
    app.config["MAIL_BACKEND"] = "pigeon"  # set after the app's own check, as nothing in production does

    with pytest.raises(ValueError, match="MAIL_BACKEND"):
        Worker(app)
