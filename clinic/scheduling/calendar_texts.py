"""How the calendar query writes each clinician's hours and spans of time as text in SQL, and how Python
reads them back: each distinct text converted once."""

from datetime import UTC, date, datetime, time
from functools import lru_cache

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from ..models.base import unix_seconds
from .slots import WeeklyHours

# A span of stored time, start and end in whole Unix seconds.
Span = tuple[int, int]


class stored_span(FunctionElement):
    """A span of two instant columns as one text, 'start/end', as the driver builds it cheapest; `SpansOf`
    reads it.

    PostgreSQL: whole Unix seconds (truncated), so no datetime is built per row. SQLite: the stored UTC
    texts themselves, converted in Python once per distinct span (bookings share a grid of times), which
    is cheaper than per-row date arithmetic in SQL.
    """

    name = "stored_span"
    inherit_cache = True


@compiles(stored_span, "sqlite")
def _stored_span_sqlite(element, compiler, **kw) -> str:
    start, end = (compiler.process(column, **kw) for column in element.clauses)
    return f"{start} || '/' || {end}"


@compiles(stored_span, "postgresql")
def _stored_span_postgresql(element, compiler, **kw) -> str:
    start, end = (compiler.process(unix_seconds(column), **kw) for column in element.clauses)
    return f"{start} || '/' || {end}"


class stored_hours(FunctionElement):
    """An availability rule as one text, 'weekday|start|end|valid_from|valid_until' (ISO, '' for none)."""

    name = "stored_hours"
    inherit_cache = True


@compiles(stored_hours, "sqlite")
def _stored_hours_sqlite(element, compiler, **kw) -> str:
    weekday, start, end, valid_from, valid_until = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"{weekday} || '|' || {start} || '|' || {end} || '|' || coalesce({valid_from}, '') || '|' || "
        f"coalesce({valid_until}, '')"
    )


@compiles(stored_hours, "postgresql")
def _stored_hours_postgresql(element, compiler, **kw) -> str:
    weekday, start, end, valid_from, valid_until = (compiler.process(c, **kw) for c in element.clauses)
    day = "'YYYY-MM-DD'"  # whatever the server's DateStyle
    return (
        f"{weekday} || '|' || {start} || '|' || {end} || '|' || coalesce(to_char({valid_from}, {day}), '')"
        f" || '|' || coalesce(to_char({valid_until}, {day}), '')"
    )


class SpansOf(dict):
    """stored_span text -> (start, end) in whole Unix seconds, each distinct one converted (and kept) once."""

    def __missing__(self, text: str) -> tuple[int, int]:
        start, end = text.split("/")
        span = self[text] = (_unix_seconds(start), _unix_seconds(end))
        return span


@lru_cache(maxsize=16384)
def _unix_seconds(stored: str) -> int:
    if stored.isdigit() or stored.startswith("-"):
        return int(stored)
    # SQLite's text is 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; the fraction is cut off, as on PostgreSQL.
    return int(datetime.fromisoformat(stored[:19]).replace(tzinfo=UTC).timestamp())


class HoursOf(dict):
    """Aggregated stored_hours text -> the weekly hours it lists, each distinct text parsed (and kept) once:
    clinicians mostly keep the same hours."""

    def __missing__(self, text: str | None) -> list[WeeklyHours]:
        hours = self[text] = [_weekly_hours_of(rule) for rule in text.split(",")] if text else []
        return hours


def _weekly_hours_of(text: str) -> WeeklyHours:
    weekday, start, end, valid_from, valid_until = text.split("|")
    return WeeklyHours(
        int(weekday),
        time.fromisoformat(start),
        time.fromisoformat(end),
        date.fromisoformat(valid_from) if valid_from else None,
        date.fromisoformat(valid_until) if valid_until else None,
    )


def spans(spans_of: SpansOf, text: str | None) -> list[Span]:
    """The spans an aggregated stored_span text lists (none for NULL), each read through `spans_of`."""
    return list(map(spans_of.__getitem__, text.split(","))) if text else []
