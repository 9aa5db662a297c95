"""The audit log viewer: filter the trail by who, action, consultation, patient and dates; page it; export
CSV; check the chain.

A patient's e-mail address is sent only in a form's body, never in a URL (proxy logs, browser history):
a search by patient answers its POST with the page itself, and its paging and export buttons post it
again. Every other filter lives in the page's URL, so that its pages can be linked to and bookmarked.
"""

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import Length, Optional, ValidationError
from wtforms.widgets import HiddenInput

from ..audit.search import AuditFilter, UnknownFilter, audit_filter, export_csv, searched_page
from ..audit.verification import Break, Verified, check, verdict
from ..auth.access import current_staff
from ..extensions import db
from ..form_errors import show_beside
from ..models import MAX_ID, utcnow
from ..scheduling.timezones import zone
from ..scheduling.tokens import typed_reference
from ..scheduling.zone_names import friendly_name
from .forms import DayField
from .views import bp


class CursorField(IntegerField):
    """The id a page continues below, from a link: anything malformed, or no id an event can have,
    starts from the newest."""

    widget = HiddenInput()

    def process_formdata(self, valuelist: list[str]) -> None:
        text = valuelist[0] if valuelist else ""
        ok = text.isascii() and text.isdigit() and len(text) <= 10 and 0 < int(text) <= MAX_ID
        self.data = int(text) if ok else None


FILTERS = ("who", "action", "reference", "patient", "since", "until")


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # GET filters come from links and bookmarks; CSRFProtect checks every POST

    who = StringField(
        "Who", validators=[Optional(), Length(max=254, message="Keep it under 254 characters.")]
    )
    action = StringField(
        "Action", validators=[Optional(), Length(max=80, message="Keep it under 80 characters.")]
    )
    reference = StringField(
        "Consultation or walk-in reference",
        validators=[Optional(), Length(max=12, message="Keep it under 12 characters.")],
    )
    patient = StringField(
        "Patient's e-mail address",
        validators=[Optional(), Length(max=254, message="Keep it under 254 characters.")],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    since = DayField("From", validators=[Optional()])  # days of the hospital's clock: its zone in the label
    until = DayField("To (included)", validators=[Optional()])
    older_than = CursorField()

    def validate_until(self, field: DayField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("Enter a day on or after the first day.")

    def validate_patient(self, field: StringField) -> None:
        if field.data and request.method != "POST":
            raise ValidationError("Type the address here and press Show: it is not taken from a link.")

    def by_patient(self) -> bool:
        """Whether a patient's address is among the filters: then the page is never reached by a link."""
        return bool((self.patient.data or "").strip())

    def typed(self) -> dict[str, str]:
        """The filters as typed: for the next page's link or form, and the export's."""
        typed = {name: (self[name].raw_data or [""])[0] for name in FILTERS}
        return {name: value for name, value in typed.items() if value.strip()}


@bp.route("/audit", methods=["GET", "POST"])
def audit_log() -> ResponseReturnValue:
    form = _filter_form()
    if request.method == "POST" and not form.by_patient():
        return redirect(url_for(".audit_log", **form.typed()), 303)  # nothing private: a linkable page
    wanted = _wanted(form)
    if wanted is None:
        return render_template("admin/audit.html", form=form, found=None), 422
    found = searched_page(
        db.session, wanted, actor=current_staff().actor, now=utcnow(), older_than=form.older_than.data
    )
    return render_template("admin/audit.html", form=form, found=found, days_in=wanted.days_in, clock=_clock())


@bp.route("/audit.csv", methods=["GET", "POST"])
def audit_export() -> ResponseReturnValue:
    form = _filter_form()
    wanted = _wanted(form)
    if wanted is None:
        return render_template("admin/audit.html", form=form, found=None), 422
    chunks = export_csv(db.session, wanted, actor=current_staff().actor, now=utcnow())
    filename = f"audit-{utcnow():%Y-%m-%d}.csv"
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.post("/audit/check")
def audit_check() -> ResponseReturnValue:
    """Verify the whole chain as `flask clinic audit verify` does; say what it found on the log's page."""
    result = check(db.session, current_staff().actor, now=utcnow())
    flash(verdict(result), _outcome(result))
    return redirect(url_for(".audit_log"), 303)


def _outcome(result: Verified | Break) -> str:
    """The check's outcome in a few words: a broken chain is an error (see base.html). A declared break
    (events of a lost key that cannot be checked) is neither intact nor broken: a warning, the verdict
    saying what was declared."""
    if isinstance(result, Break):
        return "Error: Audit chain broken"
    return "Warning: Audit chain intact with a declared break" if result.lost else "Audit chain intact"


def _filter_form() -> AuditFilterForm:
    """The filters sent: a link's in its query, a form's in its body (the only place for a patient's); the
    days' labels name the hospital's zone, whose days they are."""
    form = AuditFilterForm(request.form if request.method == "POST" else request.args)
    clock = _clock()
    form.since.label.text, form.until.label.text = f"From ({clock})", f"To ({clock}, included)"
    return form


def _clock() -> str:
    """The hospital's zone as people know it (UK time): whose days the filters take, whose clock the page
    shows."""
    return friendly_name(current_app.config["DEFAULT_TIME_ZONE"])


def _wanted(form: AuditFilterForm) -> AuditFilter | None:
    """The filter the form asks for, or None with the reason beside the field."""
    if not form.validate():
        return None
    try:
        return audit_filter(
            db.session,
            who=(form.who.data or "").strip(),
            action=(form.action.data or "").strip(),
            reference=typed_reference(form.reference.data or ""),
            patient=(form.patient.data or "").strip(),
            since=form.since.data,
            until=form.until.data,
            days_in=zone(current_app.config["DEFAULT_TIME_ZONE"]),
        )
    except UnknownFilter as unknown:
        show_beside(form[unknown.field], str(unknown))
        return None
