"""Walk-in take-next: staff processes (as gunicorn runs them) taking the next caller until nobody waits.

    python -m bench.walk_in [--database-url URL] [--callers N] [--staff N] [--rounds N]

Each round, the callers join one queue through its join service (untimed), then two loops empty it in
turn (their order alternating round by round), each as `--staff` processes started together:

- take next: each process is a clinician on duty calling take_next() in a fresh session, as the view
  does; the latency is that call alone. Between takes the clinician starts and finishes the call
  (change_status to in-progress, then fulfilled, as the consultation page does), since a clinician
  with an unfinished walk-in call is refused. So the throughput, takes per second of the whole round,
  is how fast the staff clear a queue whose calls last no time: each take, plus two status changes.
- bare claim, the baseline: each process runs `UPDATE … WHERE id = (SELECT id … ORDER BY position, id
  LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id`, one per transaction on a DB-API connection, over a copy
  of the round's callers in a table of walk_in_entry's shape (its columns and indexes, no foreign keys),
  until it returns nothing. On SQLite, without SKIP LOCKED, each UPDATE holds the write lock.

After each loop, every caller must have been taken exactly once (and, for take next, have one call):
the script says so, and exits non-zero if not. On a temp SQLite file always; with a PostgreSQL URL
(its database is wiped) also there.
"""

import argparse
import multiprocessing
import statistics
import sys
import time as clock
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import time
from typing import Any

from sqlalchemy import Column, Index, MetaData, Table, func, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from clinic.audit import Actor
from clinic.models import (
    AuditEvent,
    Consultation,
    ConsultationStatus,
    Department,
    EntryStatus,
    Service,
    StaffRole,
    WalkInEntry,
    WalkInHours,
    WalkInQueue,
    utcnow,
)
from clinic.scheduling.booking import Consent
from clinic.scheduling.lifecycle import change_status
from clinic.scheduling.tokens import LinkKeys
from clinic.staff.members import StaffMember
from clinic.walkin.callers import CallerDetails
from clinic.walkin.errors import NobodyWaiting
from clinic.walkin.queue import join
from clinic.walkin.take import take_next
from config import Config

from .databases import databases
from .figures import emit
from .fixtures import BENCH_SECRET, bench_engine, clinician

BENCH = "walk_in"
CLAIMS = "bench_walk_in_claim"  # the bare loop's copy of the callers
WARM_UP_CALLERS = 20
TAKE_NEXT, BARE_CLAIM = "take next", "bare claim"  # the two loops, as the table names them
Take = tuple[int, float]  # (entry id, seconds)


@dataclass(frozen=True)
class Run:
    """One loop emptying the queue: each take's latency, who was taken how often, and how long it took."""

    latencies: list[float]
    taken: Counter
    seconds: float
    errors: list[str]

    @property
    def rate(self) -> float:
        return sum(self.taken.values()) / self.seconds


@dataclass(frozen=True)
class Helpline:
    queue_id: int
    staff: tuple[StaffMember, ...]
    claims: Table


def main(argv: Sequence[str] | None = None) -> None:
    """SQLite, then (given a URL) PostgreSQL: rounds of both loops, their figures, and the checks."""
    args = _arguments(argv)
    everyone_once = True
    for name, url in databases(args.database_url, "clinic_bench_walk_in").items():
        with bench_engine(url) as engine:
            helpline = _helpline(engine, args.staff)
            everyone_once &= _rounds(name, engine, helpline, args)
    if not everyone_once:
        sys.exit("some caller was taken twice or not at all: see above")


def _rounds(name: str, engine: Engine, helpline: Helpline, args: argparse.Namespace) -> bool:
    loops = {TAKE_NEXT: _take_until_empty, BARE_CLAIM: _claim_until_empty}
    runs: dict[str, list[Run]] = {loop: [] for loop in loops}
    everyone_once = True
    for number in range(args.rounds + 1):  # round 0 warms up, with fewer callers
        callers = _join(engine, helpline, number, WARM_UP_CALLERS if number == 0 else args.callers)
        order = list(loops) if number % 2 else list(reversed(loops))
        for loop in order:
            run = _race(engine, helpline, loops[loop])
            once = _each_once(engine, helpline, loop, callers, run)
            everyone_once &= once
            _report(name, number, loop, run, once)
            if number:
                runs[loop].append(run)
    _figures(name, args, runs[TAKE_NEXT], runs[BARE_CLAIM])
    return everyone_once


def _helpline(engine: Engine, staff: int) -> Helpline:
    """A queue open at all hours, taking 15-minute calls, with `staff` clinicians without bookings on
    duty; and the bare loop's table."""
    with Session(engine) as session:
        department = Department(name="Bench Helpline", contact_phone="+44 20 7946 0000")
        service = Service(department=department, name="Support call", duration_minutes=15)
        on_duty = [clinician(department, [service], n, hours=()) for n in range(staff)]
        queue = WalkInQueue(
            department=department,
            service=service,
            slug="bench-helpline",
            name="Bench helpline",
            time_zone="Europe/London",
            hours=[WalkInHours(weekday=day, start_time=time(0), end_time=time(0)) for day in range(7)],
            staff=on_duty,
        )
        session.add(queue)
        session.commit()
        members = tuple(
            StaffMember(10_000 + n, StaffRole.CLINICIAN, clinician_id=c.id) for n, c in enumerate(on_duty)
        )
        return Helpline(queue.id, members, _claims_table(engine))


