"""The walk-in rules the worker's housekeeping applies each round, from the database alone (never one
scheduler job per caller): callers taken who did not answer go back to the front once, then are
dropped; callers still waiting when their queue closes are closed out; finished calls complete.

Rows are claimed with SKIP LOCKED (a caller's row before their call's consultation, as everywhere),
so several workers, and callers acting meanwhile, never meet in a deadlock or act twice.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..audit import SYSTEM
from ..models import Consultation, ConsultationStatus, EntryStatus, QueueStatus, WalkInEntry, WalkInQueue
from ..models.transactions import write_transaction
from .hours import open_until
from .queue import abandon_call, end, record_entry_event

BATCH = 200


@dataclass(frozen=True)
class RoundResult:
    completed: int = 0
    requeued: int = 0
    dropped: int = 0
    closed: int = 0


def walk_in_round(session: Session, now: datetime, *, answer_within: timedelta) -> RoundResult:
    """One round of the walk-in rules; returns how many callers each one moved."""
    completed = complete_finished_calls(session, now)
    requeued, dropped = requeue_or_drop_unanswered(session, now, answer_within=answer_within)
    closed = close_out_waiting(session, now)
    return RoundResult(completed, requeued, dropped, closed)


def complete_finished_calls(session: Session, now: datetime) -> int:
    """Callers whose call's consultation the clinician finished (or who joined a call that ended)."""
    with write_transaction(session):
        finished = _claimed(
            session,
            select(WalkInEntry)
            .join(Consultation, WalkInEntry.consultation_id == Consultation.id)
            .where(
                or_(
                    WalkInEntry.status.in_((EntryStatus.TAKEN, EntryStatus.IN_CALL))
                    & (Consultation.status == ConsultationStatus.FULFILLED),
                    (WalkInEntry.status == EntryStatus.IN_CALL)
                    & Consultation.status.in_((ConsultationStatus.NOSHOW, ConsultationStatus.CANCELLED)),
                )
            ),
        )
        for entry in finished:
            end(session, entry, EntryStatus.COMPLETED, entry.consultation.ended_at or now, SYSTEM)
    return len(finished)


def requeue_or_drop_unanswered(
    session: Session, now: datetime, *, answer_within: timedelta
) -> tuple[int, int]:
    """Callers taken `answer_within` ago or more who have not pressed join (or whose call the clinician
    called off): back to the front of the queue the first time, dropped the second. Returns (requeued,
    dropped)."""
    requeued = dropped = 0
    with write_transaction(session):
        unanswered = _claimed(
            session,
            select(WalkInEntry)
            .join(Consultation, WalkInEntry.consultation_id == Consultation.id)
            .where(
                WalkInEntry.status == EntryStatus.TAKEN,
                or_(
                    WalkInEntry.taken_at <= now - answer_within,
                    Consultation.status.in_((ConsultationStatus.NOSHOW, ConsultationStatus.CANCELLED)),
                ),
            ),
        )
        for entry in unanswered:
            abandon_call(session, entry, now, SYSTEM)
            if entry.requeued:
                end(session, entry, EntryStatus.DROPPED, now, SYSTEM)
                dropped += 1
            else:
                _to_front(session, entry, now)
                requeued += 1
    return requeued, dropped


def close_out_waiting(session: Session, now: datetime) -> int:
    """Callers still waiting in a queue that is closed, or whose opening hours are over."""
    with write_transaction(session):
        queues = session.scalars(
            select(WalkInQueue).where(
                WalkInQueue.id.in_(
                    select(WalkInEntry.queue_id).where(WalkInEntry.status == EntryStatus.WAITING)
                )
            )
        ).all()
        shut = [q.id for q in queues if q.status is QueueStatus.CLOSED or open_until(q, now) is None]
        if not shut:
            return 0
        waiting = _claimed(
            session,
            select(WalkInEntry).where(
                WalkInEntry.queue_id.in_(shut), WalkInEntry.status == EntryStatus.WAITING
            ),
        )
        for entry in waiting:
            end(session, entry, EntryStatus.CLOSED, now, SYSTEM)
    return len(waiting)


def _to_front(session: Session, entry: WalkInEntry, now: datetime) -> None:
    front = session.scalar(
        select(func.min(WalkInEntry.position)).where(
            WalkInEntry.queue_id == entry.queue_id, WalkInEntry.status == EntryStatus.WAITING
        )
    )
    entry.status, entry.requeued = EntryStatus.WAITING, True
    entry.position = min(front, entry.position) - 1 if front is not None else entry.position
    entry.taken_at = entry.taken_by = None
    record_entry_event(session, entry, "walk_in.requeued", now, SYSTEM)


def _claimed(session: Session, query) -> list[WalkInEntry]:
    return list(
        session.scalars(
            query.order_by(WalkInEntry.id).limit(BATCH).with_for_update(of=WalkInEntry, skip_locked=True)
        )
    )
