"""Subject access for admins: one person's data, found by e-mail address, as a JSON download."""

import json

from flask import Response, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField
from wtforms.validators import Email, InputRequired, Optional

from ..auth.access import current_staff
from ..extensions import db
from ..models import utcnow
from ..notes.settings import notes_settings
from ..privacy.subject_access import export_person
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
        "Their date of birth (optional: only records with it)",
        validators=[Optional()],
        format="%Y-%m-%d",
        invalid_value_message=REAL_DATE,
    )


@bp.route("/patients/export", methods=["GET", "POST"])
def patient_export() -> ResponseReturnValue:
    form = PatientExportForm()
    if not form.validate_on_submit():
        page = render_template("admin/patient_export.html", form=form)
        return page, 422 if form.errors else 200
    now = utcnow()
    export = export_person(
        db.session,
        form.email.data,
        cipher=notes_settings(current_app).cipher,
        now=now,
        actor=current_staff().actor,
        birth_date=form.birth_date.data,
    )
    return Response(
        json.dumps(export, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="subject-access-{now:%Y%m%d-%H%M%S}.json"',
            "Cache-Control": "no-store",
        },
    )
