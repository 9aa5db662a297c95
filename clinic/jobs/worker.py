"""The outbox worker: APScheduler is only the clock that ticks the dispatcher; the database holds the state.

Production runs `flask --app wsgi clinic worker` as its own process (one or more on PostgreSQL,
exactly one on SQLite). `flask --app wsgi clinic serve` runs the same job in a thread beside the
development server. Nothing else starts a scheduler: `create_app()` never does, so gunicorn's
workers and the reloader cannot multiply it.
"""

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError

from ..extensions import db
from ..logs import log_context
from ..models.schema_revision import schema_check
from ..models.transactions import driver_reason, is_busy, is_full, is_out_of_reach
from .claims import reclaim_expired
from .clock import DatabaseClock
from .context import Context
from .dispatch import dispatch
from .heartbeat import HEARTBEAT_INTERVAL, beat, new_worker_id, register, retire
from .housekeeping import housekeep
from .reminder_offsets import follow_offsets
from .settings import WorkerSettings

log = logging.getLogger(__name__)

JOB_ID = "clinic.outbox"
HEARTBEAT_JOB_ID = "clinic.heartbeat"
HOUSEKEEPING_JOB_ID = "clinic.housekeeping"
HOUSEKEEPING_SECONDS = 60


@dataclass(frozen=True)
class Trouble:
    """A way the database fails the worker's jobs for a while, and the log's lines for it: when it begins
    (with its cause: the driver's error, and for a database out of reach what the driver said, as a
    database that does not exist is out of reach too) and when it is over."""

    level: int
    began: str
    ended: str


_AGAIN = "the jobs try again at each tick"
AWAY = Trouble(logging.WARNING, f"the database is out of reach (%s): {_AGAIN}", "the database answers again")
BUSY = Trouble(
    logging.WARNING,
    f"the database is busy (%s: a lock held past DATABASE_LOCK_WAIT, or a statement it ended): {_AGAIN}",
    "the database is free again",
)
# It lasts until someone makes room: an error, for IT to act on.
FULL = Trouble(
    logging.ERROR,
    f"the database is full (%s: no room left on its disk): {_AGAIN}",
    "the database stores again",
)
TROUBLES = (AWAY, BUSY, FULL)


def _trouble_of(error: DBAPIError) -> Trouble | None:
    if is_out_of_reach(error):
        return AWAY
    if is_busy(error):
        return BUSY
    return FULL if is_full(error) else None


