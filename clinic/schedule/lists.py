"""The schedule's lists of a scope's consultations: a day (/schedule/), a week, the clashes staff must
move or cancel, and the day's and the week's changing parts drawn again for their pages' script."""

from collections.abc import Iterable
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, render_template, request
from flask.typing import ResponseReturnValue

from ..auth.access import DESK, background, current_staff, staff_required
from ..extensions import db
from ..form_errors import show_beside
from ..models import StaffRole, utcnow
from ..scheduling.agenda import Moment, Row, day_agenda, stranded, week_agenda
from ..scheduling.away import away_by_day
from ..scheduling.errors import NotFound
from ..scheduling.events import ListShown, record_list_read
from ..scheduling.timezones import zone
from ..scheduling.visibility import Scope, departments, schedule_scope
from ..staff.members import StaffMember
from ..staff.sessions import SessionRules
from ..walkin.duty import queues_on_duty
from ..walkin.send_back import stalled_calls
from . import forms, moving
from .nav import ScheduleLinks
from .views import bp, page_moment

# The day page's changing parts are polled every 15 seconds (schedule.js) by each open day page, whose load
# recorded the list they keep showing: a poll records it again only when its reader has no record of that
# list (scope and day) this recent. Recording each poll would take the audit's lock four times a minute per
# open screen; recording none would let a poll read a list that no page load recorded.
POLL_COVERED_FOR = timedelta(minutes=15)


@bp.get("/")
def day() -> ResponseReturnValue:
    staff = current_staff()
    query, scope, tz = _schedule(staff)
    live = _day_live(staff, scope, query, tz)
    page = render_template(
        "schedule/day.html",
        query=query,
        own_schedule=scope.is_own(staff),
        **live,
        **_around(live["agenda"].day, timedelta(days=1)),
        **_choices(staff, scope, query),
    )
    _record_shown(staff, "day", scope, live["agenda"].day, live["agenda"].shown)
    return page, 422 if query.errors else 200


@bp.get("/week")
def week() -> ResponseReturnValue:
    staff = current_staff()
    query, scope, tz = _schedule(staff)
    live = _week_live(staff, scope, query, tz)
    days = live["days"]
    page = render_template(
        "schedule/week.html",
        query=query,
        **live,
        **_around(days[0].day, timedelta(days=7)),
        **_choices(staff, scope, query),
    )
    _record_shown(staff, "week", scope, days[0].day, [row for day in days for row in day.rows])
    return page, 422 if query.errors else 200


@bp.get("/week/updates")
@background
def week_updates() -> ResponseReturnValue:
    """The week page's changing part (its days' consultations), drawn again for the page's script, as the
    day's are (`updates`): a call that stalls says so without a reload."""
    staff = current_staff()
    query, scope, tz = _schedule(staff)
    live = _week_live(staff, scope, query, tz)
    page = render_template("schedule/_week_live.html", **live, links=_links(staff, scope, query))
    days = live["days"]
    rows = [row for day in days for row in day.rows]
    _record_shown(staff, "week", scope, days[0].day, rows, again_after=POLL_COVERED_FOR)
    return page


@bp.get("/clashes")
def clashes() -> ResponseReturnValue:
    """The consultations still to come that cannot go ahead as booked (time off, a closure, hours changed),
    for staff to move or cancel: reception's list for their department, a clinician's for themselves."""
    staff = current_staff()
    query, scope, tz = _schedule(staff)
    rows = stranded(db.session, staff, scope, tz, page_moment())
    page = render_template(
        "schedule/clashes.html",
        query=query,
        scope=scope,
        zone=tz,
        rows=rows,
        days=moving.days_of_clashes(rows, tz, utcnow()) if staff.role in DESK else [],
        **_choices(staff, scope, query),
    )
    _record_shown(staff, "clashes", scope, None, rows)
    return page, 422 if query.errors else 200


@bp.get("/updates")
@background
def updates() -> ResponseReturnValue:
    """The day page's changing parts (who is waiting, the walk-in queues, the consultations), drawn again
    for the page's script to put in what changed: a new caller or booking shows without a reload."""
    staff = current_staff()
    query, scope, tz = _schedule(staff)
    live = _day_live(staff, scope, query, tz)
    page = render_template("schedule/_day_live.html", **live)
    agenda = live["agenda"]
    _record_shown(staff, "day", scope, agenda.day, agenda.shown, again_after=POLL_COVERED_FOR)
    return page


@bp.post("/clashes/move")
@staff_required(DESK)
def move_clashes() -> ResponseReturnValue:
    """Move all of one clinician's clashing bookings on one day to the first colleague free at each time:
    the desk's (reception, admins), whose page offers it; a clinician moves their bookings one at a time."""
    staff = current_staff()
    _, scope, tz = _schedule(staff)
    return moving.move_day(staff, stranded(db.session, staff, scope, tz, page_moment()), tz)


