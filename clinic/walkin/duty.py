"""How many wait in walk-in queues, and for how long the first has: for the staff on duty (their
schedule's panel), their department's reception (the same, to see) and the hospital's monitoring
(/readyz's figures); and who on duty is signed in to take them."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, Select, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session, joinedload

from ..models import (
    Clinician,
    Closure,
    EntryStatus,
    QueueStatus,
    StaffRole,
    StaffSession,
    StaffUser,
    TimeOff,
    WalkInEntry,
    WalkInQueue,
    walk_in_duty,
)
from ..models.driver import driver_rows
from ..staff.members import StaffMember
from ..staff.sessions import SessionRules, live
from .closures import closures_now
from .hours import open_until


@dataclass(frozen=True)
class QueuePanel:
    queue_id: int
    name: str
    status: QueueStatus
    open_now: bool  # inside its opening hours (whatever its status)
    waiting: int
    oldest_wait: timedelta | None  # how long the one waiting longest has waited
    newest_caller: int | None  # the id of the last to join of those waiting: a higher one is a new caller
    interpreters: int  # how many of those waiting asked for an interpreter
    next_needs_interpreter: bool  # whether the next to be taken did
    can_take: bool  # a clinician on its duty; reception see the queue, as only those on duty take
    away: bool = False  # the clinician is on time off now: off its duty, they take nobody
    available: int | None = None  # reception: how many on its duty could take a caller now (see below)
    closed_until: datetime | None = None  # in a closure (walkin.closures): no new callers until then
    closure_label: str = ""


class Waiting(NamedTuple):
    """Who waits in a queue: how many, when the first of them joined, and the id of the last to join."""

    count: int = 0
    first_joined: datetime | None = None
    newest: int | None = None
    interpreters: int = 0  # how many of them asked for an interpreter


@dataclass(frozen=True)
class QueueWait:
    """An open queue as monitoring sees it: its address, never anyone's name."""

    slug: str
    waiting: int
    oldest_wait_seconds: int | None


# Read on every drawing of a clinician's or reception's schedule: built once, as building each costs about a
# quarter of a millisecond of CPU.
# A deactivated clinician is on no queue's duty (deactivating takes them off; rows left by one before it did
# are not read).
_ON_DUTY = (
    select(walk_in_duty.c.queue_id)
    .join(Clinician, Clinician.id == walk_in_duty.c.clinician_id)
    .where(walk_in_duty.c.clinician_id == bindparam("clinician_id"), Clinician.active)
)
_OF_DEPARTMENT = select(WalkInQueue.id).where(WalkInQueue.department_id == bindparam("department_id"))


def queues_on_duty(
    session: Session, staff: StaffMember, now: datetime, rules: SessionRules
) -> list[QueuePanel]:
    """The queues on `staff`'s schedule, by name: a clinician's those they are on duty for, which they
    take callers from, unless on time off now; reception's those of their department, to see who waits
    and whether anyone on duty is available to take them (`signed_in_on_duty`). None for admins.

    Most staff have no queue: for them one lookup of ids past the ORM (models.driver), where loading no
    queue through it cost about as much CPU as the day's consultations. Queues found are loaded joined
    with their hours, which say whether each is open now.
    """
    if staff.clinician_id is not None:
        ids, can_take = _queue_ids(session, _ON_DUTY, clinician_id=staff.clinician_id), True
    elif staff.role is StaffRole.RECEPTION and staff.department_id is not None:
        ids, can_take = _queue_ids(session, _OF_DEPARTMENT, department_id=staff.department_id), False
    else:
        return []
    if not ids:
        return []
    queues = (
        session.scalars(
            select(WalkInQueue)
            .where(WalkInQueue.id.in_(ids))
            .options(joinedload(WalkInQueue.hours))
            .order_by(WalkInQueue.name, WalkInQueue.id)
        )
        .unique()
        .all()
    )
    counts = waiting_in(session, ids)
    needing = _next_need_interpreters(session, [queue_id for queue_id, w in counts.items() if w.interpreters])
    closed = closures_now(session, {queue.department_id for queue in queues}, now)
    panels = [
        _panel(queue, counts.get(queue.id, Waiting()), queue.id in needing, can_take, now, closed)
        for queue in queues
    ]
    if can_take:
        away = off_duty(session, staff.clinician_id, ids, now)
        return [replace(p, can_take=False, away=True) if p.queue_id in away else p for p in panels]
    return [replace(p, available=signed_in_on_duty(session, p.queue_id, now, rules)) for p in panels]


def off_duty(session: Session, clinician_id: int, queue_ids: list[int], now: datetime) -> set[int]:
    """Those of the queues the clinician is off the duty of at `now` (see `_away`), in one query."""
    return set(
        session.scalars(
            select(WalkInQueue.id)
            .join(Clinician, Clinician.id == clinician_id)
            .where(
                WalkInQueue.id.in_(queue_ids),
                _away(Clinician.id, Clinician.department_id, WalkInQueue.department_id, now),
            )
        )
    )


