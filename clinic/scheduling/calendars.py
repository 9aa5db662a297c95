"""Clinicians' calendars as the slot engine takes them, read in one query: their zone and weekly hours, and
the busy time, time off and closures that meet a window."""

from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple

from sqlalchemy import BindParameter, ColumnElement, ScalarSelect, Select, bindparam, null, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.functions import aggregate_strings

from ..models import AvailabilityRule, Clinician, Closure, Consultation, ConsultationStatus, TimeOff
from ..models.driver import Statement, driver_batch
from .calendar_texts import HoursOf, Span, SpansOf, spans, stored_hours, stored_span
from .slots import ClinicianCalendar, WeeklyHours, open_time

# No consultation with its buffers lasts longer than this, so a window query can bound its
# index range scan from below: cost follows the window, not the length of the history.
MAX_BLOCK = timedelta(days=1)


def _listed(query: Select) -> Select:
    return query.where(Clinician.id.in_(bindparam("ids", expanding=True)))


def _one(query: Select) -> Select:
    return query.where(Clinician.id == bindparam("id"))


def _listed_active(query: Select) -> Select:
    return _listed(query).where(Clinician.active.is_(True))


class Clinicians(NamedTuple):
    """Which clinicians a calendar query reads: a module-level narrowing (one of those above, or the
    slot search's, so the statement is built once per shape) and the values of its bound parameters."""

    narrow: Callable[[Select], Select]
    parameters: dict


def read_calendars(
    session: Session,
    clinicians: Clinicians,
    lo: datetime,
    hi: datetime,
    exclude_consultation: int | None = None,
    with_bookings: bool = True,
    first: Sequence[Statement] = (),
) -> list[ClinicianCalendar]:
    """The calendars of `clinicians`, in id order: zone and weekly hours, and the busy time (unless not
    `with_bookings`), time off and closures that meet [lo, hi); `first` sent ahead (see
    `availability.is_free`).

    One query, one row per clinician: each kind of span is aggregated into one text, which Python splits
    and maps through caches of distinct values, so no row, tuple or datetime is built per booking.
    """
    return [
        ClinicianCalendar(clinician_id, time_zone, hours, time_off=off + closed, busy=busy)
        for clinician_id, time_zone, hours, busy, off, closed in _calendar_rows(
            session, clinicians, lo, hi, exclude_consultation, with_bookings, first
        )
    ]


def _calendar_rows(
    session: Session,
    clinicians: Clinicians,
    lo: datetime,
    hi: datetime,
    exclude_consultation: int | None,
    with_bookings: bool,
    first: Sequence[Statement],
) -> list[tuple[int, str, list[WeeklyHours], list[Span], list[Span], list[Span]]]:
    """Each clinician's id, zone, weekly hours, busy time, time off and closures, as `read_calendars` reads
    them."""
    query = _calendar_query(clinicians.narrow, with_bookings, exclude_consultation is not None)
    bounds = {"lowest": lo - MAX_BLOCK, "lo": lo, "hi": hi, **clinicians.parameters}
    if exclude_consultation is not None:
        bounds["excluded"] = exclude_consultation
    hours_of, spans_of = HoursOf(), SpansOf()
    return [
        (
            clinician_id,
            time_zone,
            hours_of[rules],
            spans(spans_of, busy_spans),
            spans(spans_of, off_spans),
            spans(spans_of, closed_spans),
        )
        for clinician_id, time_zone, rules, busy_spans, off_spans, closed_spans in driver_batch(
            session, *first, (query, bounds)
        )[-1]
    ]


@cache
def _calendar_query(narrow: Callable[[Select], Select], with_bookings: bool, excluding: bool) -> Select:
    """read_calendars' query, built once per shape: all its values are bound parameters. SQLAlchemy keeps
    a statement's cache key on it, so a search spends no time building or walking the statement."""
    lo, hi = bindparam("lo"), bindparam("hi")
    query = select(
        Clinician.id,
        Clinician.time_zone,
        _hours_text(),
        _busy_text(lo, hi, excluding) if with_bookings else null(),
        _spans_text(TimeOff.starts_at, TimeOff.ends_at, lo, hi, TimeOff.clinician_id == Clinician.id),
        # A closure is time off for every clinician of its department (of every one when it has none).
        _spans_text(Closure.starts_at, Closure.ends_at, lo, hi, Closure.covers(Clinician.department_id)),
    ).order_by(Clinician.id)
    return narrow(query)


