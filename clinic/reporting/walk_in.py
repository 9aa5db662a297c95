"""Walk-in queues per day: callers joined, taken and abandoned, and the wait until taken, for every queue
(of one department or all) and for them together. What each figure counts is written on the report page
(templates/admin/_report_help.html) and in docs/operations.md; keep the three in step.

Callers count on the day they joined, in the hospital's time zone, whatever became of them later (as a
consultation counts in the week it was to start): so each day's callers add up, joined = taken +
abandoned + still waiting. Every figure is aggregated in SQL over the callers who joined in the period;
the wait's percentiles too, by nearest rank with window functions (sql.percentiles), as lead times are.
"""

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Select, Subquery, case, func, literal_column, select
from sqlalchemy.orm import Session

from ..hospital.records import Page, page_or_all
from ..models import Department, EntryStatus, WalkInEntry, WalkInQueue
from ..models.base import unix_seconds
from .sql import MEDIAN, P95, percentiles
from .weeks import Day, ReportFilter

PER_PAGE = 10  # queues per page: each has a row per day
# Taken: a staff member took them and they were not lost afterwards (in the call, or finished).
TAKEN = (EntryStatus.TAKEN, EntryStatus.IN_CALL, EntryStatus.COMPLETED)


@dataclass
class DayFigures:
    """One day's callers, of a queue or of all. Waits are in seconds."""

    joined: int = 0
    taken: int = 0
    left: int = 0  # left the queue themselves, waiting or after being taken
    dropped: int = 0  # taken twice without answering
    closed: int = 0  # still waiting when the queue closed
    wait_median: int | None = None  # joining to being taken, over those taken (nearest rank)
    wait_p95: int | None = None

    @property
    def abandoned(self) -> int:
        return self.left + self.dropped + self.closed

    @property
    def waiting(self) -> int:
        """Still waiting (or sent back to the front) now."""
        return self.joined - self.taken - self.abandoned


@dataclass(frozen=True)
class QueueLine:
    """A queue's figures, one per day of the period."""

    id: int
    name: str
    department: str
    days: list[DayFigures] = field(default_factory=list)


@dataclass(frozen=True)
class WalkInReport:
    days: list[Day]
    totals: list[DayFigures]  # every queue's callers (of the chosen department) together
    queues: Page[QueueLine]

    @property
    def has_queues(self) -> bool:
        """Whether the filter holds any queue: a page past the last (a stale link) lists none, but only
        page 1 empty means there are none."""
        return bool(self.queues.rows) or self.queues.page > 1


def walk_in_report(session: Session, wanted: ReportFilter, *, queues_page: int = 1) -> WalkInReport:
    """The daily totals, and one page of queues."""
    return WalkInReport(wanted.days, daily_totals(session, wanted), queue_lines(session, wanted, queues_page))


def daily_totals(session: Session, wanted: ReportFilter) -> list[DayFigures]:
    """The figures of every queue in the filter together, per day."""
    return _days_of(_figures(session, wanted, literal_column("0")), wanted, 0)


def queue_lines(session: Session, wanted: ReportFilter, page: int | None = None) -> Page[QueueLine]:
    """Each queue's daily figures, by department and name: one page of them, or all when `page` is None."""
    query = select(WalkInQueue).join(Department).order_by(Department.name, WalkInQueue.name, WalkInQueue.id)
    if wanted.department_id is not None:
        query = query.where(WalkInQueue.department_id == wanted.department_id)
    queues = page_or_all(session, query, page, PER_PAGE)
    ids = [q.id for q in queues.rows]
    found = _figures(session, wanted, WalkInEntry.queue_id, ids)
    lines = [QueueLine(q.id, q.name, q.department.name, _days_of(found, wanted, q.id)) for q in queues.rows]
    return Page(lines, queues.page, queues.has_next)


# Figures found, by (queue id or 0, day index).
_Found = dict[tuple[int, int], DayFigures]


def _figures(
    session: Session, wanted: ReportFilter, key: ColumnElement[int], queue_ids: list[int] | None = None
) -> _Found:
    """Counts and waits grouped by `key` (a column) and day of joining."""
    scope = [WalkInEntry.joined_at >= wanted.starts_at, WalkInEntry.joined_at < wanted.ends_at]
    if wanted.department_id is not None:
        scope.append(WalkInQueue.department_id == wanted.department_id)
    if queue_ids is not None:
        scope.append(WalkInEntry.queue_id.in_(queue_ids))
    day_of_joining = wanted.day_index(WalkInEntry.joined_at)  # built once: a CASE of a branch per day
    found: _Found = {}
    for owner, day, joined, taken, left, dropped, closed in session.execute(
        _counts(day_of_joining, key, scope)
    ):
        # PostgreSQL sums as numeric (Decimal): whole numbers here, so back to int.
        found[owner, day] = DayFigures(joined, int(taken), int(left), int(dropped), int(closed))
    waits = _waits(day_of_joining, key, scope)
    for group, at in percentiles(session, (waits.c.owner, waits.c.day), waits.c.wait, (MEDIAN, P95)).items():
        figures = found.setdefault(group, DayFigures())
        figures.wait_median, figures.wait_p95 = at[MEDIAN], at[P95]
    return found


def _counts(day: ColumnElement[int], key: ColumnElement[int], scope: list) -> Select:
    """Per key and day: callers joined, taken, left, dropped and closed out. The day is computed in a
    subquery and grouped on outside, as consultations._counts explains."""

    def one_if(*statuses: EntryStatus) -> ColumnElement[int]:
        return case((WalkInEntry.status.in_(statuses), 1), else_=0)

    rows = (
        select(
            key.label("owner"),
            day.label("day"),
            one_if(*TAKEN).label("taken"),
            one_if(EntryStatus.LEFT).label("left_queue"),
            one_if(EntryStatus.DROPPED).label("dropped"),
            one_if(EntryStatus.CLOSED).label("closed"),
        )
        .join(WalkInQueue, WalkInQueue.id == WalkInEntry.queue_id)
        .where(*scope)
        .subquery()
    )
    sums = (func.sum(rows.c[name]) for name in ("taken", "left_queue", "dropped", "closed"))
    return select(rows.c.owner, rows.c.day, func.count(), *sums).group_by(rows.c.owner, rows.c.day)


def _waits(day: ColumnElement[int], key: ColumnElement[int], scope: list) -> Subquery:
    """Per caller counted as taken: their key, day of joining and wait until taken."""
    return (
        select(
            key.label("owner"),
            day.label("day"),
            (unix_seconds(WalkInEntry.taken_at) - unix_seconds(WalkInEntry.joined_at)).label("wait"),
        )
        .join(WalkInQueue, WalkInQueue.id == WalkInEntry.queue_id)
        .where(*scope, WalkInEntry.status.in_(TAKEN), WalkInEntry.taken_at.is_not(None))
        .subquery()
    )


def _days_of(found: _Found, wanted: ReportFilter, owner: int) -> list[DayFigures]:
    return [found.get((owner, day), DayFigures()) for day in range(len(wanted.days))]
