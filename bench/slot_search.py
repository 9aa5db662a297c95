"""Slot search beside the bare DB-API query that loads the same busy rows as stored.

    python -m bench.slot_search [--database-url URL] [--repeats N] [--scale-repeats N]

Targets (DESIGN.md, Performance targets): find_slots ≤ 2× the bare query (a DB-API cursor
fetching the busy rows' columns as stored) for 50 clinicians over 14 days and for 1,000
clinicians over 60 days; at the larger size, the search's peak memory ≤ 2× the slots it
returns; with 10× more past and far-future bookings in the table, the same time within noise.
"""

import argparse
import time as clock
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from clinic.models import Consultation, ConsultationStatus, Service
from clinic.scheduling.availability import find_slots, reach, rules_for
from clinic.scheduling.calendars import MAX_BLOCK

from .databases import databases
from .figures import emit
from .fixtures import NOW, Hospital, Timing, bench_engine, build_hospital, bulk_book, measure

BENCH = "slot_search"
TARGET_RATIO = 2.0
HISTORY_TARGET_RATIO = 1.1  # "unchanged within noise"
HISTORY_FACTOR = 10
HISTORY_GAP_DAYS = 7  # between the window and the added history, beyond the query's widening
HISTORY_CHUNK_DAYS = 30  # bookings are built in memory this many days at a time


@dataclass(frozen=True)
class Workload:
    name: str
    clinicians: int
    days: int

    @property
    def window(self) -> tuple[datetime, datetime]:
        return NOW, NOW + timedelta(days=self.days)


SMALL = Workload("50x14", clinicians=50, days=14)
LARGE = Workload("1000x60", clinicians=1000, days=60)


def main(argv: Sequence[str] | None = None) -> None:
    """Each workload on SQLite, then (given a URL) on PostgreSQL, in a fresh database each."""
    args = _arguments(argv)
    for database, url in databases(args.database_url, "clinic_bench_slots").items():
        for workload, repeats in ((SMALL, args.repeats), (LARGE, args.scale_repeats)):
            with bench_engine(url) as engine:
                _run(database, engine, workload, repeats)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL URL (its database is wiped); SQLite runs always")
    parser.add_argument("--repeats", type=int, default=40, help="measured runs at 50 clinicians × 14 days")
    parser.add_argument(
        "--scale-repeats", type=int, default=5, help="measured runs at 1,000 clinicians × 60 days"
    )
    return parser.parse_args(argv)


def _run(database: str, engine: Engine, workload: Workload, repeats: int) -> None:
    hospital = build_hospital(engine, workload.clinicians)
    booked = bulk_book(engine, hospital, NOW.date(), workload.days)
    print(f"\nslot search on {database}, {workload.clinicians} clinicians × {workload.days} days: ", end="")
    print(f"{booked} bookings in the window, best of {repeats} runs")
    figure = f"{database} {workload.name}"
    before = _measure(engine, hospital, workload, repeats)
    _report(figure, before)
    if workload is LARGE:
        _report_memory(figure, engine, hospital, workload)
    added = _add_history(engine, hospital, workload.days)
    print(f"  added {added} past and far-future bookings (table: {_table_rows(engine)} rows)")
    after = _measure(engine, hospital, workload, repeats)
    _report(f"{figure} with {HISTORY_FACTOR}x history", after)
    _figure(f"{figure}: find_slots with/without history", after[SEARCH], before[SEARCH], HISTORY_TARGET_RATIO)
    _ratio_line("(c) after/before history", after[SEARCH], before[SEARCH], "target: unchanged within noise")
    # Context, not noise alone: on PostgreSQL at 1,000×60 the bigger table moves the bare query from a
    # sequential scan to a parallel bitmap scan that JIT-compiles on each run (2026-12-05: 43-55 ms).
    _ratio_line("(a) after/before history", after[QUERY], before[QUERY], "context: drift, or its plan")


QUERY, SEARCH = "(a)", "(c)"
LABELS = {QUERY: "bare query, columns as stored", SEARCH: "find_slots, end to end"}


def _measure(engine: Engine, hospital: Hospital, workload: Workload, repeats: int) -> dict[str, Timing]:
    statement, parameters = busy_rows_statement(engine, hospital, workload.window)
    rows: list = []
    connection = engine.raw_connection()
    try:
        timers = {
            QUERY: bare_query_timer(connection, statement, parameters, rows),
            SEARCH: search_timer(engine, hospital, workload.window),
        }
        timings = measure(timers, repeats)
    finally:
        connection.close()
    slots = _slot_count(engine, hospital, workload)
    print(f"  the busy query returns {len(rows)} rows; find_slots {slots} slots")
    return timings


