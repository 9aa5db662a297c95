"""The audit log viewer: filter the trail by who, action, consultation and dates; page it; export CSV."""

from flask import Response, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import Length, Optional, ValidationError
from wtforms.widgets import HiddenInput

from ..audit_search import AuditFilter, UnknownFilter, audit_filter, audit_page, export_csv
from ..auth.access import current_staff
from ..extensions import db
from ..form_errors import show_beside
from ..models import utcnow
from .forms import DayField
from .views import bp


class CursorField(IntegerField):
    """The id a page continues below, from a link: anything malformed starts from the newest."""

    widget = HiddenInput()

    def process_formdata(self, valuelist: list[str]) -> None:
        text = valuelist[0] if valuelist else ""
        self.data = int(text) if text.isascii() and text.isdigit() and 0 < len(text) <= 18 else None


FILTERS = ("who", "action", "reference", "patient", "since", "until")


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter: links and bookmarks work

    who = StringField(
        "Who", validators=[Optional(), Length(max=254, message="Keep it under 254 characters.")]
    )
    action = StringField(
        "Action", validators=[Optional(), Length(max=80, message="Keep it under 80 characters.")]
    )
    reference = StringField(
        "Consultation reference",
        validators=[Optional(), Length(max=12, message="Keep it under 12 characters.")],
    )
    patient = StringField(
        "Patient's e-mail address",
        validators=[Optional(), Length(max=254, message="Keep it under 254 characters.")],
    )
    since = DayField("From (UTC)", validators=[Optional()])
    until = DayField("To (UTC, included)", validators=[Optional()])
    older_than = CursorField()

    def validate_until(self, field: DayField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("Enter a day on or after the first day.")

    def link_args(self) -> dict[str, str]:
        """The filters as typed, as query arguments: for the next page's link and the export's."""
        typed = {name: (self[name].raw_data or [""])[0] for name in FILTERS}
        return {name: value for name, value in typed.items() if value}


@bp.get("/audit")
def audit_log() -> ResponseReturnValue:
    form = AuditFilterForm(request.args)
    wanted = _wanted(form)
    if wanted is None:
        return render_template("admin/audit.html", form=form, found=None), 422
    found = audit_page(db.session, wanted, older_than=form.older_than.data)
    return render_template("admin/audit.html", form=form, found=found)


@bp.get("/audit.csv")
def audit_export() -> ResponseReturnValue:
    form = AuditFilterForm(request.args)
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


def _wanted(form: AuditFilterForm) -> AuditFilter | None:
    """The filter the form asks for, or None with the reason beside the field."""
    if not form.validate():
        return None
    try:
        return audit_filter(
            db.session,
            who=(form.who.data or "").strip(),
            action=(form.action.data or "").strip(),
            reference=(form.reference.data or "").strip().upper(),
            patient=(form.patient.data or "").strip(),
            since=form.since.data,
            until=form.until.data,
        )
    except UnknownFilter as unknown:
        show_beside(form[unknown.field], str(unknown))
        return None
