"""Booking throughput: client processes (as gunicorn runs them) booking distinct free slots through book().

    python -m bench.booking_throughput [--database-url URL] [--seconds N] [--rounds N]

On a temp SQLite file for reference; given a PostgreSQL URL, also there in rounds that alternate with
pgbench running the same SQL statements that one booking issues (target, DESIGN.md: ≥ 50 %), then
one client process against two (scale-out: about twice on two cores).
"""

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time as clock
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session

from clinic.audit import Actor
from clinic.scheduling.booking import Booked, BookingRequest, book
from clinic.scheduling.patients import PatientDetails
from clinic.scheduling.tokens import LinkKeys
from tests.fakes.reminders import cpu_now

from . import pgbench_script, script_replay
from .figures import emit
from .fixtures import BENCH_SECRET, NOW, Hospital, bench_engine, build_hospital, free_slots
from .processes import run_together

BENCH = "booking_throughput"
CLIENTS = 8
CLINICIANS = 100
SLOT_DAYS = 58  # of free slots to book into, from tomorrow: inside the service's 60-day horizon
TARGET_RATIO = 0.5  # of pgbench (DESIGN.md, Performance targets)
SCALE_OUT_TARGET = 2.0  # two client processes against one, on two cores

Slot = tuple[int, datetime]  # (clinician, start)


@dataclass(frozen=True)
class Run:
    booked: int
    failed: int
    seconds: float
    cpu_seconds: float  # of the client processes, summed
    server_cpu_seconds: float | None  # of their PostgreSQL backends, when the server runs on this machine
    machine_cores: float  # cores the whole machine kept busy over the round, its start-up included
    stalled: float  # share of the round in which a busy core had a task queued for it
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.booked / self.seconds