class Worker:
    """One worker: its id in the outbox's `claimed_by` and in its heartbeat, its settings, and its jobs."""

    def __init__(self, app: Flask, clock: Callable[[], datetime] | None = None) -> None:
        """`clock` gives the time; by default the database server's (see jobs.clock)."""
        self.app = app
        self.settings = WorkerSettings.from_config(app.config, app.instance_path)
        self._database_clock = DatabaseClock() if clock is None else None
        self.clock = clock or self._database_clock
        self.worker_id = new_worker_id()
        self._schema = schema_check(app)
        self._password = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).password  # never in a log line
        self.stopping = threading.Event()
        self.stopped_by = ""  # the signal's name, once one has stopped it
        self._ticking = threading.Lock()  # held by a tick while it runs
        self._last_tick_ran = 0
        self._offsets_followed = False  # reminders planned before brought into step with this start's offsets
        self._trouble_lock = threading.Lock()
        # The jobs that met each trouble since it was last over.
        self._met: dict[Trouble, set[Callable[[], object]]] = {trouble: set() for trouble in TROUBLES}

    def tick(self) -> int:
        """Take back expired claims, then run every due message; returns how many ran. The first tick brings
        the reminders planned before into step with this worker's REMINDER_OFFSETS (see reminder_offsets)."""
        with self._ticking, self.app.app_context(), log_context(worker_id=self.worker_id):
            try:
                reclaim_expired(db.session, self.clock(), self.settings.max_attempts)
                if not self._offsets_followed:  # before any reminder is sent under them
                    if changed := follow_offsets(db.session, self.settings.reminder_offsets, self.clock()):
                        log.info("reminders of %d consultations follow REMINDER_OFFSETS now", changed)
                    self._offsets_followed = True
                mail = self.settings.new_mail()
                try:
                    ctx = Context(self.settings, mail, db.engine)
                    self._last_tick_ran = 0
                    ran = dispatch(db.session, ctx, self.worker_id, self.clock, self.stopping.is_set)
                    self._last_tick_ran = ran
                    return ran
                finally:
                    mail.close()
            finally:
                db.session.remove()

    def finish_tick(self) -> int | None:
        """Once stopping: wait for the tick in hand to end, its batch run to the end (dispatch stops between
        batches); how many messages it ran, or None if no tick was in hand. Logged, as a stop that seems to
        hang (or is cut short by SIGKILL) is one with a batch in hand."""
        if not self._ticking.locked():
            return None
        log.info(
            "outbox worker %s stopping on %s: it finishes the tick in hand first",
            self.worker_id,
            self.stopped_by,
        )
        with self._ticking:
            return self._last_tick_ran

    def housekeep(self) -> None:
        """Mark no-shows, end the waitlist's past offers and entries, apply the walk-in rules and retention
        (see jobs.housekeeping)."""
        settings = self.settings
        self._in_session(
            lambda: housekeep(
                db.session,
                self.clock(),
                noshow_after=settings.noshow_after,
                retention=settings.retention,
                walk_in_answer_within=settings.walk_in_answer_within,
                staff_sessions=settings.staff_sessions,
            )
        )

    def register(self) -> None:
        """Announce this worker; raises SchemaBehind if the database has no schema or an older one than
        this code needs, WorkerAlreadyRunning if it must not run (SQLite has one)."""

        def announce() -> None:
            self._schema.require_current(db.session.connection())
            register(db.session, self.worker_id, self._clock_set())

        self._in_session(announce)

    def register_once_the_database_answers(self) -> bool:
        """`register`, tried again at each tick while the database is out of reach, busy or full, as the
        jobs are; False if the worker was told to stop first."""
        register = self.through_outages(self.register)
        while not register():
            if self.stopping.wait(self.settings.tick_seconds):
                return False
        return True

    def beat(self) -> None:
        self._in_session(lambda: beat(db.session, self.worker_id, self._clock_set()))

    def _clock_set(self) -> datetime:
        """The time, the database clock set by the session's database first (see jobs.clock)."""
        if self._database_clock is not None:
            self._database_clock.set_by(db.session)
        return self.clock()

    def retire(self) -> None:
        self._in_session(lambda: retire(db.session, self.worker_id))

    def through_outages(self, job: Callable[[], object]) -> Callable[[], bool]:
        """`job` for the scheduler, which logs each failed run with its traceback. A database out of reach,
        busy or full (`Trouble`) is logged once when a job first meets it and once when a job that met it
        is done again; each tick tries the job meanwhile. Its run says whether the job was done.

        Done again, a job that met the trouble shows it over: it tried the same work, where another may
        not need what failed (a write on a full disk, a lock held elsewhere)."""

        def run() -> bool:
            try:
                job()
            except DBAPIError as error:
                trouble = _trouble_of(error)
                if trouble is None:
                    raise
                said = driver_reason(error, self._password) if trouble is AWAY else type(error.orig).__name__
                self._note_met(trouble, job, cause=said)
                return False
            self._note_done(job)
            return True

        return run

    def _note_met(self, trouble: Trouble, job: Callable[[], object], cause: str) -> None:
        with self._trouble_lock:
            first = not self._met[trouble]
            self._met[trouble].add(job)
        if first:
            log.log(trouble.level, trouble.began, cause)

    def _note_done(self, job: Callable[[], object]) -> None:
        with self._trouble_lock:
            over = [trouble for trouble, jobs in self._met.items() if job in jobs]
            for trouble in over:
                self._met[trouble].clear()
        for trouble in over:
            log.warning(trouble.ended)

    def _in_session(self, work: Callable[[], None]) -> None:
        with self.app.app_context():
            try:
                work()
            finally:
                db.session.remove()


