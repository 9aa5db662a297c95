"""A chaos run of the outbox: real worker processes against a provider that fails half its calls and
an SMTP server that refuses mail for a while, fed bookings, moves and cancellations as they work.

`run_chaos` drives the real booking service on a migrated database, waits for the outbox to drain
and returns the `chaos_checks` findings with the run's figures. `bench/outbox_chaos.py` runs it at
full size, `tests/test_outbox_chaos.py` small.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from random import Random

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from clinic.audit import Actor
from clinic.jobs.settings import parse_durations
from clinic.models import Consultation, OutboxKind, OutboxMessage, OutboxStatus, Service, utcnow
from clinic.scheduling.availability import find_slots
from clinic.scheduling.lifecycle import cancel, reschedule

from .. import factories
from .chaos_checks import Findings, Ledger, check_all
from .outbox import JITSI
from .providers import FakeProviders, serving
from .smtp import FakeSMTPServer

ROOT = Path(__file__).resolve().parents[2]
ACTOR = Actor("chaos")
REMINDER_OFFSETS = "24h,1h"
# Consultations start from this far ahead, so no reminder falls due during a run.
FIRST_START = timedelta(days=2)
SLOT_WINDOW = timedelta(days=12)
# The client waits READ_TIMEOUT for an answer; a "lost" response comes STALL later, after the work.
READ_TIMEOUT, STALL = 0.3, 0.6


@dataclass(frozen=True)
class ChaosPlan:
    """How big and how hostile a run is; the shares are chances per booking of one move or cancel."""

    bookings: int
    reschedule_share: float = 0.3
    cancel_share: float = 0.15
    provider: str = "teams"
    provider_failure_rate: float = 0.5
    smtp_outage_seconds: float = 30.0
    spread_seconds: float = 45.0  # the changes are paced over this long, into and past the outage
    workers: int = 1
    clinicians: int = 8
    seed: int = 2026
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 60.0
    max_attempts: int = 10
    drain_timeout_seconds: float = 900.0


def run_chaos(engine: Engine, database_url: str, plan: ChaosPlan, folder: Path) -> Findings:
    """Run the plan against the migrated database at `database_url` (the app's `engine` books)."""
    with ExitStack() as stack:
        smtp = stack.enter_context(_smtp_server())
        providers = stack.enter_context(serving())
        with Session(engine) as session:
            service_id = _open_clinic(session, plan.clinicians)
        env = _worker_env(database_url, folder, smtp, providers, plan)
        workers = stack.enter_context(worker_processes(plan.workers, env, folder))
        _wait_until_ticking(folder, workers)
        providers.fail_at_random(plan.provider_failure_rate, seed=plan.seed, stall=STALL)
        smtp.refuse_for(plan.smtp_outage_seconds)
        started = time.monotonic()
        ledger = make_changes(engine, service_id, plan)
        changed = time.monotonic()
        drained = wait_until_drained(engine, plan.drain_timeout_seconds, workers)
        finished = time.monotonic()
    with Session(engine) as session:
        findings = check_all(
            session, ledger, smtp.received, providers, plan.provider, parse_durations(REMINDER_OFFSETS)
        )
    findings.figures.update(_run_figures(providers, smtp, started, changed, finished, drained))
    findings.count("worker errors and tracebacks", _worker_errors(folder))
    stopped = [f"worker {n} exited {w.returncode}" for n, w in enumerate(workers) if w.returncode != 0]
    findings.count("workers not stopped cleanly by SIGTERM", stopped)
    if not drained:
        findings.problems.append(f"outbox not drained within {plan.drain_timeout_seconds:.0f} s")
    return findings


def make_changes(engine: Engine, service_id: int, plan: ChaosPlan) -> Ledger:
    """Book `plan.bookings` consultations through the booking service, paced over the spread, each
    followed by chance by a move and a cancellation of a random live one; returns what was done."""
    rng, ledger = Random(plan.seed), Ledger()
    patients = max(1, plan.bookings * 3 // 4)  # some patients book more than once
    started = time.monotonic()
    with Session(engine) as session:
        service = session.get(Service, service_id)
        free = _free_slots(session, service, rng)
        length = timedelta(minutes=service.duration_minutes)
        for n in range(plan.bookings):
            time.sleep(max(0.0, started + plan.spread_seconds * n / plan.bookings - time.monotonic()))
            clinician_id = rng.choice([c for c, starts in free.items() if starts])
            patient = factories.patient_details(rng.randrange(patients))
            booked = factories.booking(
                session,
                service,
                _take_start(free[clinician_id], ledger.held_by(patient.email), length),
                now=utcnow(),
                clinician_id=clinician_id,
                patient=patient,
            )
            ledger.booked(booked.consultation)
            if rng.random() < plan.reschedule_share:
                _move(session, ledger, free, rng.choice(ledger.live()), length)
            if rng.random() < plan.cancel_share:
                consultation = cancel(
                    session, _id(session, rng.choice(ledger.live())), now=utcnow(), actor=ACTOR
                )
                ledger.cancelled(consultation)
    return ledger


def wait_until_drained(engine: Engine, timeout: float, workers: list[subprocess.Popen]) -> bool:
    """Wait until no message but a future reminder is pending or running; False on timeout or if a
    worker died."""
    deadline = time.monotonic() + timeout
    unfinished = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.RUNNING)),
            OutboxMessage.kind != OutboxKind.REMINDER,
        )
    )
    while time.monotonic() < deadline and all(w.poll() is None for w in workers):
        with Session(engine) as session:
            if session.scalar(unfinished) == 0:
                return True
        time.sleep(0.2)
    return False


