"""What staff see of consultations: a day's and a week's list, the bookings to move, one consultation's
row, each with what the viewer may do with it. Whose consultations they are is visibility's; reading
them, listing's."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ..hospital.service_settings import LIMITS
from ..models import Consultation, ConsultationStatus
from ..staff.members import StaffMember
from .calendars import MAX_BLOCK
from .clashes import ABSENT, Clash, clashes_of
from .listing import Listed, listed_between
from .patients import age_on
from .status import allowed_next
from .timezones import day_bounds
from .visibility import Scope
from .waiting_room import JoinWindow, in_time_for

S = ConsultationStatus
# Only the clinician who holds the call starts and finishes it; anyone who sees it may do the rest.
CLINICIANS_OWN = frozenset({S.IN_PROGRESS, S.FULFILLED})
# Later than any booking: the end of a listing of every consultation still to come; and earlier than any.
_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
_START_OF_TIME = datetime(1970, 1, 1, tzinfo=UTC)
# The longest a consultation lasts (a service's longest duration; a walk-in call is its service's length):
# how long before now one still under way, or whose room is still open, may have started.
_LONGEST = timedelta(minutes=LIMITS["duration_minutes"][1])


@dataclass(frozen=True)
class Moment:
    """The moment a page is drawn at, and the join window that times are judged by."""

    instant: datetime
    window: JoinWindow


class Row(NamedTuple):
    """One consultation on a schedule, with what the viewer may do with it (a tuple, as Listed is)."""

    consultation: Listed
    age: int | None  # None for a walk-in caller, whose date of birth is not asked, and once anonymised
    actions: frozenset[ConsultationStatus]
    own: bool  # the viewer is its clinician: they hold the call and see the reason for the visit
    may_start: bool  # the viewer holds the call and it may still be started or rejoined
    clash: Clash | None = None  # why it cannot go ahead as booked: staff must move or cancel it

    @property
    def waiting(self) -> bool:
        return self.consultation.status is S.ARRIVED


@dataclass(frozen=True)
class DayAgenda:
    day: date
    zone: ZoneInfo
    rows: list[Row]
    moment: Moment
    # On the day holding the moment, the consultations of the day before or after whose room is open at
    # it (a call running past midnight, one soon after it): who waits for them waits now.
    beside: list[Row] = field(default_factory=list)

    @property
    def waiting(self) -> list[Row]:
        return [row for row in self._now_and_today if row.waiting]

    @property
    def shown(self) -> list[Row]:
        """The rows whose patients the page may name: the day's, and those beside it (`beside`), which it
        names when they are waiting or next: the list read the page records."""
        return self.rows + self.beside

    @property
    def _now_and_today(self) -> list[Row]:
        if not self.beside:
            return self.rows
        return sorted(self.beside + self.rows, key=lambda row: row.consultation.starts_at)

    @property
    def next_up(self) -> Row | None:
        """The first consultation still to be seen whose call may still start: who is next, on a clinician's
        own day as on a department's. One left booked past its room's closing (housekeeping marks it a
        no-show only later, and never one in time off), whose patient waited in vain, or whose clinician
        will be away then (time off, a closure: clashes.ABSENT), is not."""
        return next(
            (
                row
                for row in self._now_and_today
                if row.consultation.status in (S.BOOKED, S.ARRIVED)
                and row.clash not in ABSENT
                and self.moment.instant <= self.moment.window.closes_at(row.consultation)
            ),
            None,
        )


def day_agenda(
    session: Session, viewer: StaffMember, scope: Scope, day: date, tz: ZoneInfo, moment: Moment
) -> DayAgenda:
    """The consultations of `scope` starting on `day` in `tz`, in time order, cancelled ones included; on the
    day holding `moment`, with those of the days around it whose room is open then (DayAgenda.beside)."""
    start, end = day_bounds(day, tz)
    now, window = moment.instant, moment.window
    lo, hi = start, end
    if start <= now < end:  # today: also the calls of the day before and after whose room is open now
        lo, hi = min(start, now - _LONGEST - window.after_end), max(end, now + window.before_start)
    rows = _rows(session, viewer, listed_between(session, viewer, scope, lo, hi), tz, moment)
    on_day = [row for row in rows if start <= row.consultation.starts_at < end]
    beside = [
        row
        for row in rows
        if not start <= row.consultation.starts_at < end
        and row.consultation.status in (S.BOOKED, S.ARRIVED, S.IN_PROGRESS)
        and window.is_open(row.consultation, now)
    ]
    return DayAgenda(day, tz, on_day, moment, beside)


def week_agenda(
    session: Session, viewer: StaffMember, scope: Scope, day: date, tz: ZoneInfo, moment: Moment
) -> list[DayAgenda]:
    """Monday to Sunday of the week holding `day`, one DayAgenda per day."""
    monday = day - timedelta(days=day.weekday())
    days = [monday + timedelta(days=n) for n in range(7)]
    start, end = day_bounds(days[0], tz)[0], day_bounds(days[-1], tz)[1]
    by_day: dict[date, list[Row]] = {d: [] for d in days}
    for row in _rows(session, viewer, listed_between(session, viewer, scope, start, end), tz, moment):
        by_day[row.consultation.starts_at.astimezone(tz).date()].append(row)
    return [DayAgenda(d, tz, rows, moment) for d, rows in by_day.items()]


def stranded(session: Session, viewer: StaffMember, scope: Scope, tz: ZoneInfo, moment: Moment) -> list[Row]:
    """The consultations of `scope` still to come that cannot go ahead as booked (see scheduling.clashes),
    and those past that are still booked as their clinician was away, in time order: those staff must
    move or cancel."""
    since = moment.instant - MAX_BLOCK
    left_booked = listed_between(session, viewer, scope, _START_OF_TIME, since, booked_only=True)
    coming = listed_between(session, viewer, scope, since, _END_OF_TIME)
    return [row for row in _rows(session, viewer, left_booked + coming, tz, moment) if row.clash]


def consultation_row(
    session: Session, viewer: StaffMember, consultation: Consultation, day: date, moment: Moment
) -> Row:
    """`row_for` a consultation loaded with its people, its clash looked up."""
    listed = Listed.of(consultation)
    return row_for(viewer, listed, day, moment, clashes_of(session, [listed], moment.instant).get(listed.id))


def _rows(
    session: Session, viewer: StaffMember, found: list[Listed], tz: ZoneInfo, moment: Moment
) -> list[Row]:
    """`row_for` each consultation of `found` on its day in `tz`, the clashes among them looked up at once."""
    clashes = clashes_of(session, found, moment.instant)
    return [row_for(viewer, c, c.starts_at.astimezone(tz).date(), moment, clashes.get(c.id)) for c in found]


def row_for(
    viewer: StaffMember, consultation: Listed, day: date, moment: Moment, clash: Clash | None = None
) -> Row:
    """What `viewer` sees of one consultation on `day`, and the status changes open to them now; `clash`:
    why it cannot go ahead as booked, if it cannot."""
    own_call = viewer.is_clinician_of(consultation)
    actions = allowed_next(consultation.status) - {S.CANCELLED, S.IN_PROGRESS}
    if not own_call:
        actions -= CLINICIANS_OWN
    if clash in ABSENT:  # nobody was there to see the patient: never their no-show (consulting)
        actions -= {S.NOSHOW}
    actions = frozenset(a for a in actions if in_time_for(a, consultation, moment.instant, moment.window))
    may_start = own_call and consultation.status in (S.BOOKED, S.ARRIVED, S.IN_PROGRESS)
    age = age_on(consultation.birth_date, day)
    return Row(consultation, age, actions, own_call, may_start, clash)
