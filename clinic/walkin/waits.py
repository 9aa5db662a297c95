"""How long a walk-in caller is likely to wait, said honestly: at the pace the queue's callers have been
taken, once enough takes over long enough tell it; until then at the expected minutes per caller, shared
by the clinicians on duty who are signed in; and not at all while none of them is, when any figure would
be a promise that nobody is there to keep."""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import EntryStatus, WalkInEntry, WalkInQueue
from ..staff.sessions import SessionRules
from .closures import next_closure
from .duty import signed_in_on_duty
from .hours import CLOSING_AHEAD, closes_at, open_since

# How far back take-next's pace is measured, and how many takes make it telling.
PACE_WINDOW = timedelta(hours=1)
PACE_MIN_TAKES = 3


@dataclass(frozen=True)
class WaitRules:
    per_caller: timedelta  # what one clinician is expected to take per caller (WALK_IN_MINUTES_PER_CALLER)
    sessions: SessionRules  # which staff sessions still sign in: who is there to take callers

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "WaitRules":
        per_caller = timedelta(minutes=float(config["WALK_IN_MINUTES_PER_CALLER"]))
        return cls(per_caller, SessionRules.from_config(config))


@dataclass(frozen=True)
class Pace:
    """What a queue's waits are estimated from at `now`: the clinicians on duty signed in, and the takes
    in the pace's window (the last hour, or since the queue opened if that is later)."""

    now: datetime
    signed_in: int
    takes: int
    first_take: datetime | None
    last_take: datetime | None
    per_caller: timedelta

    def wait(self, ahead: int) -> timedelta | None:
        """How long until a caller with `ahead` people before them is likely taken, rounded up to whole
        minutes and at least one; None while nobody on duty is signed in."""
        if self.signed_in == 0:
            return None
        between = self.between_takes()
        if between is None:
            between = self.per_caller / self.signed_in
        return timedelta(minutes=max(1, math.ceil((ahead + 1) * between / timedelta(minutes=1))))

    def between_takes(self) -> timedelta | None:
        """The time from one take to the next as watched: their average gap, or the time since the last
        if that is longer already (the pace slowing). None until a few takes span one call's length:
        takes in a burst (each clinician taking one as the queue opens) say how many took, not how soon
        calls end."""
        if self.takes < PACE_MIN_TAKES or self.last_take - self.first_take < self.per_caller:
            return None
        return max((self.last_take - self.first_take) / (self.takes - 1), self.now - self.last_take)


@dataclass(frozen=True)
class Place:
    """Where a waiting caller stands: 1 is next. `wait` is an estimate, never a promise; None while
    nobody on duty is signed in."""

    number: int
    wait: timedelta | None
    closes_at: datetime | None  # when the queue closes today (None: it stays open round the clock)
    past_closing: bool  # the wait runs past the closing, when waiting callers are turned out


@dataclass(frozen=True)
class Outlook:
    """What a caller about to join is told: how many wait, how long they would, and when the queue closes."""

    waiting: int
    wait: timedelta | None  # theirs if they join now (None: nobody on duty is signed in)
    closes_at: datetime | None  # when the queue closes today (None: it stays open round the clock)
    past_closing: bool  # the wait runs past the closing, when waiting callers are turned out
    # When a closure beginning before that (within a day) closes it to new callers; those who joined by then
    # keep their place (walkin.closures). None: no such closure.
    closure_starts: datetime | None = None


def queue_pace(session: Session, queue: WalkInQueue, now: datetime, rules: WaitRules) -> Pace:
    """The queue's pace as of `now`."""
    since = open_since(queue, now, PACE_WINDOW)
    takes, first, last = session.execute(
        select(func.count(), func.min(WalkInEntry.taken_at), func.max(WalkInEntry.taken_at)).where(
            WalkInEntry.queue_id == queue.id, WalkInEntry.taken_at >= since
        )
    ).one()
    signed_in = signed_in_on_duty(session, queue.id, now, rules.sessions)
    return Pace(now, signed_in, takes, first, last, rules.per_caller)


def place_in_queue(session: Session, entry: WalkInEntry, now: datetime, rules: WaitRules) -> Place | None:
    """The waiting caller's place and estimated wait (None once they are no longer waiting)."""
    if entry.status is not EntryStatus.WAITING:
        return None
    ahead = session.scalar(
        select(func.count()).where(
            WalkInEntry.queue_id == entry.queue_id,
            WalkInEntry.status == EntryStatus.WAITING,
            (WalkInEntry.position < entry.position)
            | ((WalkInEntry.position == entry.position) & (WalkInEntry.id < entry.id)),
        )
    )
    wait = queue_pace(session, entry.queue, now, rules).wait(ahead)
    return Place(ahead + 1, wait, *_closing(entry.queue, now, wait))


def outlook(session: Session, queue: WalkInQueue, now: datetime, rules: WaitRules) -> Outlook:
    """What the queue's join page tells a caller before they join, as of `now`."""
    waiting = waiting_count(session, queue.id)
    wait = queue_pace(session, queue, now, rules).wait(ahead=waiting)
    closing, past_closing = _closing(queue, now, wait)
    closure = next_closure(session, queue, now, before=closing or now + CLOSING_AHEAD)
    return Outlook(waiting, wait, closing, past_closing, closure and closure.starts_at)


def _closing(queue: WalkInQueue, now: datetime, wait: timedelta | None) -> tuple[datetime | None, bool]:
    """When the queue closes today, and whether a wait of `wait` from `now` runs past it: what a caller is
    warned of before joining and while waiting alike."""
    closing = closes_at(queue, now)
    return closing, wait is not None and closing is not None and now + wait > closing


def waiting_count(session: Session, queue_id: int) -> int:
    """How many callers are waiting in the queue now."""
    return session.scalar(
        select(func.count()).where(
            WalkInEntry.queue_id == queue_id, WalkInEntry.status == EntryStatus.WAITING
        )
    )
