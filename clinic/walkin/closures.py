"""Clinic closures as walk-in queues keep them: a closure of a queue's department, or of the whole hospital,
closes the queue to new callers for its time, as it closes the department's times to new bookings.

Callers already waiting when it takes effect keep their place, and the clinicians on duty still take them
(the queue's hours, or an admin closing it, still close them out): bookings made before a closure stay too,
and a caller who has waited is not turned away for a closure nobody told them of. Once the last is taken,
there is nobody to take until the closure ends.
"""

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Closure, WalkInQueue
from ..scheduling.timezones import format_local, zone
from .hours import next_opening, open_until


def closures_now(session: Session, department_ids: Collection[int], now: datetime) -> dict[int, Closure]:
    """The closure covering each of these departments at `now` (its own or the hospital's; of two, the one
    ending last), by department id; departments open now are left out. One query, through the closures'
    starts_at index."""
    found: dict[int, Closure] = {}
    if not department_ids:
        return found
    closures = session.scalars(
        select(Closure)
        .where(
            Closure.starts_at <= now,
            Closure.ends_at > now,
            Closure.covers(department_ids),
        )
        .order_by(Closure.ends_at)
    )
    for closure in closures:  # the one ending last comes last, and stays
        for department_id in department_ids if closure.department_id is None else [closure.department_id]:
            found[department_id] = closure
    return found


def closure_of(session: Session, queue: WalkInQueue, now: datetime) -> Closure | None:
    """The closure that closes the queue to new callers at `now`, if any."""
    return closures_now(session, [queue.department_id], now).get(queue.department_id)


def next_closure(session: Session, queue: WalkInQueue, now: datetime, before: datetime) -> Closure | None:
    """The first closure of the queue's department (or the hospital) beginning after `now` and before
    `before`: from its start the queue takes no new callers. Through the closures' starts_at index."""
    return session.scalars(
        select(Closure)
        .where(Closure.starts_at > now, Closure.starts_at < before, Closure.covers(queue.department_id))
        .order_by(Closure.starts_at)
        .limit(1)
    ).first()


def closed_words(queue: WalkInQueue, closure: Closure) -> str:
    """What a caller is told of the queue's closure: why, if its label says, and when the queue opens again
    (its hours' first opening from the closure's end)."""
    why = f" ({closure.label})" if closure.label else ""
    opens = closure.ends_at if open_until(queue, closure.ends_at) else next_opening(queue, closure.ends_at)
    when = f" It opens again {format_local(opens, zone(queue.time_zone))}." if opens else ""
    return f"This queue is closed{why} and takes no new callers.{when}"
