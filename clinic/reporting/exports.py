"""The report tables as CSV: a header row, a row per line and week, names made inert for spreadsheets,
in a file that spreadsheets open as UTF-8."""

import re
from collections.abc import Callable, Iterator
from datetime import datetime

from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..models import Department
from ..models.transactions import write_transaction
from ..plain_text import folded
from ..spreadsheets import csv_text, inert
from .consultations import ReportLine, WeekFigures, clinician_lines, department_lines, weekly_totals
from .walk_in import DayFigures, queue_lines
from .weeks import Day, ReportFilter, Week

FIGURE_COLUMNS = (
    "week",
    "week_starts",
    "consultations",
    "cancelled",
    "no_shows",
    "booked_hours",
    "offered_hours",
    "utilisation_percent",
    "lead_time_median_hours",
    "lead_time_p90_hours",
)


def _totals(session: Session, wanted: ReportFilter) -> Iterator[list[str]]:
    yield list(FIGURE_COLUMNS)
    for week, figures in zip(wanted.weeks, weekly_totals(session, wanted), strict=True):
        yield _figure_cells(week, figures)


def _departments(session: Session, wanted: ReportFilter) -> Iterator[list[str]]:
    yield ["department_id", "department", *FIGURE_COLUMNS]
    for line in department_lines(session, wanted).rows:
        yield from _line_rows(wanted, line, [str(line.id), inert(line.name)])


def _clinicians(session: Session, wanted: ReportFilter) -> Iterator[list[str]]:
    yield ["clinician_id", "clinician", "department", *FIGURE_COLUMNS]
    for line in clinician_lines(session, wanted).rows:
        yield from _line_rows(wanted, line, [str(line.id), inert(line.name), inert(line.department)])


WALK_IN_COLUMNS = (
    "day",
    "joined",
    "taken",
    "abandoned",
    "left",
    "dropped",
    "closed",
    "still_waiting",
    "wait_median_minutes",
    "wait_p95_minutes",
)


def _walk_in(session: Session, wanted: ReportFilter) -> Iterator[list[str]]:
    """Every day of the period for each queue (days nobody joined included, as a series wants)."""
    yield ["queue_id", "queue", "department", *WALK_IN_COLUMNS]
    for line in queue_lines(session, wanted).rows:
        names = [str(line.id), inert(line.name), inert(line.department)]
        for day, figures in zip(wanted.days, line.days, strict=True):
            yield names + _walk_in_cells(day, figures)


# Each table a report page offers as CSV, by the name in its address; further reports add theirs.
TABLES: dict[str, Callable[[Session, ReportFilter], Iterator[list[str]]]] = {
    "weeks": _totals,
    "departments": _departments,
    "clinicians": _clinicians,
    "walk_in": _walk_in,
}


def export_csv(session: Session, wanted: ReportFilter, table: str, *, actor: Actor, now: datetime) -> str:
    """Record the export (which table and period; no names), then the whole table (every line) as CSV."""
    with write_transaction(session):
        audit.record(
            session,
            actor,
            "report.exported",
            entity_type="report",
            entity_id=table,
            now=now,
            details={
                "first_day": wanted.first_day.isoformat(),
                "last_day": wanted.last_day.isoformat(),
                "department_id": wanted.department_id,
            },
        )
    return csv_text(TABLES[table](session, wanted))


def export_filename(session: Session, wanted: ReportFilter, table: str) -> str:
    """The file name of a table's CSV: what it holds, the department chosen (if one is), and the period.
    Only ASCII letters, digits and hyphens, so the Content-Disposition header needs no quoting."""
    subject = "walk-in" if table == "walk_in" else f"consultations-{table}"
    if wanted.department_id is not None:
        name = session.get_one(Department, wanted.department_id).name
        subject += "-" + ("-".join(_ascii_words(name)) or f"department-{wanted.department_id}")
    return f"{subject}-{wanted.first_day}-to-{wanted.last_day}.csv"


def _ascii_words(text: str) -> list[str]:
    """The words of `text` in lower-case ASCII, accents dropped: 'Cardiología "A&E"' is cardiologia, a, e."""
    return re.findall(r"[a-z0-9]+", folded(text))


def _line_rows(wanted: ReportFilter, line: ReportLine, names: list[str]) -> Iterator[list[str]]:
    for week, figures in zip(wanted.weeks, line.weeks, strict=True):
        yield names + _figure_cells(week, figures)


def _figure_cells(week: Week, figures: WeekFigures) -> list[str]:
    utilisation = figures.utilisation
    return [
        week.label,
        week.monday.isoformat(),
        str(figures.booked),
        str(figures.cancelled),
        str(figures.no_shows),
        _hours(figures.booked_seconds),
        _hours(figures.offered_seconds),
        "" if utilisation is None else f"{utilisation * 100:.1f}",
        _hours(figures.lead_median),
        _hours(figures.lead_p90),
    ]


def _hours(seconds: int | None) -> str:
    return "" if seconds is None else f"{seconds / 3600:.2f}"


def _walk_in_cells(day: Day, figures: DayFigures) -> list[str]:
    counts = (figures.joined, figures.taken, figures.abandoned, figures.left, figures.dropped, figures.closed)
    return [
        day.label,
        *map(str, counts),
        str(figures.waiting),
        _minutes(figures.wait_median),
        _minutes(figures.wait_p95),
    ]


def _minutes(seconds: int | None) -> str:
    return "" if seconds is None else f"{seconds / 60:.1f}"
