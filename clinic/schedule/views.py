"""The staff schedule's blueprint: staff only, the helpers its templates draw with, and the moment its
pages are drawn at. Its views join it from lists.py (a day, a week, the clashes, and their updates),
consultation.py (one consultation, and acting on it), booking_desk.py and walk_in.py."""

from flask import Blueprint, current_app

from ..auth.access import staff_only
from ..links import SCHEDULE_PREFIX
from ..models import utcnow
from ..scheduling.agenda import Moment
from ..scheduling.status import STAFF_MOVABLE
from ..scheduling.waiting_room import JoinWindow
from .cells import ClashNotes, ConsultationActions, DayRows, DetailsLinks, stalled_badge, status_badge

bp = Blueprint("schedule", __name__, url_prefix=SCHEDULE_PREFIX)
bp.add_app_template_global(status_badge)
bp.add_app_template_global(stalled_badge)
bp.add_app_template_global(ConsultationActions, "consultation_actions")
bp.add_app_template_global(DayRows, "day_rows")
bp.add_app_template_global(DetailsLinks, "details_links")
bp.add_app_template_global(ClashNotes, "clash_notes")
# What staff may move, for the pages that list bookings to move or cancel (cells.ClashNotes, the hours).
bp.add_app_template_global(STAFF_MOVABLE, "staff_movable")
staff_only(bp)


def page_moment() -> Moment:
    """Now, with the join window that the page judges times by."""
    return Moment(utcnow(), JoinWindow.from_config(current_app.config))
