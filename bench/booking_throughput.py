"""Booking throughput: concurrent clients booking distinct free slots through book().

    python -m bench.booking_throughput [--database-url URL] [--seconds N] [--bookings N]

Always on a temp SQLite file; with a PostgreSQL URL also on PostgreSQL, beside pgbench
running the same SQL statements that one booking issues (target, DESIGN.md: ≥ 50 %).
"""

import argparse
import os
import re
import subprocess
import tempfile
import threading
import time as clock
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from clinic.audit import Actor
from clinic.scheduling.booking import Booked, BookingRequest, book
from clinic.scheduling.patients import PatientDetails
from clinic.scheduling.tokens import LinkKeys

from . import pgbench_script
from .fixtures import BENCH_SECRET, NOW, Hospital, bench_engine, build_hospital, free_slots

CLIENTS = 8
SLOT_DAYS = 50  # of free slots to book into, from tomorrow: inside the service's 60-day horizon


@dataclass(frozen=True)
class Run:
    booked: int
    failed: int
    seconds: float
    cpu_seconds: float  # this process's, all threads: Python runs one thread at a time (the GIL)
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.booked / self.seconds


@dataclass(frozen=True)
class Setup:
    hospital: Hospital
    slots: list[tuple[int, datetime]]  # (clinician, start) for the clients, distinct and free
    spare: tuple[int, datetime]  # booked after the run, to capture one booking's SQL


def main(argv: Sequence[str] | None = None) -> None:
    """Measure on SQLite, then (given a URL) on PostgreSQL and with pgbench; print rates and the ratio."""
    args = _arguments(argv)
    with bench_engine(None) as engine:
        setup = prepare(engine, args.bookings)
        _report("sqlite", run_clients(engine, setup.hospital, setup.slots, args.seconds))
    if not args.database_url:
        print("(pass --database-url postgresql+psycopg://... for PostgreSQL and the pgbench baseline)")
        return
    with bench_engine(args.database_url) as engine:
        setup = prepare(engine, args.bookings)
        service = run_clients(engine, setup.hospital, setup.slots, args.seconds)
        _report("postgresql", service)
        text = booking_script(engine, setup)
    if args.save_script:
        with open(args.save_script, "w") as out:
            out.write(text)
    tps, problem = run_pgbench(args.database_url, text, args.seconds)
    if problem or not tps:
        print(f"  pgbench reported: {problem or 'no tps figure'}")
    if tps:
        print(f"  pgbench, same statements   {tps:8.1f} bookings/s")
        print(f"  service / pgbench          {service.rate / tps:8.1%}   target ≥ 50 %")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a loopback PostgreSQL URL (its database is wiped)")
    parser.add_argument("--seconds", type=int, default=10, help="length of each timed run")
    parser.add_argument("--bookings", type=int, default=20_000, help="stop a service run after this many")
    parser.add_argument("--save-script", help="also write the generated pgbench script here")
    return parser.parse_args(argv)


def prepare(engine: Engine, bookings: int) -> Setup:
    """A hospital with no bookings yet, and the free slots the clients will take."""
    hospital = build_hospital(engine)
    slots = free_slots(hospital, NOW.date() + timedelta(days=1), SLOT_DAYS)
    # The captured booking's start must lie days away from NOW, so times derived from each tell apart.
    spare = next(slot for slot in slots if slot[1] - NOW > timedelta(days=7))
    slots.remove(spare)
    return Setup(hospital, slots[:bookings], spare)


def run_clients(engine: Engine, hospital: Hospital, slots: list[tuple[int, datetime]], seconds: float) -> Run:
    """CLIENTS threads, each with its own session per booking, until the slots or the time run out."""
    queue = iter(enumerate(slots))
    lock = threading.Lock()
    outcomes: list[tuple[int, int, str]] = []
    deadline = clock.perf_counter() + seconds

    def client() -> None:
        booked = failed = 0
        error = ""
        while clock.perf_counter() < deadline:
            with lock:
                item = next(queue, None)
            if item is None:
                break
            try:
                _book(engine, hospital, *item)
                booked += 1
            except Exception as exc:  # counted and shown: the run goes on
                failed += 1
                error = error or f"{type(exc).__name__}: {exc}"
        with lock:
            outcomes.append((booked, failed, error))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started, cpu = clock.perf_counter(), clock.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = clock.perf_counter() - started, clock.process_time() - cpu
    booked, failed = sum(o[0] for o in outcomes), sum(o[1] for o in outcomes)
    errors = [e for _, _, e in outcomes if e]
    return Run(booked, failed, elapsed, cpu, errors[0] if errors else "")


