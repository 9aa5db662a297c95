"""The schedule pages' forms: the day and whose, status actions, booking for a patient, hours, time off."""

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    Field,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from ..booking.forms import (
    ClinicianField,
    DatePartsField,
    DetailsForm,
    IdField,
    InstantField,
    ReasonField,
    TimePickerFields,
)
from ..form_errors import show_beside_fields
from ..models import ConsentMethod, Consultation, ConsultationStatus
from ..scheduling.companions import CompanionDetails, check_companion_details
from ..scheduling.patients import MAX_NAME, MAX_REASON, InvalidDetails
from ..scheduling.timezones import NonExistentLocalTime, local_to_utc

S = ConsultationStatus
# The buttons for status changes from the schedule (starting the call has its own).
ACTION_LABELS = {S.ARRIVED: "Mark arrived", S.FULFILLED: "Finish", S.NOSHOW: "No-show"}
# Asked about before they are made: a slip would close the consultation, and its patient's page with it.
ASKED_FIRST = frozenset({S.NOSHOW})


REAL_DATE = "Enter a real date, like 2026-12-24."
START, END = "Enter the time you start, like 09:00.", "Enter the time you finish, like 12:30."


def sane_year(_form: FlaskForm, field: Field) -> None:
    """Refuse dates near year 1 or 9999, where a week's or a zone's arithmetic would overflow."""
    if field.data is not None and not dt.MINYEAR < field.data.year < dt.MAXYEAR:
        raise ValidationError("Enter a date with a four-digit year, like 2026-03-09.")


class ScheduleQuery(FlaskForm):
    """Which day (or week) and whose schedule: GET, so links and bookmarks work."""

    class Meta:
        csrf = False

    date = DateField(
        "Date", validators=[sane_year], render_kw={"type": "date"}, invalid_value_message=REAL_DATE
    )  # the query parameter is ?date=YYYY-MM-DD
    department = IdField(invalid="Choose a department from the list.", optional=True)
    clinician = IdField(invalid="Choose a clinician from the list.", optional=True)

    def chosen_day(self, today: dt.date) -> dt.date:
        """The date asked for; today when none or a malformed one was given (the error shows)."""
        return self.date.data if self.date.data and not self.date.errors else today


class StatusForm(FlaskForm):
    status = SelectField(
        "New status",
        choices=[SelectChoice(status.value, label) for status, label in ACTION_LABELS.items()],
        invalid_choice_message="Choose one of the actions.",
        invalid_value_message="Choose one of the actions.",
    )
    next = HiddenField()
    confirmed = HiddenField()  # "yes" from the question's own form

    def chosen(self) -> ConsultationStatus:
        return ConsultationStatus(self.status.data)

    def needs_asking(self) -> bool:
        """Whether the change is one asked about first, and not yet answered."""
        return self.chosen() in ASKED_FIRST and self.confirmed.data != "yes"


class StaffCancelForm(FlaskForm):
    reason = ReasonField(
        "Reason for cancelling (optional, kept for the clinic, not sent to the patient)",
        render_kw={"maxlength": MAX_REASON, "rows": 2},
    )


class MoveForm(TimePickerFields):
    """A new time for a consultation, with its clinician or a colleague of the same service ("any": the first
    free then), shown in the patient's zone."""

    clinician = ClinicianField(invalid="Choose a clinician from the list.")
    # Where the page showed the consultation: the form sent again (a double click) finds it moved from there.
    moving_from = InstantField(validators=[Optional()])
    moving_from_clinician = IdField(invalid="Choose a time from the list.", optional=True)

    def shows(self, found: Consultation) -> None:
        """Carry where `found` is as the page draws it."""
        self.moving_from.data, self.moving_from_clinician.data = found.starts_at, found.clinician_id

    def moved_already(self, found: Consultation) -> bool:
        """Whether `found` has moved, since its page was drawn, to the time and clinician this form asks for:
        the form's own first sending moved it. Sent again, "First available" would move it on once more."""
        shown = (self.moving_from.data, self.moving_from_clinician.data)
        where = (found.starts_at, found.clinician_id)
        wanted = found.starts_at == self.start.data and self.clinician.data in (None, found.clinician_id)
        return self.moving_from.data is not None and shown != where and wanted


class StaffBookingForm(DetailsForm):
    """The booking form for staff on the phone: the patient's e-mail may be left out."""

    email = EmailField(
        "E-mail address (optional: leave empty if the patient has none)",
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    name = StringField("Patient's full name", render_kw={"autocomplete": "off"})
    birth_date = DatePartsField("Patient's date of birth")  # no autocomplete: not the receptionist's own
    reason = ReasonField(
        "Reason for the visit (optional, seen only by the clinician)",
        render_kw={"maxlength": MAX_REASON, "rows": 3},
    )
    consent = BooleanField(
        "The patient agreed that the hospital may use these details to arrange and hold the consultation",
        validators=[DataRequired("Ask the patient and tick the box, or the consultation cannot be booked.")],
    )
    email_required = False
    whose = "the patient's"
    consent_method = ConsentMethod.VERBAL


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class HoursForm(FlaskForm):
    """One weekly working period, in the clinician's own time zone."""

    weekday = SelectField(
        "Day",
        choices=[SelectChoice(str(n), name) for n, name in enumerate(WEEKDAYS)],
        coerce=int,
        invalid_choice_message="Choose a day of the week.",
        invalid_value_message="Choose a day of the week.",
    )
    start = TimeField("From", validators=[InputRequired(START)], invalid_value_message=START)
    end = TimeField("Until", validators=[InputRequired(END)], invalid_value_message=END)


class TimeOffForm(FlaskForm):
    """Time off from one local date and time to another, in the clinician's own time zone."""

    starts_at = DateTimeLocalField(
        "From",
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired("Enter when the time off starts."), sane_year],
    )
    ends_at = DateTimeLocalField(
        "Until",
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired("Enter when the time off ends."), sane_year],
    )

    def instants(self, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime] | None:
        """From and until as instants in `tz`; None, with the message beside the field, for a time the
        clocks skip on that day."""
        found = []
        for field in (self.starts_at, self.ends_at):
            try:
                found.append(local_to_utc(field.data, tz))
            except NonExistentLocalTime:
                field.errors.append(
                    "That time does not exist on this day (the clocks change). Choose another."
                )
        return (found[0], found[1]) if len(found) == 2 else None

    label = StringField(
        "Note (optional, e.g. Leave)",
        validators=[Length(max=120, message="Keep it under 120 characters.")],
    )


class CompanionForm(FlaskForm):
    """Staff inviting a second participant (interpreter, relative or carer) to a consultation."""

    COMPANION_ROLES = DetailsForm.COMPANION_ROLES
    name = StringField("Their full name", render_kw={"autocomplete": "off", "maxlength": MAX_NAME})
    email = EmailField("Their e-mail address", render_kw={"autocomplete": "off", "spellcheck": "false"})
    role = StringField("Who are they?")  # radios drawn by the template, checked with the companion rules

    def checked(self) -> CompanionDetails | None:
        """The companion's details; None, with the messages beside the fields, if anything is wrong."""
        if not self.validate():
            return None
        try:
            return check_companion_details(
                name=self.name.data,
                email=self.email.data,
                role=self.role.data,
                smtputf8=current_app.config["MAIL_SMTPUTF8"],
            )
        except InvalidDetails as invalid:
            show_beside_fields(self, invalid.errors)
            return None