def _claims_table(engine: Engine) -> Table:
    """A table of walk_in_entry's columns and indexes, without its foreign keys: the bare loop's."""
    source = WalkInEntry.__table__
    columns = [
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable, unique=c.unique)
        for c in source.columns
    ]
    table = Table(CLAIMS, MetaData(), *columns)
    for index in source.indexes:
        Index(f"{index.name}_bare", *(table.c[c.name] for c in index.columns), unique=index.unique)
    table.create(engine)
    return table


def _join(engine: Engine, helpline: Helpline, round_number: int, callers: int) -> set[int]:
    """`callers` people join the queue through its join service; their rows are copied for the bare
    loop. Returns their entry ids. Each round's callers are new people (their names carry the round), so
    that no round's joins meet the queue's one-place-per-person check."""
    keys, consent = LinkKeys((BENCH_SECRET,)), Consent(Config.PRIVACY_NOTICE_VERSION)
    ids = set()
    with Session(engine) as session:
        for n in range(callers):
            person = f"{round_number}-{n}"
            details = CallerDetails(f"Caller {person}", f"caller{person}@example.org", "")
            joined = join(
                session, helpline.queue_id, details, consent, now=utcnow(), keys=keys, actor=Actor()
            )
            ids.add(joined.entry.id)
    source = WalkInEntry.__table__
    copy = select(source).where(source.c.id.in_(ids))
    with engine.begin() as connection:
        connection.execute(insert(helpline.claims).from_select([c.name for c in source.columns], copy))
    return ids


def _race(
    engine: Engine, helpline: Helpline, loop: Callable[[Engine, Helpline, StaffMember], list[Take]]
) -> Run:
    """One process per staff member running `loop`, all started at once; until each finds nobody."""
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(len(helpline.staff) + 1)
    results = context.Queue()
    processes = [
        context.Process(target=_staff_process, args=(engine, helpline, loop, member, ready, results))
        for member in helpline.staff
    ]
    for process in processes:
        process.start()
    ready.wait()
    started = clock.perf_counter()
    outcomes = [results.get() for _ in processes]
    seconds = clock.perf_counter() - started
    for process in processes:
        process.join()
    takes = [take for outcome in outcomes for take in outcome["takes"]]
    return Run(
        latencies=[seconds for _, seconds in takes],
        taken=Counter(entry_id for entry_id, _ in takes),
        seconds=seconds,
        errors=[outcome["error"] for outcome in outcomes if outcome["error"]],
    )


def _staff_process(
    engine: Engine,
    helpline: Helpline,
    loop: Callable[[Engine, Helpline, StaffMember], list[Take]],
    member: StaffMember,
    ready: Any,  # a Barrier of the fork context
    results: Any,  # and its Queue
) -> None:
    """One staff member's process: its own connection (opened before the clock starts), then `loop`."""
    engine.dispose(close=False)  # the parent's connections are the parent's
    with engine.connect():
        pass
    takes: list[Take] = []
    error = ""
    ready.wait()
    try:
        takes = loop(engine, helpline, member)
    except Exception as exc:  # shown, and the checks then fail
        error = f"{type(exc).__name__}: {exc}"
    results.put({"takes": takes, "error": error})


def _take_until_empty(engine: Engine, helpline: Helpline, member: StaffMember) -> list[Take]:
    """Take next, as the view does, then start and finish the call; until nobody waits."""
    takes = []
    while True:
        with Session(engine) as session:
            started = clock.perf_counter()
            try:
                taken = take_next(session, helpline.queue_id, member, now=utcnow())
            except NobodyWaiting:
                return takes
            takes.append((taken.entry.id, clock.perf_counter() - started))
            for status in (ConsultationStatus.IN_PROGRESS, ConsultationStatus.FULFILLED):
                change_status(session, taken.consultation.id, status, now=utcnow(), actor=member.actor)


def _claim_until_empty(engine: Engine, helpline: Helpline, member: StaffMember) -> list[Take]:
    """The bare claim, one per transaction on a DB-API connection, until it returns nothing."""
    postgres = engine.dialect.name == "postgresql"
    mark, skip_locked = ("%s", " FOR UPDATE SKIP LOCKED") if postgres else ("?", "")
    claim = (
        f"UPDATE {CLAIMS} SET status = 'taken', taken_by = {mark}, taken_at = CURRENT_TIMESTAMP "
        f"WHERE id = (SELECT id FROM {CLAIMS} WHERE queue_id = {mark} AND status = 'waiting' "
        f"ORDER BY position, id LIMIT 1{skip_locked}) RETURNING id"
    )
    connection = engine.raw_connection()  # on SQLite in autocommit: each UPDATE is its own transaction
    try:
        cursor, takes = connection.cursor(), []
        while True:
            started = clock.perf_counter()
            cursor.execute(claim, (member.clinician_id, helpline.queue_id))
            row = cursor.fetchone()
            connection.commit()
            if row is None:
                return takes
            takes.append((row[0], clock.perf_counter() - started))
    finally:
        connection.close()


