"""The staff schedule: a day and a week of consultations, one consultation, and acting on it."""

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import segno
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..auth.access import background, current_staff, staff_only
from ..auth.sessions import local_path
from ..errors import refusal_page, status_for
from ..extensions import db
from ..links import manage_address
from ..models import Consultation, StaffRole, utcnow
from ..scheduling.agenda import (
    Moment,
    Row,
    Scope,
    consultation_for_staff,
    consultation_row,
    day_agenda,
    departments,
    schedule_scope,
    stranded,
    week_agenda,
)
from ..scheduling.away import away_by_day
from ..scheduling.clashes import ABSENT
from ..scheduling.companions import Removal
from ..scheduling.consulting import check_status_change, set_status, start_call
from ..scheduling.errors import BookingError, NotFound
from ..scheduling.events import ListShown, history, record_list_read, record_read
from ..scheduling.front_desk import cancel_for_patient, invite_companion, uninvite_companion
from ..scheduling.lifecycle import Change, check_change, has_letter, missed_in_absence, staff_changes
from ..scheduling.status import STAFF_MOVABLE, STATUS_LABELS
from ..scheduling.timezones import zone
from ..scheduling.tokens import LinkKeys, letter_code, manage_link
from ..scheduling.waiting_room import JoinWindow
from ..staff.accounts import actor_names
from ..staff.members import StaffMember
from ..staff.sessions import SessionRules
from ..walkin.duty import queues_on_duty
from ..walkin.send_back import stalled_calls
from . import booking_desk, forms, moving
from .cells import ClashNotes, ConsultationActions, DayRows, DetailsLinks, stalled_badge, status_badge
from .moving import told
from .nav import ScheduleLinks

