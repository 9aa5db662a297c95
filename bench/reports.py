"""The admin reports on a large consultation table, beside the bare index range count of the same rows.

    python -m bench.reports [--database-url URL] [--repeats N] [--consultations N]

The report's figures for the default period (eight weeks and this one) and for two years, and the
clinicians' CSV table, each timed against a bare `SELECT count(*)` over the period's consultations
(DB-API cursor, same run, interleaved). On PostgreSQL it prints the plan of the weekly counts query.
No target is set in DESIGN.md; the one printed (10x the bare count for the default period) is proposed.
"""

import argparse
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import insert, literal_column, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from clinic.models import Clinician, Consultation, Department
from clinic.reporting.consultations import _counts, _in_period, clinician_lines, consultation_report
from clinic.reporting.weeks import ReportFilter, default_period
from clinic.scheduling.timezones import zone

from .figures import emit
from .fixtures import NOW, bench_engine, build_hospital, bulk_book, measure, timed

CLINICIANS = 100
DEPARTMENTS = 5
HISTORY_DAYS = 735  # two years back from a week ahead
SLOTS_PER_CLINICIAN = 7350  # about 525 working days of 14 half-hour slots in that span
TARGET_RATIO = 10.0
LONDON = zone("Europe/London")
# Bookings made 0 to 29 days ahead.
LEAD_DAYS = {
    "postgresql": "UPDATE consultation SET created_at = starts_at - (id % 30) * interval '1 day'",
    "sqlite": "UPDATE consultation SET created_at = datetime(starts_at, '-' || (id % 30) || ' days')",
}


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    with bench_engine(args.database_url) as engine:
        run(engine, args.consultations, args.repeats)


def run(engine: Engine, consultations: int, repeats: int) -> None:
    """Fill the table, then measure and print the figures."""
    report_figures(engine, _fill(engine, consultations), repeats)


def report_figures(engine: Engine, count: int, repeats: int) -> None:
    """Measure and print the figures on a filled database (`count` consultations)."""
    first, last = default_period(NOW.date())
    recent = ReportFilter(first, last, LONDON)
    two_years = ReportFilter(last - timedelta(weeks=104), last, LONDON)
    print(f"reports on {engine.dialect.name}: {count} consultations, {CLINICIANS} clinicians, ", end="")
    print(f"{repeats} runs each")
    if engine.dialect.name == "postgresql":
        _print_plan(engine, recent)
    with Session(engine) as session:
        timings = measure(
            {
                "bare count, default period": timed(_bare_count(engine, recent)),
                "report page, default period": timed(lambda: consultation_report(session, recent)),
                "clinicians CSV table, default period": timed(lambda: clinician_lines(session, recent)),
                "bare count, two years": timed(_bare_count(engine, two_years)),
                "report page, two years": timed(lambda: consultation_report(session, two_years)),
            },
            repeats,
        )
    for name, timing in timings.items():
        print(f"  {name:40} {timing}")
    for period in ("default period", "two years"):
        figure, baseline = timings[f"report page, {period}"], timings[f"bare count, {period}"]
        print(f"  report page / bare count, {period}: {figure.median / baseline.median:.1f}x")
        emit("reports", f"report page, {period}", figure.median, baseline.median, "s", TARGET_RATIO)
    csv_table = timings["clinicians CSV table, default period"]
    emit(
        "reports",
        "clinicians CSV table, default period",
        csv_table.median,
        timings["bare count, default period"].median,
        "s",
        TARGET_RATIO,
    )


def _fill(engine: Engine, consultations: int) -> int:
    """A hospital of CLINICIANS in DEPARTMENTS, about `consultations` over two years: one in ten cancelled,
    one in twenty a no-show, booked 0 to 29 days ahead."""
    hospital = build_hospital(engine, CLINICIANS)
    share = min(1.0, consultations / (CLINICIANS * SLOTS_PER_CLINICIAN))
    count = bulk_book(engine, hospital, NOW.date() - timedelta(days=HISTORY_DAYS - 7), HISTORY_DAYS, share)
    with engine.begin() as conn:
        departments = (
            conn.execute(
                insert(Department).returning(Department.id),
                [
                    {"name": f"Bench Department {n}", "contact_phone": "", "active": True}
                    for n in range(1, DEPARTMENTS)
                ],
            )
            .scalars()
            .all()
        )
        for n, department_id in enumerate(departments, start=1):
            conn.execute(
                update(Clinician).where(Clinician.id % DEPARTMENTS == n).values(department_id=department_id)
            )
        conn.execute(text("UPDATE consultation SET status = 'cancelled' WHERE id % 10 = 0"))
        conn.execute(text("UPDATE consultation SET status = 'noshow' WHERE id % 20 = 1"))
        conn.execute(text(LEAD_DAYS[engine.dialect.name]))
        conn.execute(text("ANALYZE"))
    return count


def _bare_count(engine: Engine, wanted: ReportFilter) -> Callable[[], object]:
    """The period's consultations counted by one statement through the DB-API cursor."""
    placeholder = "%s" if engine.dialect.name == "postgresql" else "?"
    sql = f"SELECT count(*) FROM consultation WHERE starts_at >= {placeholder} AND starts_at < {placeholder}"
    bounds = [wanted.starts_at, wanted.ends_at]
    if engine.dialect.name == "sqlite":  # as the column stores them: UTC text without an offset
        bounds = [b.replace(tzinfo=None).isoformat(" ", "microseconds") for b in bounds]

    def count() -> object:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(sql, bounds)
            return cursor.fetchone()
        finally:
            connection.close()

    return count


def _print_plan(engine: Engine, wanted: ReportFilter) -> None:
    """EXPLAIN ANALYZE of the weekly totals' counts query, and whether it reads the start index."""
    query = _counts(wanted.week_index(Consultation.starts_at), literal_column("0"), _in_period(wanted))
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = [line for (line,) in conn.execute(text(f"EXPLAIN ANALYZE {sql}"))]
    print("  plan of the weekly counts (default period):")
    for line in plan:
        if "CASE" not in line:  # the week expression repeats the period's bounds; the rest is the plan
            print(f"    {line}")
    print(f"  uses ix_consultation_starts_at: {any('ix_consultation_starts_at' in line for line in plan)}")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL URL (a database with 'bench' in its name)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--consultations", type=int, default=200_000)
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