def _book(engine: Engine, hospital: Hospital, number: int, slot: tuple[int, datetime]) -> Booked:
    """One booking as a request makes it: a fresh session, a new patient, an idempotency key."""
    clinician_id, start = slot
    patient = PatientDetails(
        f"Patient {number}",
        f"patient{number}@example.org",
        "+44 7700 900123",
        date(1980, 1, 1),
        "Europe/London",
    )
    request = BookingRequest(
        hospital.service_id, start, patient, clinician_id=clinician_id, idempotency_key=f"bench-{number}"
    )
    with Session(engine) as session:
        return book(session, request, now=NOW, keys=LinkKeys((BENCH_SECRET,)), actor=Actor())


def _report(database: str, run: Run) -> None:
    print(f"booking on {database}: {CLIENTS} clients, {run.booked} bookings in {run.seconds:.1f} s")
    print(f"  service (book())           {run.rate:8.1f} bookings/s")
    print(
        f"  this process's CPU         {run.cpu_seconds / max(run.booked, 1) * 1000:8.1f} ms per booking",
        end="",
    )
    print(f" ({run.cpu_seconds / run.seconds:.0%} of one core)")
    if run.failed:
        print(f"  {run.failed} bookings failed, first: {run.first_error}")


def booking_script(engine: Engine, setup: Setup) -> str:
    """Book the spare slot while capturing its SQL, and turn that into a pgbench script."""
    number = 10**9  # a patient and key no client uses
    with pgbench_script.capture(engine) as captured:
        booked = _book(engine, setup.hospital, number, setup.spare)
    consultation = booked.consultation
    strings = pgbench_script.unique_strings(
        consultation.uuid,
        consultation.reference,
        f"patient{number}@example.org",
        f"bench-{number}",
        _audit_hash(engine),
    )
    varying = pgbench_script.Varying(
        consultation.clinician_id, consultation.starts_at, consultation.patient_id, consultation.id, strings
    )
    if (
        len({varying.clinician_id, varying.patient_id, varying.consultation_id, setup.hospital.service_id})
        != 4
    ):
        raise RuntimeError("captured ids collide; cannot tell which parameter is which")
    statements = sum(1 for step in captured.steps if not isinstance(step, str))
    print(f"  one booking issues {statements} statements (captured for pgbench)")
    ids = [clinician_id for clinician_id, _ in setup.hospital.clinicians]
    return pgbench_script.script(captured, varying, range(min(ids), max(ids) + 1))


def _audit_hash(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1").scalar_one()


def run_pgbench(url: str, script: str, seconds: int) -> tuple[float | None, str]:
    """pgbench's tps (without connection time), and any error it reported."""
    target = make_url(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="clinic-booking-") as file:
        file.write(script)
        file.flush()
        command = ["pgbench", "-h", target.host or "127.0.0.1", "-p", str(target.port or 5432)]
        command += ["-U", target.username or "postgres", "-c", str(CLIENTS), "-j", "2", "-T", str(seconds)]
        command += ["-n", "-D", "n=0", "-f", file.name, target.database or ""]
        env = {**os.environ, "PGPASSWORD": target.password} if target.password else None
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, env=env, check=False
        )
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    problem = done.stderr.strip().splitlines()[0] if done.returncode and done.stderr.strip() else ""
    if failed and failed.group(1) != "0":
        problem = f"{failed.group(1)} failed transactions. {problem}"
    return (float(tps.group(1)) if tps else None), problem


if __name__ == "__main__":
    main()
