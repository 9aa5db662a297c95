"""The waiting rooms: the patient's (the manage link's page: check in, join, change or cancel) and a
companion's (join only). Each opens with its own kind of token and nothing else."""

from datetime import datetime, timedelta

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..errors import drawn_again_when_expired, refusal_page, status_for
from ..extensions import db
from ..links import COMPANION_PATH, MANAGE_PATH
from ..models import Consultation, utcnow
from ..notify.notices import first_name
from ..scheduling import waiting_room
from ..scheduling.events import record_read
from ..scheduling.lifecycle import change_deadline, keeps_clinician
from ..scheduling.waiting_room import RoomClosed, check_in, join_url, room
from .access import LinkClosed, companion_actor, invited, join_window, managed, patient_actor
from .arrival import arriving, entered, entered_again
from .countdown import duration_words
from .link_tokens import COMPANION, MANAGE
from .views import bp

bp.add_app_template_filter(duration_words)

# A countdown asks for its room's state every minute (waiting_room.js) while its page is open, which may be
# for days; the page's load recorded the read. A poll records it again only when no read of the booking by
# its reader (the patient, or a companion) is recorded this recent, as the staff pages' polls do
# (schedule.lists): one a minute per open page would flood the audit trail, none would let a poll read a
# booking that no page load recorded.
STATUS_COVERED_FOR = timedelta(minutes=15)
# Sent by room_fetch.js with the room's page asked for again by waiting_room.js (every 30 seconds while the
# room is open): recorded as a poll is, not as a page loaded. A page loaded or reloaded by its reader is.
REFRESH_HEADER = "X-Room-Refresh"


def _again_after() -> timedelta | None:
    """How recent a read of the room's page by this reader covers this one: a poll's, for its script's
    refresh; none for a page loaded."""
    return STATUS_COVERED_FOR if REFRESH_HEADER in request.headers else None


@bp.get(MANAGE_PATH)
def manage(reference: str) -> ResponseReturnValue:
    if landing := arriving(reference, MANAGE, managed, ".manage", "booking"):
        return landing
    return _manage_page(managed(reference))


def _manage_page(consultation: Consultation) -> str:
    now = utcnow()
    record_read(db.session, consultation, "manage page", now, patient_actor(), again_after=_again_after())
    return render_template(
        "booking/manage.html",
        consultation=consultation,
        deadline=change_deadline(consultation),
        keeps_clinician=keeps_clinician(db.session, consultation),
        now=now,
        room=room(consultation, now, join_window()),
    )


@bp.get(f"{MANAGE_PATH}/status")
def patient_room_status(reference: str) -> ResponseReturnValue:
    """The room's phase and start, for the countdown to notice a move or a cancellation. It opens with this
    browser's pass only, never a link's token: its count is apart from the links' (clinic.limits). Without
    the pass it is 404, as for any booking it does not open, which waiting_room.js reads as the pass gone."""
    try:
        consultation, now = managed(reference), utcnow()
    except LinkClosed as closed:
        return refusal_page(closed)  # not led to the link's form (link_closed): a script asks
    record_read(
        db.session, consultation, "waiting room", now, patient_actor(), again_after=STATUS_COVERED_FOR
    )
    return _room_status(consultation, now)


@bp.post(MANAGE_PATH)
@drawn_again_when_expired(entered_again(MANAGE, "booking"))
def open_booking(reference: str) -> ResponseReturnValue:
    return entered(reference, MANAGE, managed, ".manage", "booking")


# Said on the room drawn again for an "I'm here" sent from a page that expired (see _check_in_again); and
# how to check in, while the room still takes it (moved or cancelled meanwhile, it may not).
CHECK_IN_EXPIRED = "This page was open for too long and has expired, so you are not checked in."
CHECK_IN_AGAIN = 'Press "I\'m here" again to let your clinician know you are waiting.'


