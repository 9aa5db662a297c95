"""One consultation on the schedule: its page, and acting on it (its status, the call, cancelling,
moving, its companion, a printed letter); a refused action comes back on its page."""

from datetime import datetime
from zoneinfo import ZoneInfo

import segno
from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..auth.access import current_staff
from ..auth.sessions import local_path
from ..errors import refusal_page, status_for
from ..extensions import db
from ..links import CONSULTATION_PAGE_PATH, manage_address
from ..models import Consultation, utcnow
from ..notes.history import reason_erased_after_days
from ..notes.settings import notes_settings
from ..scheduling.agenda import Moment, consultation_row
from ..scheduling.clashes import ABSENT
from ..scheduling.companions import Removal
from ..scheduling.consulting import check_status_change, set_status, start_call
from ..scheduling.errors import BookingError, ConsultationCancelled, NotFound
from ..scheduling.events import history, record_read
from ..scheduling.front_desk import cancel_for_patient, invite_companion, uninvite_companion
from ..scheduling.lifecycle import Change, check_change, has_letter, missed_in_absence, staff_changes
from ..scheduling.status import STATUS_LABELS
from ..scheduling.timezones import zone
from ..scheduling.tokens import LinkKeys, letter_code, manage_link
from ..scheduling.visibility import consultation_for_staff
from ..staff.accounts import actor_names
from ..staff.members import StaffMember
from . import forms, moving
from .moving import told
from .views import bp, page_moment


@bp.get(CONSULTATION_PAGE_PATH)
def consultation(consultation_id: int) -> ResponseReturnValue:
    return _consultation_page(consultation_id)


@bp.post("/consultations/<id:consultation_id>/status")
def change_status(consultation_id: int) -> ResponseReturnValue:
    form = forms.StatusForm()
    if not form.validate():
        return _consultation_page(consultation_id, status_form=form), 422
    moment = page_moment()
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
    check_status_change(db.session, staff, found, form.chosen(), now=moment.instant, window=moment.window)
    back = local_path(form.next.data) or url_for(".consultation", consultation_id=found.id)
    zone = _reading_zone(staff, found)  # as the consultation's page reads it
    return render_template("schedule/ask_noshow.html", consultation=found, form=form, back=back, zone=zone)


@bp.post("/consultations/<id:consultation_id>/start")
def start(consultation_id: int) -> ResponseReturnValue:
    moment = page_moment()
    link = start_call(
        db.session,
        current_staff(),
        consultation_id,
        now=moment.instant,
        window=moment.window,
        provider_settings=current_app.config,
    )
    return redirect(link, 303)


@bp.post("/consultations/<id:consultation_id>/cancel")
def cancel(consultation_id: int) -> ResponseReturnValue:
    form = forms.StaffCancelForm()
    if not form.validate():
        return _consultation_page(consultation_id, cancel_form=form), 422
    try:
        cancelled = cancel_for_patient(
            db.session, current_staff(), consultation_id, now=utcnow(), reason=form.reason.data
        )
    except ConsultationCancelled:  # sent twice, or cancelled meanwhile: what was asked is so
        db.session.rollback()
        flash("The consultation was cancelled already: nothing more was done.")
        return redirect(url_for(".consultation", consultation_id=consultation_id), 303)
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


@bp.get("/consultations/<id:consultation_id>/move")
def choose_new_time(consultation_id: int) -> ResponseReturnValue:
    found, now = _read(consultation_id, "staff move page"), utcnow()
    check_change(found, Change.MOVE, now, absent=missed_in_absence(db.session, found, now))
    return moving.choose_page(current_staff(), found)


@bp.post("/consultations/<id:consultation_id>/move")
def move(consultation_id: int) -> ResponseReturnValue:
    return moving.move(current_staff(), consultation_id)


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
    staff, moment = current_staff(), page_moment()
    found = _read(consultation_id, "staff consultation page", moment.instant)
    tz = _reading_zone(staff, found)
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
        reason_erased_after_days=reason_erased_after_days(found, notes_settings(current_app), moment.instant),
    )


def _reading_zone(staff: StaffMember, found: Consultation) -> ZoneInfo:
    """A clinician reads their own consultations in their zone; everyone else in the hospital's."""
    own = staff.is_clinician_of(found)
    return zone(found.clinician.time_zone if own else current_app.config["DEFAULT_TIME_ZONE"])


def _read(consultation_id: int, view: str, now: datetime | None = None) -> Consultation:
    """The consultation, its reading on `view` audited: each page showing a patient's details is."""
    staff = current_staff()
    found = consultation_for_staff(db.session, staff, consultation_id)
    record_read(db.session, found, view, now or utcnow(), staff.actor)
    return found