def _each_once(engine: Engine, helpline: Helpline, loop: str, callers: set[int], run: Run) -> bool:
    """Whether every caller was taken once and nobody twice, by the processes' count and the database's."""
    counted = set(run.taken) == callers and set(run.taken.values()) == {1} and not run.errors
    stored = _taken_once_with_a_call if loop == TAKE_NEXT else _claimed
    with engine.connect() as connection:
        return counted and stored(connection, helpline, callers)


def _claimed(connection: Connection, helpline: Helpline, callers: set[int]) -> bool:
    """The database's side of the bare loop: each caller's copy marked taken."""
    claims = helpline.claims.c
    query = select(claims.id).where(claims.id.in_(callers), claims.status == EntryStatus.TAKEN.value)
    return set(connection.execute(query).scalars()) == callers


def _taken_once_with_a_call(connection: Connection, helpline: Helpline, callers: set[int]) -> bool:
    """The database's side: one "taken" audit event per caller, each caller taken with a call of their
    own, that call finished."""
    events = dict(
        connection.execute(
            select(AuditEvent.entity_id, func.count())
            .where(
                AuditEvent.action == "walk_in.taken",
                AuditEvent.entity_type == "walk_in_entry",
                AuditEvent.entity_id.in_([str(i) for i in callers]),
            )
            .group_by(AuditEvent.entity_id)
        ).all()
    )
    calls = connection.execute(
        select(WalkInEntry.id, Consultation.id, Consultation.status)
        .join(Consultation, WalkInEntry.consultation_id == Consultation.id)
        .where(WalkInEntry.id.in_(callers), WalkInEntry.status == EntryStatus.TAKEN)
    ).all()
    finished = {row[0] for row in calls if row[2] == ConsultationStatus.FULFILLED}
    return (
        events == {str(i): 1 for i in callers}
        and finished == callers
        and len({row[1] for row in calls}) == len(callers)
    )


def _report(name: str, number: int, loop: str, run: Run, once: bool) -> None:
    label = "warm-up" if number == 0 else f"round {number}"
    p50, p95 = _percentiles(run.latencies)
    print(
        f"{name:<10} {label:<8} {loop:<10} {sum(run.taken.values()):4d} taken in {run.seconds:6.2f} s "
        f"{run.rate:7.1f}/s   p50 {p50 * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms   "
        f"each caller once: {'yes' if once else 'NO'}"
    )
    for error in run.errors:
        print(f"           {error}")


def _figures(name: str, args: argparse.Namespace, takes: list[Run], claims: list[Run]) -> None:
    """Latencies pooled over the rounds; throughput the median round's."""
    take_p50, take_p95 = _percentiles([s for run in takes for s in run.latencies])
    claim_p50, claim_p95 = _percentiles([s for run in claims for s in run.latencies])
    take_rate = statistics.median(run.rate for run in takes)
    claim_rate = statistics.median(run.rate for run in claims)
    print(
        f"{name:<10} over {args.rounds} rounds of {args.callers} callers, {args.staff} staff processes: "
        f"take next p50 {take_p50 * 1000:.2f} ms ({take_p50 / claim_p50:.1f}× the bare claim), "
        f"p95 {take_p95 * 1000:.2f} ms ({take_p95 / claim_p95:.1f}×), "
        f"{take_rate:.1f} takes/s with each call started and finished "
        f"({take_rate / claim_rate:.1%} of {claim_rate:.1f} bare claims/s)"
    )
    workload = f"{args.callers} callers, {args.staff} staff processes"
    for label, value, baseline in (("p50", take_p50, claim_p50), ("p95", take_p95, claim_p95)):
        figure = f"{name}: take-next latency {label}, {workload}, vs the bare claim"
        emit(BENCH, figure, value * 1000, baseline * 1000, "ms", None)
    figure = f"{name}: takes/s (each call started and finished), {workload}, vs bare claims/s"
    emit(BENCH, figure, take_rate, claim_rate, "takes/s", None)


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    """(median, 95th percentile)."""
    if len(latencies) < 2:
        return (latencies[0], latencies[0]) if latencies else (0.0, 0.0)
    return statistics.median(latencies), statistics.quantiles(latencies, n=20)[-1]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a loopback PostgreSQL URL (its database is wiped)")
    parser.add_argument("--callers", type=int, default=200, help="callers joining before each round")
    parser.add_argument("--staff", type=int, default=10, help="staff processes taking next at once")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both loops, after a warm-up")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
