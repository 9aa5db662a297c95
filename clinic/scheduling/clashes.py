"""Consultations stranded by a change to their clinician's time: booked, still to come, and now in the
clinician's time off, in a clinic closure, or outside their weekly hours; and those whose end passed in the
clinician's time off or a closure with nobody acting on them, which are never the patient's no-show.

Nothing here moves or cancels them, and the patient is not told: which to do is for staff, and every staff
page that shows such a consultation says why it cannot go ahead as booked, with the way to move or cancel
it. Whoever does tells the patient, as any move or cancellation does.
"""

import enum
from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import ConsultationFacts, ConsultationStatus, WalkInEntry
from .calendar_texts import Span
from .calendars import Absences, absences
from .slots import open_time
from .status import allowed_next

_BOOKED = ConsultationStatus.BOOKED
# A consultation still waiting for its clinician, which staff may still cancel (and move, if booked).
WAITING = frozenset(s for s in ConsultationStatus if ConsultationStatus.CANCELLED in allowed_next(s))


class Clash(enum.Enum):
    """Why a consultation cannot go ahead as booked, the first that holds in this order."""

    TIME_OFF = "time off"
    CLOSURE = "closure"
    OUTSIDE_HOURS = "outside hours"


# The clashes in which nobody will be there to take the call: the clinic's absence, never the patient's.
# Their reminders wait (jobs.effects); past their end they stay booked for staff to move or cancel, never
# marked no-show (lifecycle.mark_no_shows), where any other clash of a consultation that is over is none.
ABSENT = frozenset({Clash.TIME_OFF, Clash.CLOSURE})


class Identified(ConsultationFacts, Protocol):
    @property
    def id(self) -> int: ...


def clashes_of(session: Session, consultations: Sequence[Identified], now: datetime) -> dict[int, Clash]:
    """The clash of each consultation of `consultations` that has one, by id; in one query, and none for a
    list with no consultation still waiting for its clinician (or booked, past its end: see ABSENT)."""
    waiting = [c for c in consultations if c.status in WAITING and (c.ends_at > now or c.status is _BOOKED)]
    if not waiting:
        return {}
    start, end = min(c.starts_at for c in waiting), max(c.ends_at for c in waiting)
    lower, upper = int(start.timestamp()), int(end.timestamp())
    found = {
        clinician_id: ClinicianClashes(absent, lower, upper)
        for clinician_id, absent in absences(session, {c.clinician_id for c in waiting}, start, end).items()
    }
    stranded = {}
    for c in waiting:
        clash = found[c.clinician_id](c.starts_at, c.ends_at) if c.clinician_id in found else None
        if clash in ABSENT or (clash is not None and c.ends_at > now):
            stranded[c.id] = clash
    if stranded:  # rarely: a walk-in call's clinician took it, hours or not, and its queue ends it
        walk_ins = select(WalkInEntry.consultation_id).where(WalkInEntry.consultation_id.in_(list(stranded)))
        for consultation_id in session.scalars(walk_ins):
            del stranded[consultation_id]
    return stranded


class ClinicianClashes:
    """The clash of any consultation of one clinician within [lower, upper) (Unix seconds), from their
    Absences: their working time there is worked out once, and each consultation looked up in it."""

    def __init__(self, absent: Absences, lower: int, upper: int) -> None:
        self._off, self._closed = absent.calendar.time_off, absent.closed
        # Weekly hours less time off, periods that meet merged: the clinician works all through each span.
        working = open_time(absent.calendar, lower, upper)
        self._starts, self._ends = [start for start, _ in working], [end for _, end in working]

    def __call__(self, start: datetime, end: datetime) -> Clash | None:
        """Why [start, end) no longer fits the clinician's time, or None if it does."""
        begin, finish = int(start.timestamp()), int(end.timestamp())
        if self._off and _meets(self._off, begin, finish):  # mostly none: no call for each row then
            return Clash.TIME_OFF
        if self._closed and _meets(self._closed, begin, finish):
            return Clash.CLOSURE
        span = bisect_right(self._starts, begin) - 1  # the working span it begins in, if any
        return None if span >= 0 and finish <= self._ends[span] else Clash.OUTSIDE_HOURS


def clinic_absent(session: Session, consultation: Identified, now: datetime) -> bool:
    """Whether nobody will be, or was, there to take the consultation (its clash is ABSENT)."""
    return clashes_of(session, [consultation], now).get(consultation.id) in ABSENT


def _meets(spans: Sequence[Span], begin: int, finish: int) -> bool:
    return any(a < finish and begin < b for a, b in spans)