def _away(
    clinician: ColumnElement[int],
    department: ColumnElement[int],
    queue_department: ColumnElement[int],
    now: datetime,
) -> ColumnElement[bool]:
    """Whether the clinician (of `department`) is away from a queue (of `queue_department`) at `now`: on time
    off, or in a closure covering their department, which the booking side counts as time off too. The
    queue's own closure is left out: those already waiting are still taken by its duty (walkin.closures)."""
    time_off = exists().where(
        TimeOff.clinician_id == clinician, TimeOff.starts_at <= now, TimeOff.ends_at > now
    )
    closed = exists().where(
        Closure.covers(department),
        ~Closure.covers(queue_department),
        Closure.starts_at <= now,
        Closure.ends_at > now,
    )
    return or_(time_off, closed)


def signed_in_on_duty(session: Session, queue_id: int, now: datetime, rules: SessionRules) -> int:
    """How many clinicians on duty for the queue are signed in now (a staff session that still signs
    in) and not away (`_away`): those who may take its callers."""
    return session.scalar(
        select(func.count(func.distinct(Clinician.id)))
        .select_from(walk_in_duty)
        .join(WalkInQueue, WalkInQueue.id == walk_in_duty.c.queue_id)
        .join(Clinician, Clinician.id == walk_in_duty.c.clinician_id)
        .join(StaffUser, StaffUser.clinician_id == Clinician.id)
        .join(StaffSession, StaffSession.staff_user_id == StaffUser.id)
        .where(
            walk_in_duty.c.queue_id == queue_id,
            Clinician.active.is_(True),
            live(now, rules),
            ~_away(Clinician.id, Clinician.department_id, WalkInQueue.department_id, now),
        )
    )


def _queue_ids(session: Session, query: Select, **params: int) -> list[int]:
    return [queue_id for (queue_id,) in driver_rows(session, query, params)]


def open_queue_waits(session: Session, now: datetime) -> list[QueueWait]:
    """Each open queue (status open, whether inside its hours or not) by its address: how many wait
    and the longest wait. Two aggregate queries, the second through the entries' (queue, status) index."""
    queues = session.execute(
        select(WalkInQueue.id, WalkInQueue.slug)
        .where(WalkInQueue.status == QueueStatus.OPEN)
        .order_by(WalkInQueue.slug)
    ).all()
    if not queues:
        return []
    counts = waiting_in(session, [queue_id for queue_id, _ in queues])
    return [_wait(slug, counts.get(queue_id, Waiting()), now) for queue_id, slug in queues]


def waiting_in(session: Session, queue_ids: list[int]) -> dict[int, Waiting]:
    """By queue (those with anyone waiting): who waits."""
    return {queue_id: Waiting(*waiting) for queue_id, *waiting in session.execute(waiting_query(queue_ids))}


def waiting_query(queue_ids: list[int]) -> Select:
    """The count of waiting callers, their first joining, the last to join and how many asked for an
    interpreter, per queue: read through the entries' (queue, status, position) index, as take-next's
    claim is."""
    return (
        select(
            WalkInEntry.queue_id,
            func.count(),
            func.min(WalkInEntry.joined_at),
            func.max(WalkInEntry.id),
            func.count().filter(WalkInEntry.needs_interpreter.is_(True)),
        )
        .where(WalkInEntry.queue_id.in_(queue_ids), WalkInEntry.status == EntryStatus.WAITING)
        .group_by(WalkInEntry.queue_id)
    )


def _next_need_interpreters(session: Session, queue_ids: list[int]) -> set[int]:
    """Those of the queues whose next caller to be taken (first by position, as take-next's claim) asked
    for an interpreter."""
    if not queue_ids:
        return set()
    order = func.row_number().over(
        partition_by=WalkInEntry.queue_id, order_by=(WalkInEntry.position, WalkInEntry.id)
    )
    ranked = (
        select(WalkInEntry.queue_id, WalkInEntry.needs_interpreter, order.label("place"))
        .where(WalkInEntry.queue_id.in_(queue_ids), WalkInEntry.status == EntryStatus.WAITING)
        .subquery()
    )
    first = select(ranked.c.queue_id).where(ranked.c.place == 1, ranked.c.needs_interpreter.is_(True))
    return set(session.scalars(first))


def _panel(
    queue: WalkInQueue,
    waiting: Waiting,
    next_needs: bool,
    can_take: bool,
    now: datetime,
    closed: dict[int, Closure],
) -> QueuePanel:
    closure = closed.get(queue.department_id)
    return QueuePanel(
        queue_id=queue.id,
        name=queue.name,
        status=queue.status,
        open_now=open_until(queue, now) is not None,
        waiting=waiting.count,
        oldest_wait=now - waiting.first_joined if waiting.first_joined is not None else None,
        newest_caller=waiting.newest,
        interpreters=waiting.interpreters,
        next_needs_interpreter=next_needs,
        can_take=can_take,
        closed_until=closure and closure.ends_at,
        closure_label=closure.label if closure else "",
    )


def _wait(slug: str, waiting: Waiting, now: datetime) -> QueueWait:
    first = waiting.first_joined
    oldest = None if first is None else max(0, int((now - first).total_seconds()))
    return QueueWait(slug, waiting.count, oldest)