class SkippedRuns(logging.Filter):
    """Leaves out APScheduler's warning of each run it skips as the job's last run goes on ("maximum
    number of running instances reached"): each job runs one at a time by design, so a long batch, or a
    statement waiting out DATABASE_NETWORK_TIMEOUT, gave a line a tick where nothing is wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in str(record.msg)


_SKIPPED_RUNS = SkippedRuns()


def build_scheduler(worker: Worker, scheduler_type: type[BaseScheduler]) -> BaseScheduler:
    """A scheduler with the outbox, housekeeping and heartbeat jobs, in memory: none outlives the process."""
    logging.getLogger("apscheduler.scheduler").addFilter(_SKIPPED_RUNS)  # once: the same filter
    scheduler = scheduler_type(
        jobstores={"default": MemoryJobStore()},
        # The heartbeat has its own thread, so a long batch does not make the worker look dead.
        executors={
            "default": ThreadPoolExecutor(max_workers=1),
            "heartbeat": ThreadPoolExecutor(max_workers=1),
        },
        timezone=UTC,
    )
    always = {
        "replace_existing": True,
        "max_instances": 1,
        "coalesce": True,
        "next_run_time": datetime.now(UTC),
        # A late run is still wanted: APScheduler's default skips one more than 1 s late, with a warning,
        # as every job's first is when the scheduler starts after the worker waited to register.
        "misfire_grace_time": None,
    }
    scheduler.add_job(
        worker.through_outages(worker.tick),
        "interval",
        seconds=worker.settings.tick_seconds,
        id=JOB_ID,
        name="outbox dispatcher",
        **always,
    )
    scheduler.add_job(
        worker.through_outages(worker.beat),
        "interval",
        seconds=HEARTBEAT_INTERVAL.total_seconds(),
        id=HEARTBEAT_JOB_ID,
        name="worker heartbeat",
        executor="heartbeat",
        **always,
    )
    scheduler.add_job(
        worker.through_outages(worker.housekeep),
        "interval",
        seconds=HOUSEKEEPING_SECONDS,
        id=HOUSEKEEPING_JOB_ID,
        name="housekeeping",
        **always,
    )
    return scheduler


def run_worker(app: Flask) -> None:
    """Run the worker in this process until SIGTERM or Ctrl-C; the batch in hand is finished first."""
    worker = Worker(app)
    scheduler = build_scheduler(worker, BlockingScheduler)
    stop = stopper(worker, scheduler)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if not worker.register_once_the_database_answers():
        log.info("outbox worker %s stopped on %s before it registered", worker.worker_id, worker.stopped_by)
        return
    log.info("outbox worker %s ticking every %s s", worker.worker_id, worker.settings.tick_seconds)
    try:
        if not worker.stopping.is_set():  # else stopped just as it registered, the scheduler not yet running
            scheduler.start()
    finally:
        ran = worker.finish_tick()
        worker.through_outages(worker.retire)()  # out of reach, its heartbeat expires as a killed worker's
        log.info("outbox worker %s stopped%s", worker.worker_id, _stop_said(worker.stopped_by, ran))


def _stop_said(signal_name: str, ran: int | None) -> str:
    """How the worker stopped: on which signal, and whether with a batch in hand that it finished."""
    said = f" on {signal_name}" if signal_name else ""  # none: its scheduler failed (logged before)
    if not ran:
        return f"{said} between batches"
    return (
        f"{said}: it finished the batch in hand ({ran} message{'' if ran == 1 else 's'} run in its last tick)"
    )


def stopper(worker: Worker, scheduler: BlockingScheduler) -> Callable[[int, object], None]:
    """The handler of SIGTERM and Ctrl-C for a worker run by `scheduler` in this process's main thread.

    A signal is handled in that thread, possibly inside the scheduler's loop over due jobs, which holds
    its job stores' lock: the shutdown runs in a thread of its own, which waits for the loop to let go.
    Called in the handler, the re-entrant lock let it empty the stores under the loop (JobLookupError,
    exit status 1, now and then on a deployment's stop).
    """

    def stop(signum: int, frame: object) -> None:
        if worker.stopping.is_set():
            return  # a second signal: the shutdown is under way
        worker.stopped_by = signal.Signals(signum).name
        worker.stopping.set()
        if scheduler.running:  # else it has not started: the worker still waits to register
            threading.Thread(target=scheduler.shutdown, kwargs={"wait": False}, name="worker-stop").start()

    return stop


class BackgroundWorker:
    """The worker in a thread of this process: for the development server only."""

    def __init__(self, app: Flask) -> None:
        self.worker = Worker(app)
        self.worker.register()
        self.scheduler = build_scheduler(self.worker, BackgroundScheduler)
        self.scheduler.start()

    def stop(self) -> None:
        self.worker.stopping.set()
        self.scheduler.shutdown()
        self.worker.retire()