def busy_rows_statement(
    engine: Engine, hospital: Hospital, window: tuple[datetime, datetime]
) -> tuple[str, Any]:
    """The busy rows find_slots loads (same conditions), as stored, exactly as SQLAlchemy sends them.

    Executed once through SQLAlchemy to capture the SQL and the driver-level parameters.
    """
    with Session(engine) as session:
        low, high = reach(rules_for(session.get(Service, hospital.service_id)), *window)
    query = select(Consultation.clinician_id, Consultation.blocked_from, Consultation.blocked_until).where(
        Consultation.clinician_id.in_([clinician_id for clinician_id, _ in hospital.clinicians]),
        Consultation.status != ConsultationStatus.CANCELLED,
        Consultation.blocked_from >= low - MAX_BLOCK,
        Consultation.blocked_from < high,
        Consultation.blocked_until > low,
    )
    seen: list[tuple[str, Any]] = []

    def keep(_conn, _cursor, statement, parameters, _context, _executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):  # not the BEGIN of SQLite's write recipe
            seen.append((statement, parameters))

    with engine.connect() as conn:
        event.listen(conn, "before_cursor_execute", keep)
        conn.execute(query).close()
    return seen[0]


def bare_query_timer(connection: Any, statement: str, parameters: Any, rows: list) -> Callable[[], float]:
    """(a) the statement through a DB-API cursor; keeps the last rows in `rows`."""

    def run() -> float:
        started = clock.perf_counter()
        cursor = connection.cursor()
        cursor.execute(statement, parameters)
        rows[:] = cursor.fetchall()
        elapsed = clock.perf_counter() - started
        cursor.close()
        connection.rollback()
        return elapsed

    return run


def search_timer(
    engine: Engine, hospital: Hospital, window: tuple[datetime, datetime]
) -> Callable[[], float]:
    """(c) find_slots end to end, in a fresh session as a request would have it."""

    def run() -> float:
        with Session(engine) as session:
            service = session.get(Service, hospital.service_id)
            started = clock.perf_counter()
            find_slots(session, service, *window, NOW)
            return clock.perf_counter() - started

    return run


def _slot_count(engine: Engine, hospital: Hospital, workload: Workload) -> int:
    with Session(engine) as session:
        return len(find_slots(session, session.get(Service, hospital.service_id), *workload.window, NOW))


def _report(figure: str, timings: dict[str, Timing]) -> None:
    for key, timing in timings.items():
        print(f"  {key:4} {LABELS[key]:32} {timing}")
    _ratio_line("(c)/(a)", timings[SEARCH], timings[QUERY], f"target ≤ {TARGET_RATIO:g}×")
    _figure(f"{figure}: find_slots / bare query", timings[SEARCH], timings[QUERY], TARGET_RATIO)


def _figure(figure: str, value: Timing, baseline: Timing, target_ratio: float) -> None:
    emit(BENCH, figure, value.best, baseline.best, "s", target_ratio)


def _ratio_line(label: str, numerator: Timing, denominator: Timing, note: str) -> None:
    best = numerator.best / denominator.best
    median = numerator.median / denominator.median
    print(f"  {label:26} {best:5.2f}× best   {median:5.2f}× median   {note}")


def _report_memory(figure: str, engine: Engine, hospital: Hospital, workload: Workload) -> None:
    """Peak traced memory during find_slots beside the memory its returned slots keep."""
    with Session(engine) as session:
        service = session.get(Service, hospital.service_id)
        find_slots(session, service, *workload.window, NOW)  # warm the engine's zone caches first
        tracemalloc.start()
        try:
            slots = find_slots(session, service, *workload.window, NOW)
            returned, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    mb = 1024 * 1024
    print(
        f"  find_slots peak memory {peak / mb:7.1f} MB, its {len(slots)} slots keep {returned / mb:7.1f} MB"
    )
    print(f"  {'peak / returned':26} {peak / returned:5.2f}×   target ≤ {TARGET_RATIO:g}×")
    emit(BENCH, f"{figure}: find_slots peak memory / returned slots", peak, returned, "bytes", TARGET_RATIO)


def _add_history(engine: Engine, hospital: Hospital, window_days: int) -> int:
    """HISTORY_FACTOR times the window's days again, half before it and half far after it."""
    days = HISTORY_FACTOR * window_days // 2
    past = NOW.date() - timedelta(days=HISTORY_GAP_DAYS + days)
    future = NOW.date() + timedelta(days=window_days + HISTORY_GAP_DAYS)
    added = 0
    for first in (past, future):
        for offset in range(0, days, HISTORY_CHUNK_DAYS):
            chunk = min(HISTORY_CHUNK_DAYS, days - offset)
            added += bulk_book(engine, hospital, first + timedelta(days=offset), chunk)
    return added


def _table_rows(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Consultation))


if __name__ == "__main__":
    main()