class Slots:
    """The hospital's free slots, handed out in disjoint batches, numbered for unique patients and keys."""

    def __init__(self, hospital: Hospital, batch: int, batches: int = 1) -> None:
        """`batches`: how many will be taken; each gets `batch` slots, or fewer if they would not all fit
        (a round that books its batch before its time is up ends early, its rate still a rate)."""
        self.hospital = hospital
        self._free = list(enumerate(free_slots(hospital, NOW.date() + timedelta(days=1), SLOT_DAYS)))
        self._batch = min(batch, (len(self._free) - 1) // batches)
        # The captured booking's start lies days away from NOW, so times derived from each tell apart.
        self.spare = next(item for item in self._free if item[1][1] - NOW > timedelta(days=7))
        self._free.remove(self.spare)

    def take(self) -> list[tuple[int, Slot]]:
        if len(self._free) < self._batch:
            raise SystemExit("out of free slots: pass fewer --rounds or a smaller --batch")
        batch, self._free = self._free[: self._batch], self._free[self._batch :]
        return batch


def main(argv: Sequence[str] | None = None) -> None:
    """SQLite for reference, then (given a URL) PostgreSQL beside pgbench and the scale-out rounds."""
    args = _arguments(argv)
    with bench_engine(None) as engine:
        slots = Slots(build_hospital(engine, CLINICIANS), args.batch)
        sqlite = run_clients(engine, slots, args.seconds, CLIENTS)
    _report("sqlite", CLIENTS, sqlite)
    emit(BENCH, f"sqlite bookings/s, {CLIENTS} processes", sqlite.rate, None, "bookings/s", None)
    if not args.database_url:
        print("(pass --database-url postgresql+psycopg://... for PostgreSQL and the pgbench baseline)")
        return
    with bench_engine(args.database_url) as engine:
        # A warm-up, then each round: the service beside pgbench, one scale-out process, then two.
        slots = Slots(build_hospital(engine, CLINICIANS), args.batch, batches=1 + 3 * args.rounds)
        ids_apart(engine)
        run_clients(engine, slots, 1, CLIENTS)  # warm-up
        script = booking_script(engine, slots)
        if args.save_script:
            with open(args.save_script, "w") as out:
                out.write(script)
        against_pgbench(engine, args, slots, script)
        scale_out(engine, args, slots)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a loopback PostgreSQL URL (its database is wiped)")
    parser.add_argument("--seconds", type=float, default=8, help="length of each timed round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each comparison")
    parser.add_argument("--batch", type=int, default=4_000, help="free slots handed to one round")
    parser.add_argument("--save-script", help="also write the generated pgbench script here")
    return parser.parse_args(argv)


def against_pgbench(engine: Engine, args: argparse.Namespace, slots: Slots, script: str) -> None:
    """Alternate pgbench, the same script from Python processes (the floor of any Python client) and
    the booking service, round by round; the service's ratio to pgbench, worst and median."""
    pairs, floors = [], []
    for number in range(args.rounds):
        tps = run_pgbench(args.database_url, script, args.seconds, number)
        floor = script_replay.run_clients(args.database_url, script, args.seconds, CLIENTS, number)
        service = run_clients(engine, slots, args.seconds, CLIENTS)
        _report("postgresql", CLIENTS, service)
        print(f"  pgbench, same statements   {tps:8.1f} bookings/s   ratio {service.rate / tps:6.1%}")
        print(
            f"  Python + psycopg, same     {floor.rate:8.1f} bookings/s   {floor.rate / tps:6.1%} of "
            f"pgbench, client CPU {floor.cpu_ms:.1f} ms per booking"
        )
        pairs.append((service.rate, tps))
        floors.append((floor.rate, tps))
    ratios = sorted(rate / tps for rate, tps in pairs)
    print(
        f"  service / pgbench over {args.rounds} rounds: worst {ratios[0]:.1%}, median "
        f"{statistics.median(ratios):.1%}   target ≥ {TARGET_RATIO:.0%}   load {_load()}"
    )
    floor_ratio = statistics.median(floor / tps for floor, tps in floors)
    print(f"  Python + psycopg / pgbench, median {floor_ratio:.1%}: no Python client goes faster")
    worst = min(pairs, key=lambda pair: pair[0] / pair[1])
    median_rate, median_tps = (statistics.median(side) for side in zip(*pairs, strict=True))
    figure = f"postgresql bookings/s, {CLIENTS} processes, vs pgbench -c {CLIENTS}"
    emit(BENCH, f"{figure} (median)", median_rate, median_tps, "bookings/s", TARGET_RATIO)
    emit(BENCH, f"{figure} (worst round)", worst[0], worst[1], "bookings/s", TARGET_RATIO)
    floor_rate, floor_tps = (statistics.median(side) for side in zip(*floors, strict=True))
    emit(
        BENCH,
        f"the same statements from {CLIENTS} Python processes (psycopg) vs pgbench",
        floor_rate,
        floor_tps,
        "bookings/s",
        None,
    )


def scale_out(engine: Engine, args: argparse.Namespace, slots: Slots) -> None:
    """One client process against two, interleaved: on two cores, two should book about twice as fast."""
    pairs, stalls = [], []
    for _ in range(args.rounds):
        one = run_clients(engine, slots, args.seconds, 1)
        two = run_clients(engine, slots, args.seconds, 2)
        pairs.append((two.rate, one.rate))
        stalls.append((two.stalled, one.stalled))
        print(
            f"scale-out on postgresql: 1 process {one.rate:6.1f}/s, 2 processes {two.rate:6.1f}/s;"
            f" the machine busy {one.machine_cores:.2f} and {two.machine_cores:.2f} of {os.cpu_count()}"
            f" cores, a core with a task queued for it {one.stalled:.0%} and {two.stalled:.0%} of the time"
        )
    ratios = sorted(two / one if one else 0.0 for two, one in pairs)
    print(
        f"  2 / 1 processes over {args.rounds} rounds: worst {ratios[0]:.2f}×, median "
        f"{statistics.median(ratios):.2f}×   target ≈ {SCALE_OUT_TARGET:.0f}×   load {_load()}"
    )
    two_rate, one_rate = (statistics.median(side) for side in zip(*pairs, strict=True))
    emit(BENCH, "postgresql bookings/s, 2 processes vs 1", two_rate, one_rate, "bookings/s", SCALE_OUT_TARGET)
    two_stalled, one_stalled = (statistics.median(side) for side in zip(*stalls, strict=True))
    emit(
        BENCH,
        "share of the time a core had a task queued, 2 processes vs 1",
        two_stalled,
        one_stalled,
        "share of the time",
        None,
    )


def run_clients(engine: Engine, slots: Slots, seconds: float, processes: int) -> Run:
    """`processes` client processes booking a fresh batch of slots until it or the time runs out."""
    batch = slots.take()
    before, started = cpu_now([], []), clock.monotonic()
    outcomes = run_together(
        _client, [(engine, slots.hospital, batch[i::processes], seconds) for i in range(processes)]
    )
    used, elapsed = cpu_now([], []) - before, clock.monotonic() - started
    errors = [outcome["error"] for outcome in outcomes if outcome["error"]]
    servers = [outcome["server_cpu"] for outcome in outcomes]
    return Run(
        booked=sum(outcome["booked"] for outcome in outcomes),
        failed=sum(outcome["failed"] for outcome in outcomes),
        seconds=max(o["ended"] for o in outcomes) - min(o["started"] for o in outcomes),
        cpu_seconds=sum(outcome["cpu"] for outcome in outcomes),
        server_cpu_seconds=None if None in servers else sum(servers),
        machine_cores=used.machine / elapsed,
        stalled=used.stalled / elapsed,
        first_error=errors[0] if errors else "",
    )


def _client(
    engine: Engine,
    hospital: Hospital,
    batch: list[tuple[int, Slot]],
    seconds: float,
    ready: Any,  # a Barrier of the fork context
    results: Any,  # and its Queue
) -> None:
    """One client process: its own connection (opened before the clock starts), bookings until done."""
    engine.dispose(close=False)  # the parent's connections are the parent's
    with engine.connect() as connection:  # one connection, kept in the pool for every booking
        backend = _backend_cpu(connection)
    booked = failed = 0
    error = ""
    ready.wait()
    started, cpu, server_cpu = clock.monotonic(), clock.process_time(), backend()
    deadline = started + seconds
    for number, slot in _until(batch, deadline):
        try:
            _book(engine, hospital, number, slot)
            booked += 1
        except Exception as exc:  # counted and shown: the run goes on
            failed += 1
            error = error or f"{type(exc).__name__}: {exc}"
    ended = clock.monotonic()
    results.put(
        {
            "booked": booked,
            "failed": failed,
            "error": error,
            "started": started,
            "ended": ended,
            "cpu": clock.process_time() - cpu,
            "server_cpu": None if server_cpu is None else backend() - server_cpu,
        }
    )


def _backend_cpu(connection: Connection) -> Callable[[], float | None]:
    """A reader of the CPU seconds that this connection's PostgreSQL backend has used (None where the
    server is not a process of this machine, or is SQLite)."""
    if connection.dialect.name != "postgresql":
        return lambda: None
    stat = Path(f"/proc/{connection.exec_driver_sql('SELECT pg_backend_pid()').scalar_one()}/stat")

    def used() -> float | None:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    return used


def _until(batch: list[tuple[int, Slot]], deadline: float) -> Iterator[tuple[int, Slot]]:
    for item in batch:
        if clock.monotonic() >= deadline:
            return
        yield item


def _book(engine: Engine, hospital: Hospital, number: int, slot: Slot) -> Booked:
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


def _report(database: str, processes: int, run: Run) -> None:
    print(f"booking on {database}: {processes} processes, {run.booked} bookings in {run.seconds:.1f} s")
    print(f"  service (book())           {run.rate:8.1f} bookings/s")
    per_booking = 1000 / max(run.booked, 1)
    print(f"  client CPU                 {run.cpu_seconds * per_booking:8.1f} ms per booking")
    if run.server_cpu_seconds is not None:
        print(f"  server CPU (backends)      {run.server_cpu_seconds * per_booking:8.1f} ms per booking")
    print(f"  the machine busy           {run.machine_cores:8.2f} of {os.cpu_count()} cores")
    if run.failed:
        print(f"  {run.failed} bookings failed, first: {run.first_error}")


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def ids_apart(engine: Engine) -> None:
    """New patients and consultations get ids far from each other and from every small number, so the
    pgbench script can tell the captured ids from other values."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "SELECT setval('patient_id_seq', 1000000), setval('consultation_id_seq', 2000000)"
        )


def booking_script(engine: Engine, slots: Slots) -> str:
    """Book the spare slot while capturing its SQL, and turn that into a pgbench script."""
    number, slot = slots.spare
    with pgbench_script.capture(engine) as captured:
        _book(engine, slots.hospital, number, slot)
    with engine.connect() as conn:
        last_event = "SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1"
        audit_hash = conn.exec_driver_sql(last_event).scalar_one()
        consultation_id, reference, patient_id, clinician_id, starts_at, uuid = conn.exec_driver_sql(
            "SELECT id, reference, patient_id, clinician_id, starts_at, uuid FROM consultation "
            "ORDER BY id DESC LIMIT 1"
        ).one()
    strings = pgbench_script.unique_strings(
        uuid, reference, f"patient{number}@example.org", f"bench-{number}", audit_hash
    )
    varying = pgbench_script.Varying(clinician_id, starts_at, patient_id, consultation_id, strings)
    if len({clinician_id, patient_id, consultation_id, slots.hospital.service_id}) != 4:
        raise RuntimeError("captured ids collide; cannot tell which parameter is which")
    sent = [step for step in captured.steps if not isinstance(step, str)]
    statements = sum(len(step) if isinstance(step, list) else 1 for step in sent)
    print(f"one booking issues {statements} statements in {len(sent)} sends (captured for pgbench)")
    ids = [clinician_id for clinician_id, _ in slots.hospital.clinicians]
    return pgbench_script.script(captured, varying, range(min(ids), max(ids) + 1))


def run_pgbench(url: str, script: str, seconds: float, number: int) -> float:
    """pgbench's tps (without connection time) in round `number`; exits on any error it reports."""
    target = make_url(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="clinic-booking-") as file:
        file.write(script)
        file.flush()
        command = ["pgbench", "-h", target.host or "127.0.0.1", "-p", str(target.port or 5432)]
        command += [
            "-U",
            target.username or "postgres",
            "-c",
            str(CLIENTS),
            "-j",
            "2",
            "-T",
            str(round(seconds)),
        ]
        command += ["-n", "-D", "n=0", "-D", f"round={number}", "-f", file.name, target.database or ""]
        env = {**os.environ, "PGPASSWORD": target.password} if target.password else None
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, env=env, check=False
        )
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if done.returncode or not tps or (failed and failed.group(1) != "0"):
        raise SystemExit(f"pgbench failed: {done.stderr.strip() or done.stdout.strip()}"[:2000])
    return float(tps.group(1))


if __name__ == "__main__":
    main()
