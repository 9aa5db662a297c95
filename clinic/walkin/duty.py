"""How many wait in walk-in queues, and for how long the first has: for the staff on duty (their
schedule's panel) and for the hospital's monitoring (/readyz's figures)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session, joinedload

from ..models import EntryStatus, QueueStatus, WalkInEntry, WalkInQueue, walk_in_duty
from ..models.driver import driver_rows
from ..staff.members import StaffMember
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


class Waiting(NamedTuple):
    """Who waits in a queue: how many, when the first of them joined, and the id of the last to join."""

    count: int = 0
    first_joined: datetime | None = None
    newest: int | None = None


@dataclass(frozen=True)
class QueueWait:
    """An open queue as monitoring sees it: its address, never anyone's name."""

    slug: str
    waiting: int
    oldest_wait_seconds: int | None


# Read on every drawing of a clinician's schedule: built once, as building it costs about a quarter of a
# millisecond of CPU.
_ON_DUTY = select(walk_in_duty.c.queue_id).where(walk_in_duty.c.clinician_id == bindparam("clinician_id"))


def queues_on_duty(session: Session, staff: StaffMember, now: datetime) -> list[QueuePanel]:
    """The queues `staff` (a clinician) is on duty for, by name; none for other staff.

    Most clinicians are on no queue's duty: for them one lookup of ids past the ORM (models.driver),
    where loading no queue through it cost about as much CPU as the day's consultations. Queues found
    are loaded joined with their hours, which say whether each is open now.
    """
    if staff.clinician_id is None:
        return []
    ids = [queue_id for (queue_id,) in driver_rows(session, _ON_DUTY, {"clinician_id": staff.clinician_id})]
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
    return [_panel(queue, counts.get(queue.id, Waiting()), now) for queue in queues]


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
    """The count of waiting callers, their first joining and the last to join, per queue: read through the
    entries' (queue, status, position) index, as take-next's claim is."""
    return (
        select(WalkInEntry.queue_id, func.count(), func.min(WalkInEntry.joined_at), func.max(WalkInEntry.id))
        .where(WalkInEntry.queue_id.in_(queue_ids), WalkInEntry.status == EntryStatus.WAITING)
        .group_by(WalkInEntry.queue_id)
    )


def _panel(queue: WalkInQueue, waiting: Waiting, now: datetime) -> QueuePanel:
    oldest = now - waiting.first_joined if waiting.first_joined is not None else None
    open_now = open_until(queue, now) is not None
    return QueuePanel(queue.id, queue.name, queue.status, open_now, waiting.count, oldest, waiting.newest)


def _wait(slug: str, waiting: Waiting, now: datetime) -> QueueWait:
    first = waiting.first_joined
    oldest = None if first is None else max(0, int((now - first).total_seconds()))
    return QueueWait(slug, waiting.count, oldest)
