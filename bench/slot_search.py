"""Slot search beside the bare SQL query that loads the same busy intervals.

    python -m bench.slot_search [--database-url URL] [--repeats N]

Targets (DESIGN.md): find_slots ≤ 1.5× the bare query; with 10× more past and
far-future bookings in the table, find_slots takes the same time within noise.
"""

import argparse
import time as clock
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from clinic.models import Consultation, Service
from clinic.scheduling.availability import find_slots

from .fixtures import NOW, Hospital, Timing, bench_engine, build_hospital, bulk_book, measure

WINDOW_DAYS = 14
HISTORY_FACTOR = 10
HISTORY_GAP_DAYS = 7  # between the window and the added history, beyond the query's widening
WINDOW = (NOW, NOW + timedelta(days=WINDOW_DAYS))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = _EPOCH.replace(tzinfo=None)


def main(argv: Sequence[str] | None = None) -> None:
    """Build the hospital, measure, add history, measure again; print figures and ratios."""
    args = _arguments(argv)
    with bench_engine(args.database_url) as engine:
        hospital = build_hospital(engine)
        booked = bulk_book(engine, hospital, NOW.date(), WINDOW_DAYS)
        statement, parameters = capture_busy_query(engine, hospital)
        print(f"slot search on {engine.dialect.name}: {len(hospital.clinicians)} clinicians, ", end="")
        print(f"{WINDOW_DAYS} days, {booked} bookings in the window, {args.repeats} runs each")
        before = _measure_all(engine, hospital, statement, parameters, args.repeats)
        _report(before)
        added = _add_history(engine, hospital)
        print(f"\nadded {added} past and far-future bookings (table: {_table_rows(engine)} rows)")
        after = _measure_all(engine, hospital, statement, parameters, args.repeats)
        _report(after, baseline=before)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", help="a PostgreSQL URL (its database is wiped); default: temp SQLite"
    )
    parser.add_argument("--repeats", type=int, default=40, help="measured runs of each part")
    return parser.parse_args(argv)


def capture_busy_query(engine: Engine, hospital: Hospital) -> tuple[str, Any]:
    """The busy-interval statement and parameters exactly as find_slots hands them to the driver."""
    seen: list[tuple[str, Any]] = []

    def keep(_conn, _cursor, statement, parameters, _context, _executemany) -> None:
        if "blocked_from" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        search_timer(engine, hospital)()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    if len(seen) != 1:
        raise RuntimeError(f"expected one busy-interval query, saw {len(seen)}")
    return seen[0]


def search_timer(engine: Engine, hospital: Hospital) -> Callable[[], float]:
    """(c) find_slots end to end, in a fresh session as a request would have it."""

    def run() -> float:
        with Session(engine) as session:
            service = session.get(Service, hospital.service_id)
            started = clock.perf_counter()
            find_slots(session, service, *WINDOW, NOW)
            return clock.perf_counter() - started

    return run


def bare_query_timer(connection: Any, statement: str, parameters: Any, rows: list) -> Callable[[], float]:
    """(a) the same statement through a DB-API cursor; keeps the last rows in `rows`."""

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


def gap_timer(rows: list) -> Callable[[], float]:
    """(b) a plain gap computation over the bare query's rows."""

    def run() -> float:
        started = clock.perf_counter()
        plain_gaps(rows, *WINDOW, length=30 * 60, step=15 * 60)
        return clock.perf_counter() - started

    return run


def plain_gaps(rows: list, window_start: datetime, window_end: datetime, length: int, step: int) -> int:
    """Free starts between each clinician's busy intervals: no hours, zones, buffers or notice."""
    spans: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for clinician_id, start, end in rows:
        spans[clinician_id].append((_seconds(start), _seconds(end)))
    lower, upper = window_start.timestamp(), window_end.timestamp()
    found = 0
    for busy in spans.values():
        busy.sort()
        free_from = lower
        for start, end in [*busy, (upper, upper)]:
            if start - free_from >= length:
                found += int(start - free_from - length) // step + 1
            free_from = max(free_from, end)
    return found


def _seconds(value: int | datetime | str) -> float:
    """A driver's value as Unix seconds (find_slots asks for seconds; SQLite text is naive UTC)."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return (datetime.fromisoformat(value) - _NAIVE_EPOCH).total_seconds()
    return (value - _EPOCH).total_seconds()


QUERY, STORED, GAPS, SEARCH = "(a)", "(a0)", "(b)", "(c)"
LABELS = {
    QUERY: "bare SQL query, DB-API cursor",
    STORED: "same query, columns as stored",
    GAPS: "plain gap loop over (a)'s rows",
    SEARCH: "find_slots, end to end",
}


def _measure_all(
    engine: Engine, hospital: Hospital, statement: str, parameters: Any, repeats: int
) -> dict[str, Timing]:
    rows: list = []
    connection = engine.raw_connection()
    try:
        timers = {
            QUERY: bare_query_timer(connection, statement, parameters, rows),
            STORED: bare_query_timer(connection, stored_columns(statement), parameters, []),
            GAPS: gap_timer(rows),
            SEARCH: search_timer(engine, hospital),
        }
        timings = measure(timers, repeats)
    finally:
        connection.close()
    print(f"  the busy query returns {len(rows)} rows")
    return timings


def stored_columns(statement: str) -> str:
    """The busy query selecting the blocked columns as stored rather than as Unix seconds: context."""
    _, rest = statement.split("\nFROM ", 1)
    columns = "consultation.clinician_id, consultation.blocked_from, consultation.blocked_until"
    return f"SELECT {columns} \nFROM {rest}"


def _report(timings: dict[str, Timing], baseline: dict[str, Timing] | None = None) -> None:
    for key, timing in timings.items():
        print(f"  {key:4} {LABELS[key]:32} {timing}")
    query, search = timings[QUERY], timings[SEARCH]
    _ratio_line("(c)/(a)", search, query, "target ≤ 1.5×")
    _ratio_line("(c)/(a0)", search, timings[STORED], "context")
    _ratio_line("(a+b)/(a)", _sum(query, timings[GAPS]), query, "context: a plain loop over the rows")
    if baseline is not None:
        _ratio_line("(c) after/before history", search, baseline[SEARCH], "target: unchanged within noise")
        _ratio_line("(a) after/before history", query, baseline[QUERY], "context")


def _ratio_line(label: str, numerator: Timing, denominator: Timing, note: str) -> None:
    best = numerator.best / denominator.best
    median = numerator.median / denominator.median
    print(f"  {label:26} {best:5.2f}× best   {median:5.2f}× median   {note}")


def _sum(first: Timing, second: Timing) -> Timing:
    return Timing(first.best + second.best, first.median + second.median)


def _add_history(engine: Engine, hospital: Hospital) -> int:
    """HISTORY_FACTOR times the window's days again, half before it and half far after it."""
    days = HISTORY_FACTOR * WINDOW_DAYS // 2
    past = NOW.date() - timedelta(days=HISTORY_GAP_DAYS + days)
    future = NOW.date() + timedelta(days=WINDOW_DAYS + HISTORY_GAP_DAYS)
    return bulk_book(engine, hospital, past, days) + bulk_book(engine, hospital, future, days)


def _table_rows(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Consultation))


if __name__ == "__main__":
    main()