def _check_in_again(reference: str) -> ResponseReturnValue:
    """The room again for an "I'm here" whose token expired, checking in nothing; without the booking's pass
    (the session forgotten as idle), LinkClosed leads to the link's form (views.link_closed)."""
    consultation = managed(reference)
    again = room(consultation, utcnow(), join_window()).can_check_in
    flash(f"{CHECK_IN_EXPIRED} {CHECK_IN_AGAIN}" if again else CHECK_IN_EXPIRED, "Error: Not checked in")
    return _manage_page(consultation)


@bp.post(f"{MANAGE_PATH}/check-in")
@drawn_again_when_expired(_check_in_again)
def check_in_patient(reference: str) -> ResponseReturnValue:
    consultation = managed(reference)
    check_in(db.session, consultation.id, now=utcnow(), actor=patient_actor(), window=join_window())
    # Said in the title and focused (base.html): the page's own "knows you are here" is there at load, unread.
    flash("Thank you: you are checked in.", "Checked in")
    return redirect(url_for(".manage", reference=consultation.reference), 303)


@bp.get(f"{MANAGE_PATH}/join")
def join_as_patient(reference: str) -> ResponseReturnValue:
    consultation = managed(reference)
    url = waiting_room.join_as_patient(
        db.session, consultation, now=utcnow(), actor=patient_actor(), window=join_window()
    )
    return redirect(url, 303)


@bp.get(COMPANION_PATH)
def companion_room(reference: str) -> ResponseReturnValue:
    if landing := arriving(reference, COMPANION, invited, ".companion_room", "invitation"):
        return landing
    companion, now = invited(reference), utcnow()
    consultation = companion.consultation
    # The patient's first name and the time, shown to someone else: a read of the patient's data.
    record_read(
        db.session,
        consultation,
        "companion room",
        now,
        companion_actor(),
        again_after=_again_after(),
        companion_id=companion.id,
    )
    return render_template(
        "booking/companion_room.html",
        companion=companion,
        consultation=consultation,
        patient=first_name(consultation.patient.name),
        now=now,
        room=room(consultation, now, join_window()),
        hospital=current_app.config["HOSPITAL_NAME"],
    )


@bp.get(f"{COMPANION_PATH}/status")
def companion_room_status(reference: str) -> ResponseReturnValue:
    """The patient's room status, for a companion's countdown, its read recorded as the patient's is. Without
    this browser's pass it is 404, as the patient's (patient_room_status)."""
    try:
        companion, now = invited(reference), utcnow()
    except LinkClosed as closed:
        return refusal_page(closed)  # not led to the link's form (link_closed): a script asks
    record_read(
        db.session,
        companion.consultation,
        "companion room",
        now,
        companion_actor(),
        again_after=STATUS_COVERED_FOR,
        companion_id=companion.id,
    )
    return _room_status(companion.consultation, now)


def _room_status(consultation: Consultation, now: datetime) -> ResponseReturnValue:
    # No more than the page shows: its time, and whether it is cancelled or over.
    state = room(consultation, now, join_window())
    return jsonify(phase=state.phase.value, starts_at=consultation.starts_at.isoformat())


@bp.post(COMPANION_PATH)
@drawn_again_when_expired(entered_again(COMPANION, "invitation"))
def open_invitation(reference: str) -> ResponseReturnValue:
    return entered(reference, COMPANION, invited, ".companion_room", "invitation")


@bp.get(f"{COMPANION_PATH}/join")
def join_as_companion(reference: str) -> ResponseReturnValue:
    return redirect(join_url(invited(reference).consultation, utcnow(), join_window()), 303)


@bp.errorhandler(RoomClosed)
def room_closed(error: RoomClosed) -> ResponseReturnValue:
    # Check-in and join live under their room's address: back is one step up.
    back = request.path.rsplit("/", 1)[0]
    page = render_template("booking/room_closed.html", error=error, room=error.room, back=back)
    return page, status_for(error)
