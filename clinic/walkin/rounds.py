"""The walk-in rules the worker's housekeeping applies each round, from the database alone (never one
scheduler job per caller): callers taken who did not answer, callers left in a call nobody started, and
callers left in a call whose clinician vanished from it, are sent back (walkin.send_back); callers still
waiting when their queue closes are closed out; finished calls complete.

Rows are claimed with SKIP LOCKED (a caller's row before their call's consultation, as everywhere),
so several workers, and callers acting meanwhile, never meet in a deadlock or act twice.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from ..audit import SYSTEM
from ..models import Consultation, ConsultationStatus, EntryStatus, QueueStatus, WalkInEntry, WalkInQueue
from ..models.transactions import write_transaction
from ..staff.sessions import SessionRules
from .hours import open_until
from .queue import call_over, end
from .send_back import link_made_at, send_back, stalled_for

BATCH = 200


@dataclass(frozen=True)
class RoundResult:
    completed: int = 0
    requeued: int = 0
    dropped: int = 0
    closed: int = 0


def walk_in_round(
    session: Session, now: datetime, *, answer_within: timedelta, sessions: SessionRules
) -> RoundResult:
    """One round of the walk-in rules; returns how many callers each one moved. `sessions`: the staff
    sessions' rules, by which a clinician is signed in or gone from their call."""
    completed = complete_finished_calls(session, now)
    requeued, dropped = requeue_or_drop_unanswered(
        session, now, answer_within=answer_within, sessions=sessions
    )
    closed = close_out_waiting(session, now)
    return RoundResult(completed, requeued, dropped, closed)


def complete_finished_calls(session: Session, now: datetime) -> int:
    """Callers whose call's consultation the clinician finished (or who joined a call that ended)."""
    with write_transaction(session):
        finished = _claimed(
            session,
            select(WalkInEntry)
            .join(Consultation, WalkInEntry.consultation_id == Consultation.id)
            .where(call_over()),
        )
        for entry in finished:
            end(session, entry, EntryStatus.COMPLETED, now, SYSTEM)  # audited as of this round
            entry.ended_at = entry.consultation.ended_at or now  # but the caller's call ended then
    return len(finished)


def requeue_or_drop_unanswered(
    session: Session, now: datetime, *, answer_within: timedelta, sessions: SessionRules
) -> tuple[int, int]:
    """Send back (walkin.send_back) the callers whose call is not held in time: taken `answer_within` ago
    or more without pressing join, or whose call its clinician started but who did not join in its whole
    time, or whose call was called off; those who joined a call nobody started within `answer_within`; and
    those in a call that has stalled (its clinician gone by `sessions`, the rule the call's page shows)
    for `answer_within`, so a clinician who signs in again by then finds their caller still there.
    Returns (requeued, dropped)."""
    requeued = dropped = 0
    with write_transaction(session):
        due = _claimed(
            session,
            select(WalkInEntry)
            .join(Consultation, WalkInEntry.consultation_id == Consultation.id)
            .where(_not_held_in_time(now, answer_within) | stalled_for(now, answer_within, sessions)),
            also=Consultation,  # re-read under its lock: a call started meanwhile is no longer due
        )
        for entry in due:
            send_back(session, entry, now, SYSTEM)
            if entry.status is EntryStatus.DROPPED:
                dropped += 1
            else:
                requeued += 1
    return requeued, dropped


def _not_held_in_time(now: datetime, answer_within: timedelta) -> ColumnElement[bool]:
    late = now - answer_within
    not_answered = (WalkInEntry.status == EntryStatus.TAKEN) & or_(
        (Consultation.status == ConsultationStatus.ARRIVED)
        & (func.coalesce(link_made_at(Consultation.id), WalkInEntry.taken_at) <= late),
        # Its clinician waits in the call for them: their turn stays open for the call's time.
        (Consultation.status == ConsultationStatus.IN_PROGRESS) & (Consultation.ends_at <= now),
        Consultation.status.in_((ConsultationStatus.NOSHOW, ConsultationStatus.CANCELLED)),
    )
    not_started = (
        (WalkInEntry.status == EntryStatus.IN_CALL)
        & (Consultation.status == ConsultationStatus.ARRIVED)
        & (WalkInEntry.answered_at <= late)
    )
    return not_answered | not_started


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


def _claimed(session: Session, query, also: type | None = None) -> list[WalkInEntry]:
    """The first BATCH entries of `query`, their rows (and those of `also`, joined in it) locked, skipping
    rows another transaction holds."""
    locked = WalkInEntry if also is None else (WalkInEntry, also)
    return list(
        session.scalars(
            query.order_by(WalkInEntry.id).limit(BATCH).with_for_update(of=locked, skip_locked=True)
        )
    )