def _hours_text() -> ScalarSelect:
    rule = stored_hours(
        AvailabilityRule.weekday,
        AvailabilityRule.start_time,
        AvailabilityRule.end_time,
        AvailabilityRule.valid_from,
        AvailabilityRule.valid_until,
    )
    query = select(aggregate_strings(rule, ",")).where(AvailabilityRule.clinician_id == Clinician.id)
    return query.scalar_subquery()


def _busy_text(lo: BindParameter, hi: BindParameter, excluding: bool) -> ScalarSelect:
    query = select(
        aggregate_strings(stored_span(Consultation.blocked_from, Consultation.blocked_until), ",")
    ).where(
        Consultation.clinician_id == Clinician.id,
        Consultation.status != ConsultationStatus.CANCELLED,
        Consultation.blocked_from >= bindparam("lowest"),
        Consultation.blocked_from < hi,
        Consultation.blocked_until > lo,
    )
    if excluding:
        query = query.where(Consultation.id != bindparam("excluded"))
    return query.scalar_subquery()


def _spans_text(
    starts_at: InstrumentedAttribute[datetime],
    ends_at: InstrumentedAttribute[datetime],
    lo: BindParameter,
    hi: BindParameter,
    whose: ColumnElement[bool],
) -> ScalarSelect:
    query = select(aggregate_strings(stored_span(starts_at, ends_at), ",")).where(
        whose, starts_at < hi, ends_at > lo
    )
    return query.scalar_subquery()


def load_calendars(
    session: Session,
    clinicians: list[Clinician],
    window_start: datetime,
    window_end: datetime,
    exclude_consultation: int | None = None,
) -> list[ClinicianCalendar]:
    """The engine's view of these clinicians over the window widened by a day each side (see read_calendars),
    in id order."""
    listed = Clinicians(_listed, {"ids": [clinician.id for clinician in clinicians]})
    lo, hi = window_start - MAX_BLOCK, window_end + MAX_BLOCK
    return read_calendars(session, listed, lo, hi, exclude_consultation)


class Absences(NamedTuple):
    """A clinician's weekly hours and own time off (a calendar without bookings), and apart from them the
    clinic's closures that cover the clinician: what tells a consultation's clash (scheduling.clashes)."""

    calendar: ClinicianCalendar
    closed: list[Span]


def absences(
    session: Session, clinician_ids: Collection[int], window_start: datetime, window_end: datetime
) -> dict[int, Absences]:
    """The Absences of each of these clinicians, by id, with the time off and closures meeting the window."""
    if len(clinician_ids) == 1:  # a clinician's own pages: on the driver's path, which an IN list is not
        (clinician_id,) = clinician_ids
        listed = Clinicians(_one, {"id": clinician_id})
    else:
        listed = Clinicians(_listed, {"ids": list(clinician_ids)})
    rows = _calendar_rows(session, listed, window_start, window_end, None, False, ())
    return {
        clinician_id: Absences(ClinicianCalendar(clinician_id, time_zone, hours, time_off=off), closed)
        for clinician_id, time_zone, hours, _, off, closed in rows
    }


def offered_time(
    session: Session, clinician_ids: list[int], window_start: datetime, window_end: datetime
) -> dict[int, list[tuple[int, int]]]:
    """The time each active clinician of `clinician_ids` offers in the window (weekly hours less time off
    and closures, bookings ignored) as intervals of Unix seconds; inactive clinicians offer none."""
    listed = Clinicians(_listed_active, {"ids": list(clinician_ids)})
    lo, hi = window_start - MAX_BLOCK, window_end + MAX_BLOCK
    calendars = read_calendars(session, listed, lo, hi, with_bookings=False)
    lower, upper = int(window_start.timestamp()), int(window_end.timestamp())
    return {calendar.clinician_id: open_time(calendar, lower, upper) for calendar in calendars}
