"""Taking the next walk-in caller from the schedule: the call becomes a consultation, whose page has the
host link."""

from flask import flash, redirect, url_for
from flask.typing import ResponseReturnValue

from ..auth.access import current_staff
from ..extensions import db
from ..models import utcnow
from ..walkin.errors import NobodyWaiting, TakeRefused
from ..walkin.take import take_next
from .views import bp


@bp.post("/walk-in/<id:queue_id>/take")
def take_next_caller(queue_id: int) -> ResponseReturnValue:
    try:
        taken = take_next(db.session, queue_id, current_staff(), now=utcnow())
    except (NobodyWaiting, TakeRefused) as refused:
        flash(str(refused))
        return redirect(url_for(".day"), 303)
    flash(
        f"You took {taken.entry.name} from the queue. Start the call below: their page shows them a join "
        "button now."
    )
    return redirect(url_for(".consultation", consultation_id=taken.consultation.id), 303)
