"""What staff on duty see of their walk-in queues: how many wait, and for how long the first has."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import EntryStatus, QueueStatus, WalkInEntry, WalkInQueue, walk_in_duty
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


def queues_on_duty(session: Session, staff: StaffMember, now: datetime) -> list[QueuePanel]:
    """The queues `staff` (a clinician) is on duty for, by name; none for other staff."""
    if staff.clinician_id is None:
        return []
    queues = session.scalars(
        select(WalkInQueue)
        .join(walk_in_duty, walk_in_duty.c.queue_id == WalkInQueue.id)
        .where(walk_in_duty.c.clinician_id == staff.clinician_id)
        .order_by(WalkInQueue.name, WalkInQueue.id)
    ).all()
    if not queues:
        return []
    counts = {
        queue_id: (count, first)
        for queue_id, count, first in session.execute(
            select(WalkInEntry.queue_id, func.count(), func.min(WalkInEntry.joined_at))
            .where(
                WalkInEntry.queue_id.in_([q.id for q in queues]), WalkInEntry.status == EntryStatus.WAITING
            )
            .group_by(WalkInEntry.queue_id)
        )
    }
    return [_panel(queue, *counts.get(queue.id, (0, None)), now) for queue in queues]


def _panel(queue: WalkInQueue, waiting: int, first_joined: datetime | None, now: datetime) -> QueuePanel:
    oldest = now - first_joined if first_joined is not None else None
    return QueuePanel(queue.id, queue.name, queue.status, open_until(queue, now) is not None, waiting, oldest)