@contextmanager
def worker_processes(count: int, env: dict[str, str], folder: Path) -> Iterator[list[subprocess.Popen]]:
    """`flask clinic worker` processes logging to folder/worker-N.log, stopped with SIGTERM at the end."""
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "clinic", "worker"]
    workers = []
    try:
        for n in range(count):
            with open(folder / f"worker-{n}.log", "w") as log:
                workers.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log))
        yield workers
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()


def _wait_until_ticking(folder: Path, workers: list[subprocess.Popen], timeout: float = 60) -> None:
    """Start the chaos only once every worker runs, so the outage meets them and not their start-up."""
    deadline = time.monotonic() + timeout
    logs = [folder / f"worker-{n}.log" for n in range(len(workers))]
    while not all("ticking every" in log.read_text() for log in logs):
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            raise RuntimeError(f"workers did not start: {[log.read_text()[-2000:] for log in logs]}")
        time.sleep(0.1)


@contextmanager
def _smtp_server() -> Iterator[FakeSMTPServer]:
    server = FakeSMTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _open_clinic(session: Session, clinicians: int) -> int:
    """A 30-minute service that patients may change up to its start, offered by `clinicians`."""
    service = factories.service(session, cancel_cutoff_minutes=0)
    for _ in range(clinicians):
        factories.clinician(session, [service])
    session.commit()
    return service.id


def _free_slots(session: Session, service: Service, rng: Random) -> dict[int, list]:
    """Each clinician's free starts from FIRST_START on, by the slot engine, shuffled; used at most once."""
    now = utcnow()
    free: dict[int, list] = {}
    for slot in find_slots(session, service, now + FIRST_START, now + FIRST_START + SLOT_WINDOW, now):
        free.setdefault(slot.clinician_id, []).append(slot.start)
    for starts in free.values():
        rng.shuffle(starts)
    session.rollback()
    return free


def _move(session: Session, ledger: Ledger, free: dict[int, list], uuid: str, length: timedelta) -> None:
    consultation_id = _id(session, uuid)
    clinician_id = session.get(Consultation, consultation_id).clinician_id
    held = ledger.held_by(ledger.consultations[uuid].mailboxes[0], moving=uuid)
    start = _take_start(free[clinician_id], held, length)
    moved = reschedule(session, consultation_id, start, now=utcnow(), actor=ACTOR)
    ledger.rescheduled(moved)


def _take_start(starts: list[datetime], held: list[datetime], length: timedelta) -> datetime:
    """Take the last of a clinician's free starts that clears the patient's own bookings: patients
    book more than once here, and the service rightly refuses one patient two consultations at once."""
    for n in reversed(range(len(starts))):
        if all(abs(starts[n] - other) >= length for other in held):
            return starts.pop(n)
    raise RuntimeError("no free start left that clears the patient's own bookings; widen SLOT_WINDOW")


def _id(session: Session, uuid: str) -> int:
    consultation_id = session.scalar(select(Consultation.id).where(Consultation.uuid == uuid))
    session.rollback()  # the change that follows opens its own write transaction
    return consultation_id


def _worker_env(
    database_url: str, folder: Path, smtp: FakeSMTPServer, providers: FakeProviders, plan: ChaosPlan
) -> dict[str, str]:
    settings = {
        **smtp.settings(),
        **providers.settings(),
        **JITSI,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": folder / "worker-instance",
        "MEETING_PROVIDER": plan.provider,
        "PROVIDER_READ_TIMEOUT": READ_TIMEOUT,
        "REMINDER_OFFSETS": REMINDER_OFFSETS,
        "OUTBOX_TICK_SECONDS": 0.2,
        "OUTBOX_MAX_ATTEMPTS": plan.max_attempts,
        "OUTBOX_RETRY_BASE_SECONDS": plan.retry_base_seconds,
        "OUTBOX_RETRY_MAX_SECONDS": plan.retry_max_seconds,
    }
    return {**os.environ, "CLINIC_ENV": "testing", **{f"CLINIC_{k}": str(v) for k, v in settings.items()}}


def _run_figures(
    providers: FakeProviders,
    smtp: FakeSMTPServer,
    started: float,
    changed: float,
    finished: float,
    drained: bool,
) -> dict[str, object]:
    injected = providers.injected
    kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(injected.items()))
    return {
        "provider calls": len(providers.received),
        "provider calls failed": f"{sum(injected.values())} ({kinds})",
        "SMTP refusals (451)": smtp.handler.outage_refusals,
        "seconds making changes": round(changed - started, 1),
        "seconds to drain after the last change": round(finished - changed, 1) if drained else "not drained",
        "seconds from first booking to drained": round(finished - started, 1) if drained else "not drained",
    }


def _worker_errors(folder: Path) -> list[str]:
    """Lines the workers logged at ERROR or with a traceback: a bug, not an injected failure."""
    lines = [line for log in sorted(folder.glob("worker-*.log")) for line in log.read_text().splitlines()]
    return [line for line in lines if " ERROR " in line or line.startswith("Traceback")]
