"""The notes pages: a consultation's notes, saving and signing a draft, amending, printing.

Any signed-in staff member may ask; the notes services decide who may see (everyone else gets the
same 404 as for an unknown id). Each view parses the form, calls one service, renders or redirects.
"""

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..auth.access import current_staff, staff_only
from ..extensions import db
from ..models import Consultation, utcnow
from .access import may_access
from .content import FIELDS, MAX_FIELD_CHARS, InvalidNote
from .drafts import discard_unreadable_draft, save_note, start_amendment
from .encryption import UNREADABLE_VERSION
from .errors import NoteError, NoteNotFound
from .forms import HINTS, NoteForm
from .history import printable_version, read_notes
from .settings import NotesSettings, notes_settings

bp = Blueprint("notes", __name__, url_prefix="/schedule/consultations/<id:consultation_id>/notes")
staff_only(bp)
bp.add_app_template_global(UNREADABLE_VERSION, "unreadable_version")  # said in place of such a version's text
# Room for four full fields however they are encoded (up to 12 bytes a character, percent-encoded).
NOTE_FORM_MAX_BYTES = len(FIELDS) * MAX_FIELD_CHARS * 12 + 8192


@bp.app_template_global()
def may_open_notes(consultation: Consultation) -> bool:
    """Whether the signed-in staff member may open `consultation`'s notes: for links on other pages."""
    return may_access(current_staff(), consultation, _settings().granted_roles)


@bp.url_value_preprocessor
def _room_for_long_notes(_endpoint: str | None, _values: dict | None) -> None:
    # Four long fields outgrow the site-wide body limit. URL value preprocessors run before every
    # before_request hook (CSRFProtect's reads the body), so the larger limit applies from the start;
    # signed-in staff only, so anonymous requests keep the small one.
    if request.method == "POST" and current_user.is_authenticated:
        request.max_content_length = NOTE_FORM_MAX_BYTES


@bp.get("")
def show(consultation_id: int) -> ResponseReturnValue:
    return _page(consultation_id)


@bp.post("")
def save(consultation_id: int) -> ResponseReturnValue:
    return _submit(consultation_id, "Draft saved. It joins the record when you sign it.", sign=False)


@bp.post("/sign")
def sign(consultation_id: int) -> ResponseReturnValue:
    return _submit(consultation_id, "Version {version} signed: it is now locked.", sign=True)


@bp.post("/amend")
def amend(consultation_id: int) -> ResponseReturnValue:
    afresh = request.form.get("start") == "empty"
    start_amendment(
        db.session,
        consultation_id,
        requester=current_staff(),
        settings=_settings(),
        now=utcnow(),
        afresh_if_unreadable=afresh,
    )
    flash(
        "Amendment started: write the correction, then sign it."
        if afresh
        else "Amendment started from the signed note: correct what needs correcting, then sign it."
    )
    return redirect(url_for(".show", consultation_id=consultation_id, _anchor="draft"), 303)


@bp.post("/discard")
def discard(consultation_id: int) -> ResponseReturnValue:
    draft = request.form.get("draft", "")
    discarded = discard_unreadable_draft(
        db.session,
        consultation_id,
        int(draft) if draft.isascii() and draft.isdigit() and len(draft) <= 10 else None,
        requester=current_staff(),
        settings=_settings(),
        now=utcnow(),
    )
    flash(f"Draft version {discarded.version} discarded: write the note again below.")
    return redirect(url_for(".show", consultation_id=consultation_id, _anchor="draft"), 303)


@bp.get("/<id:note_id>/print")
def print_version(consultation_id: int, note_id: int) -> ResponseReturnValue:
    printed = printable_version(
        db.session, consultation_id, note_id, requester=current_staff(), settings=_settings(), now=utcnow()
    )
    return render_template("notes/print.html", printed=printed)


@bp.errorhandler(NoteNotFound)
def not_found(error: NoteNotFound) -> ResponseReturnValue:
    return render_template("error.html", code=404, message=str(error)), 404


@bp.errorhandler(InvalidNote)
def invalid(error: InvalidNote) -> ResponseReturnValue:
    form = NoteForm()
    form.show_errors(error.errors)
    return _page(request.view_args["consultation_id"], form)


@bp.errorhandler(NoteError)
def refused(error: NoteError) -> ResponseReturnValue:
    # A refused save keeps the posted text on the page, so nothing typed is lost; a refused amendment
    # posted no text, and the page shows the note as it is.
    form = NoteForm() if _posted_note() else None
    return _page(request.view_args["consultation_id"], form, problem=str(error), status=error.status)


def _posted_note() -> bool:
    """Whether this request sent a note's text (a save or a sign), not another form (an amendment's)."""
    return request.method == "POST" and any(name in request.form for name in FIELDS)


def _submit(consultation_id: int, confirmation: str, *, sign: bool) -> ResponseReturnValue:
    form = NoteForm()
    if not form.validate():
        return _page(consultation_id, form)
    saved = save_note(
        db.session,
        consultation_id,
        form.note(),
        form.expected(),
        sign=sign,
        requester=current_staff(),
        settings=_settings(),
        now=utcnow(),
    )
    flash(confirmation.format(version=saved.version))
    return redirect(url_for(".show", consultation_id=consultation_id), 303)


def _page(
    consultation_id: int, form: NoteForm | None = None, *, problem: str = "", status: int | None = None
) -> ResponseReturnValue:
    page = read_notes(
        db.session, consultation_id, requester=current_staff(), settings=_settings(), now=utcnow()
    )
    form = form or NoteForm.for_draft(page.draft)
    status = status or (422 if form.errors else 200)
    editing = page.can_edit_draft or bool(problem and _posted_note())
    html = render_template(
        "notes/show.html", page=page, form=form, hints=HINTS, editing=editing, problem=problem
    )
    return html, status


def _settings() -> NotesSettings:
    return notes_settings(current_app)
