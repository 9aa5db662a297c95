"""Subject access for admins: one person's data, found by e-mail address or phone number, as a JSON
download."""

import json

from flask import Response, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import DateField, Field, StringField, ValidationError
from wtforms.validators import Email, InputRequired, Length, Optional

from ..auth.access import current_staff
from ..extensions import db
from ..form_errors import show_beside
from ..models import utcnow
from ..notes.access import reads_every_note
from ..notes.settings import notes_settings
from ..privacy.subject_access import export_person
from ..privacy.subject_lookup import Asker, SharedContact
from ..schedule.forms import REAL_DATE
from ..scheduling.patients import MAX_NAME, phone_number
from .views import bp

MISSING_CONTACT = "Enter the e-mail address or phone number the person gave."


class PatientExportForm(FlaskForm):
    contact = StringField(
        "The person's e-mail address or phone number",
        validators=[InputRequired(MISSING_CONTACT)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    birth_date = DateField(
        "Their date of birth (needed if others gave the same address or number)",
        validators=[Optional()],
        format="%Y-%m-%d",
        invalid_value_message=REAL_DATE,
    )
    name = StringField(
        "Their name (needed if the address or number was given under other names)",
        validators=[Optional(), Length(max=MAX_NAME, message=f"Keep it under {MAX_NAME} characters.")],
        render_kw={"autocomplete": "off", "maxlength": MAX_NAME},
    )

    def validate_contact(self, field: Field) -> None:
        """An address as the booking pages take it, or a number as the walk-in form takes it."""
        if "@" in field.data:
            Email("Enter an e-mail address like name@example.org.")(self, field)
            return
        errors: dict[str, str] = {}
        phone_number(field.data, errors, missing=MISSING_CONTACT, field="contact")  # spaces alone are none
        if errors:
            raise ValidationError(errors["contact"])

    def asker(self) -> Asker:
        contact = self.contact.data.strip()
        return Asker(
            **{"email" if "@" in contact else "phone": contact},
            birth_date=self.birth_date.data,
            name=(self.name.data or "").strip() or None,
        )


@bp.route("/patients/export", methods=["GET", "POST"])
def patient_export() -> ResponseReturnValue:
    form = PatientExportForm()
    if not form.validate_on_submit():
        return _page(form)
    now = utcnow()
    try:
        export = export_person(
            db.session, form.asker(), notes=notes_settings(current_app), now=now, exporter=current_staff()
        )
    except SharedContact as shared:
        show_beside(form[shared.needs], str(shared))
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