bp = Blueprint("schedule", __name__, url_prefix="/schedule")
bp.add_app_template_global(status_badge)
bp.add_app_template_global(stalled_badge)
bp.add_app_template_global(ConsultationActions, "consultation_actions")
bp.add_app_template_global(DayRows, "day_rows")
bp.add_app_template_global(DetailsLinks, "details_links")
bp.add_app_template_global(ClashNotes, "clash_notes")
# What staff may move, for the pages that list bookings to move or cancel (cells.ClashNotes, the hours).
bp.add_app_template_global(STAFF_MOVABLE, "staff_movable")
staff_only(bp)

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
    _record_shown(staff, "day", scope, live["agenda"].day, live["agenda"].rows)
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
    rows = stranded(db.session, staff, scope, tz, _moment())
    page = render_template(
        "schedule/clashes.html",
        query=query,
        scope=scope,
        zone=tz,
        rows=rows,
        days=moving.days_of_clashes(rows, tz, utcnow()) if not staff.is_clinician else [],
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
    _record_shown(staff, "day", scope, agenda.day, agenda.rows, again_after=POLL_COVERED_FOR)
    return page


@bp.get("/consultations/<id:consultation_id>")
def consultation(consultation_id: int) -> ResponseReturnValue:
    return _consultation_page(consultation_id)


@bp.post("/consultations/<id:consultation_id>/status")
def change_status(consultation_id: int) -> ResponseReturnValue:
    form = forms.StatusForm()
    if not form.validate():
        return _consultation_page(consultation_id, status_form=form), 422
    moment = _moment()
    if form.needs_asking():
        return _ask_first(consultation_id, form, moment)
    changed = set_status(
        db.session, current_staff(), consultation_id, form.chosen(), now=moment.instant, window=moment.window
    )
    flash(f"{changed.patient.name}: {STATUS_LABELS[changed.status].lower()}.")
    return redirect(local_path(form.next.data) or url_for(".consultation", consultation_id=changed.id), 303)


def _ask_first(consultation_id: int, form: forms.StatusForm, moment: Moment) -> ResponseReturnValue:
    """The question before a change a slip would make for good (a no-show), if the change may be made."""
    staff, found = current_staff(), _read(consultation_id, "staff status question", moment.instant)
    check_status_change(staff, found, form.chosen(), now=moment.instant, window=moment.window)
    back = local_path(form.next.data) or url_for(".consultation", consultation_id=found.id)
    return render_template("schedule/ask_noshow.html", consultation=found, form=form, back=back)


@bp.post("/consultations/<id:consultation_id>/start")
def start(consultation_id: int) -> ResponseReturnValue:
    moment = _moment()
    link = start_call(db.session, current_staff(), consultation_id, now=moment.instant, window=moment.window)
    return redirect(link, 303)


@bp.post("/consultations/<id:consultation_id>/cancel")
def cancel(consultation_id: int) -> ResponseReturnValue:
    form = forms.StaffCancelForm()
    if not form.validate():
        return _consultation_page(consultation_id, cancel_form=form), 422
    cancelled = cancel_for_patient(
        db.session, current_staff(), consultation_id, now=utcnow(), reason=form.reason.data
    )
    flash(told(cancelled, "is cancelled"))
    return redirect(url_for(".consultation", consultation_id=cancelled.id), 303)


@bp.post("/consultations/<id:consultation_id>/companion")
def invite(consultation_id: int) -> ResponseReturnValue:
    form = forms.CompanionForm()
    details = form.checked()
    if details is None:
        return _consultation_page(consultation_id, companion_form=form), 422
    keys = LinkKeys.from_config(current_app.config)
    invite_companion(db.session, current_staff(), consultation_id, details, now=utcnow(), keys=keys)
    flash(f"{details.name} is invited: they get their own invitation and video link by e-mail.")
    return redirect(url_for(".consultation", consultation_id=consultation_id), 303)


@bp.post("/consultations/<id:consultation_id>/companion/remove")
def uninvite(consultation_id: int) -> ResponseReturnValue:
    removal = uninvite_companion(db.session, current_staff(), consultation_id, now=utcnow())
    flash(_uninvited(removal))
    return redirect(url_for(".consultation", consultation_id=consultation_id), 303)


def _uninvited(removal: Removal) -> str:
    told = f"{removal.companion.name} is no longer invited; their link has stopped working."
    if not removal.new_room:
        return told
    if removal.patient_mailed:
        return (
            f"{told} The call has a new video room: the patient is sent an updated invitation with its link."
        )
    return f"{told} The call has a new video room: the patient's page takes them to it."


@bp.post("/clashes/move")
def move_clashes() -> ResponseReturnValue:
    """Move all of one clinician's clashing bookings on one day to the first colleague free at each time."""
    staff = current_staff()
    _, scope, tz = _schedule(staff)
    return moving.move_day(staff, stranded(db.session, staff, scope, tz, _moment()), tz)


@bp.get("/consultations/<id:consultation_id>/move")
def choose_new_time(consultation_id: int) -> ResponseReturnValue:
    found, now = _read(consultation_id, "staff move page"), utcnow()
    check_change(found, Change.MOVE, now, absent=missed_in_absence(db.session, found, now))
    return moving.choose_page(current_staff(), found)


@bp.post("/consultations/<id:consultation_id>/move")
def move(consultation_id: int) -> ResponseReturnValue:
    return moving.move(current_staff(), consultation_id)


@bp.route("/book", methods=["GET", "POST"])
def book() -> ResponseReturnValue:
    return booking_desk.book_page(current_staff())


@bp.get("/consultations/<id:consultation_id>/letter")
def letter(consultation_id: int) -> ResponseReturnValue:
    """A printable confirmation, or notice of the cancellation, for a patient without e-mail (or one who
    wants it on paper)."""
    found = _read(consultation_id, "staff letter")
    if not has_letter(found):
        raise NotFound(
            "A letter is printed for a booked or a cancelled consultation only, never a walk-in call."
        )
    config = current_app.config
    keys = LinkKeys.from_config(config)
    link = manage_link(found, base_url=config["PUBLIC_BASE_URL"], keys=keys)
    return render_template(
        "schedule/letter.html",
        consultation=found,
        address=manage_address(config["PUBLIC_BASE_URL"], found.reference),
        code=letter_code(keys, found),
        link_square=segno.make(link, error="m").svg_data_uri(scale=4, border=2),
    )


def _schedule(staff: StaffMember) -> tuple[forms.ScheduleQuery, Scope, ZoneInfo]:
    query = forms.ScheduleQuery(request.args)
    query.validate()
    scope = schedule_scope(db.session, staff, query.department.data, query.clinician.data)
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
    shown, moment = query.chosen_day(_today(tz)), _moment()
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
    moment = _moment()
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


def _moment() -> Moment:
    return Moment(utcnow(), JoinWindow.from_config(current_app.config))


def _today(tz: ZoneInfo) -> date:
    return utcnow().astimezone(tz).date()


@bp.errorhandler(BookingError)
def refused_here(error: BookingError) -> ResponseReturnValue:
    """A staff action on a consultation refused (too early, or the consultation changed meanwhile): its
    page again with the refusal at the top, where the next step is, rather than a page leading nowhere."""
    consultation_id = (request.view_args or {}).get("consultation_id")
    if request.method != "POST" or consultation_id is None or isinstance(error, NotFound):
        return refusal_page(error)
    db.session.rollback()  # whatever the refused action began
    try:
        return _consultation_page(consultation_id, refusal=str(error)), status_for(error)
    except NotFound:  # no longer theirs to see
        return refusal_page(error)


def _consultation_page(
    consultation_id: int,
    *,
    refusal: str | None = None,
    status_form: forms.StatusForm | None = None,
    cancel_form: forms.StaffCancelForm | None = None,
    companion_form: forms.CompanionForm | None = None,
) -> ResponseReturnValue:
    staff, moment = current_staff(), _moment()
    found = _read(consultation_id, "staff consultation page", moment.instant)
    # A clinician reads their own consultations in their zone; everyone else in the hospital's.
    own = staff.is_clinician_of(found)
    tz = zone(found.clinician.time_zone if own else current_app.config["DEFAULT_TIME_ZONE"])
    day = found.starts_at.astimezone(tz).date()
    row = consultation_row(db.session, staff, found, day, moment)
    changes = history(db.session, found)
    # The schedule page it was opened from (cells.DetailsLinks), if a path on this site; else its day.
    opened_from = local_path(request.args.get("next"))
    here = url_for(".consultation", consultation_id=found.id, next=opened_from)
    return render_template(
        "schedule/consultation.html",
        consultation=found,
        row=row,
        back=opened_from or url_for(".day", date=day.isoformat()),
        here=here,
        zone=tz,
        history=changes,
        who=actor_names(db.session, {line.actor for line in changes}),
        status_form=status_form or forms.StatusForm(formdata=None),
        cancel_form=cancel_form or forms.StaffCancelForm(formdata=None),
        companion_form=companion_form or forms.CompanionForm(formdata=None),
        moment=moment,
        changes=staff_changes(found, moment.instant, absent=row.clash in ABSENT),
        letter=has_letter(found),
        refusal=refusal,
    )


def _read(consultation_id: int, view: str, now: datetime | None = None) -> Consultation:
    """The consultation, its reading on `view` audited: each page showing a patient's details is."""
    staff = current_staff()
    found = consultation_for_staff(db.session, staff, consultation_id)
    record_read(db.session, found, view, now or utcnow(), staff.actor)
    return found
