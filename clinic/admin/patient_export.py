"""Subject access for admins: one person's data, found by e-mail address, as a JSON download."""

import json

from flask import Response, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField
from wtforms.validators import Email, InputRequired, Optional

from ..auth.access import current_staff
from ..extensions import db
from ..form_errors import show_beside
from ..models import utcnow
from ..notes.access import reads_every_note
from ..notes.settings import notes_settings
from ..privacy.subject_access import SharedAddress, export_person
from ..schedule.forms import REAL_DATE
from .views import bp


class PatientExportForm(FlaskForm):
    email = EmailField(
        "The person's e-mail address",
        validators=[
            InputRequired("Enter the e-mail address the person booked with."),
            Email("Enter an e-mail address like name@example.org."),
        ],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    birth_date = DateField(
        "Their date of birth (needed if others booked with the same address)",
        validators=[Optional()],
        format="%Y-%m-%d",
        invalid_value_message=REAL_DATE,
    )


@bp.route("/patients/export", methods=["GET", "POST"])
def patient_export() -> ResponseReturnValue:
    form = PatientExportForm()
    if not form.validate_on_submit():
        return _page(form)
    now = utcnow()
    try:
        export = export_person(
            db.session,
            form.email.data,
            notes=notes_settings(current_app),
            now=now,
            exporter=current_staff(),
            birth_date=form.birth_date.data,
        )
    except SharedAddress as shared:
        show_beside(form.birth_date, str(shared))
        return _page(form)
    return Response(
        json.dumps(export, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="subject-access-{now:%Y%m%d-%H%M%S}.json"',
            "Cache-Control": "no-store",
        },
    )


def _page(form: PatientExportForm) -> ResponseReturnValue:
    reads_notes = reads_every_note(current_staff(), notes_settings(current_app).granted_roles)
    page = render_template("admin/patient_export.html", form=form, reads_notes=reads_notes)
    return page, 422 if form.errors else 200