def _schedule(staff: StaffMember) -> tuple[forms.ScheduleQuery, Scope, ZoneInfo]:
    query = forms.ScheduleQuery(request.args)
    query.validate()
    try:
        scope = schedule_scope(db.session, staff, query.department.data, query.clinician.data)
    except NotFound as elsewhere:
        if elsewhere.field != "clinician":
            raise
        # An admin's filter sends the clinician chosen before along with a department newly chosen: show
        # that department, with why beside the clinician, where another may be chosen.
        show_beside(query.clinician, str(elsewhere))
        query.clinician.data = None
        scope = schedule_scope(db.session, staff, query.department.data)
    return query, scope, zone(scope.zone_name or current_app.config["DEFAULT_TIME_ZONE"])


def _choices(staff: StaffMember, scope: Scope, query: forms.ScheduleQuery) -> dict:
    """What the page offers to switch to (departments for admins, the department's clinicians), and the
    links to other days and views of the same schedule."""
    clinicians = scope.department.clinicians if scope.department and not staff.is_clinician else []
    return {
        "departments": departments(db.session, staff),
        "clinicians": clinicians,
        "links": _links(staff, scope, query),
    }


def _links(staff: StaffMember, scope: Scope, query: forms.ScheduleQuery) -> ScheduleLinks:
    """Links that keep the department (an admin's choice) and the clinician the page shows."""
    chosen = scope.department.id if staff.role is StaffRole.ADMIN and scope.department else None
    return ScheduleLinks(chosen, query.clinician.data)


def _day_live(staff: StaffMember, scope: Scope, query: forms.ScheduleQuery, tz: ZoneInfo) -> dict:
    """What the day's changing parts show (schedule/_day_live.html), the same in the page and in its
    updates: `stalled`, the day's walk-in calls whose clinician vanished (walkin.send_back); `back`, where
    an action on a row returns to, is the day's own address."""
    shown, moment = query.chosen_day(_today(tz)), page_moment()
    agenda = day_agenda(db.session, staff, scope, shown, tz, moment)
    rules = SessionRules.from_config(current_app.config)
    return {
        "scope": scope,
        "agenda": agenda,
        "stalled": _stalled(staff, agenda.rows, moment),
        "away": away_by_day(db.session, scope, [shown], tz)[shown],
        "moment": moment,
        "walk_ins": queues_on_duty(db.session, staff, moment.instant, rules),
        "back": _links(staff, scope, query)("day", shown),
    }


def _week_live(staff: StaffMember, scope: Scope, query: forms.ScheduleQuery, tz: ZoneInfo) -> dict:
    """What the week's changing part shows (schedule/_week_live.html), the same in the page and in its
    updates; `back`, where a consultation's page opened from it returns to, is the week's own address."""
    moment = page_moment()
    days = week_agenda(db.session, staff, scope, query.chosen_day(_today(tz)), tz, moment)
    return {
        "scope": scope,
        "days": days,
        "stalled": _stalled(staff, [row for agenda in days for row in agenda.rows], moment),
        "away": away_by_day(db.session, scope, [agenda.day for agenda in days], tz),
        "back": _links(staff, scope, query)("week", days[0].day),
    }


def _stalled(staff: StaffMember, rows: Iterable[Row], moment: Moment) -> dict[int, bool]:
    """Which of the listed calls (a day's or a week's) have stalled, each with whether `staff` may send its
    caller back (walkin.send_back.stalled_calls): one statement, none if no call is in progress."""
    rules = SessionRules.from_config(current_app.config)
    listed = (row.consultation for row in rows)
    return stalled_calls(db.session, listed, staff, now=moment.instant, rules=rules)


def _record_shown(
    staff: StaffMember,
    page: str,
    scope: Scope,
    day: date | None,
    rows: Iterable[Row],
    again_after: timedelta | None = None,
) -> None:
    """Audit the list of consultations `page` showed `staff` (see `record_list_read`). Called once the page
    is drawn: the audit's commit expires the entities it draws, which it would otherwise load again."""
    department = scope.department.id if scope.department else None
    shown = ListShown(page, department, scope.clinician.id if scope.clinician else None, day)
    ids = [row.consultation.id for row in rows]
    record_list_read(db.session, shown, ids, utcnow(), staff.actor, again_after=again_after)


def _around(shown: date, step: timedelta) -> dict[str, date]:
    return {"previous": shown - step, "next": shown + step}


def _today(tz: ZoneInfo) -> date:
    return utcnow().astimezone(tz).date()
