"""Walk-in calls from the schedule: taking the next caller (the call becomes a consultation, whose page has
the host link), and sending a called caller back to the queue from their call's page."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..auth.access import current_staff
from ..auth.sessions import local_path
from ..booking.calendar import twelve_hour_reader
from ..extensions import db
from ..models import Consultation, EntryStatus, utcnow
from ..scheduling.timezones import clock_label
from ..staff.sessions import SessionRules
from ..walkin.errors import NobodyWaiting, TakeRefused
from ..walkin.send_back import WalkInCall, send_back_for_staff, walk_in_call
from ..walkin.take import take_next
from .views import bp


@bp.post("/walk-in/<id:queue_id>/take")
def take_next_caller(queue_id: int) -> ResponseReturnValue:
    """On to the call's page, which returns to the schedule page "Take next" was pressed on (`next`, if a
    path on this site, as a schedule page's links to a consultation carry it); a refusal back to that page, or
    to the call's page when the clinician's own walk-in call is still open (a double click's second post)."""
    opened_from = local_path(request.form.get("next"))
    try:
        taken = take_next(db.session, queue_id, current_staff(), now=utcnow())
    except (NobodyWaiting, TakeRefused) as refused:
        flash(str(refused))
        if isinstance(refused, TakeRefused) and refused.open_call is not None:
            return redirect(
                url_for(".consultation", consultation_id=refused.open_call, next=opened_from), 303
            )
        return redirect(opened_from or url_for(".day"), 303)
    flash(
        f"You took {taken.entry.name} from the queue. Start the call below: their page shows them a join "
        "button now."
    )
    return redirect(url_for(".consultation", consultation_id=taken.consultation.id, next=opened_from), 303)


@bp.post("/consultations/<id:consultation_id>/send-back")
def send_back_caller(consultation_id: int) -> ResponseReturnValue:
    """A refusal comes back on the call's page (consultation.refused_here); done, back to the schedule page
    it was sent from (`next`, the day or week and whose, if a path on this site: a day's row, or the call's
    page opened from one), else the day, from where the next clinician to press "Take next" calls them."""
    rules = SessionRules.from_config(current_app.config)
    entry = send_back_for_staff(db.session, consultation_id, current_staff(), now=utcnow(), rules=rules)
    if entry.status is EntryStatus.DROPPED:
        flash(f"{entry.name} did not join when called twice, so they are no longer in the queue.")
    else:
        flash(f"{entry.name} is back at the front of the queue: the next to press “Take next” calls them.")
    return redirect(local_path(request.form.get("next")) or url_for(".day"), 303)


@bp.app_template_global()
def walk_in_call_of(consultation: Consultation) -> WalkInCall | None:
    """How a walk-in call stands for the signed-in staff member (its page's notice); None for a booking."""
    entry = consultation.walk_in_entry
    if entry is None:
        return None
    config = current_app.config
    return walk_in_call(
        db.session,
        entry,
        consultation,
        current_staff(),
        now=utcnow(),
        answer_within=timedelta(minutes=config["WALK_IN_ANSWER_MINUTES"]),
        rules=SessionRules.from_config(config),
    )


@bp.app_template_filter()
def clock_in(instant: datetime, tz: ZoneInfo, twelve_hour: bool | None = None) -> str:
    """The instant's wall-clock time in `tz` (see clock_label), on the reader's clock (14:30, or 2:30 pm)
    unless `twelve_hour` says which."""
    return clock_label(instant, tz, twelve_hour_reader() if twelve_hour is None else twelve_hour)
