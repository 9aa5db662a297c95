"""The catalogue's forms: each parses what was typed into the settings its service checks and saves."""

from flask import current_app, request
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, ValidationError
from wtforms.widgets import HiddenInput

from ..booking.forms import TimeZoneField
from ..hospital.clinicians import ClinicianSettings
from ..hospital.departments import DepartmentSettings
from ..hospital.records import MAX_DESCRIPTION
from ..hospital.service_settings import ServiceSettings
from ..hospital.walk_in_queues import QueueSettings
from ..meetings.base import PROVIDER_NAMES
from ..models import Clinician, Department, QueueStatus, Service, WalkInQueue
from ..schedule.forms import REAL_DATE, sane_year
from ..walkin.hours import hours_text
from .forms import LISTED_ONLY, PageField, provider_choices, provider_label, provider_problem

WHOLE_NUMBER = "Enter a whole number."


class PageQuery(FlaskForm):
    class Meta:
        csrf = False  # a GET link

    page = PageField(default=1)


class WholeNumberField(IntegerField):
    """An integer, with the same plain message for a missing and a malformed one."""

    def process_formdata(self, valuelist: list[str]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(WHOLE_NUMBER) from None


def _minutes(label: str) -> WholeNumberField:
    return WholeNumberField(label, validators=[InputRequired(WHOLE_NUMBER)])


def _department_field(label: str = "Department") -> SelectField:
    return SelectField(label, coerce=int, **LISTED_ONLY)


def _department_choices(departments: list[Department]) -> list[SelectChoice]:
    return [SelectChoice(d.id, d.name + ("" if d.active else " (closed)")) for d in departments]


class VersionField(IntegerField):
    """The row's version its page was drawn at (`records.saved_version`); anything malformed is none."""

    widget = HiddenInput()

    def process_formdata(self, valuelist: list[str]) -> None:
        text = valuelist[0] if valuelist else ""
        self.data = int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None

    def _value(self) -> str:
        return "" if self.data is None else str(self.data)  # the version set last, not the one posted


class RowForm(FlaskForm):
    """A form editing a row: shown filled in from the row (`obj`), and once posted read from the post
    alone. Flask-WTF fills a post with no form fields from `obj`, so a post whose fields were lost on the
    way (or not sent as a form) saved whatever the row's attributes held; now its fields are empty and it
    is refused beside them. `from_row`: filled from the row, posted or not (the row as saved now)."""

    drawn = VersionField()

    def __init__(self, *args, obj: object | None = None, from_row: bool = False, **kwargs) -> None:
        self.from_row = from_row or not self.is_submitted()
        if self.from_row:
            super().__init__(*args, formdata=None, obj=obj, **kwargs)
        else:
            super().__init__(*args, formdata=request.form, **kwargs)


class DepartmentForm(RowForm):
    name = StringField("Name", validators=[Length(max=120, message="Keep it under 120 characters.")])
    contact_phone = StringField(
        "Phone number patients call", validators=[Length(max=40, message="Keep it under 40 characters.")]
    )
    active = BooleanField("Open: its services are offered to patients", default=True)

    def settings(self) -> DepartmentSettings:
        return DepartmentSettings(self.name.data or "", self.contact_phone.data or "", self.active.data)


class ServiceForm(RowForm):
    """A service's booking rules, and its video provider (the empty choice: the hospital's)."""

    department_id = _department_field()
    name = StringField("Name", validators=[Length(max=120, message="Keep it under 120 characters.")])
    description = TextAreaField("Description patients read", render_kw={"maxlength": MAX_DESCRIPTION})
    duration_minutes = _minutes("Duration (minutes)")
    buffer_before_minutes = _minutes("Free time before (minutes)")
    buffer_after_minutes = _minutes("Free time after (minutes)")
    min_notice_minutes = _minutes("Minimum notice (minutes)")
    horizon_days = _minutes("Bookable this many days ahead")
    slot_interval_minutes = _minutes("A start time every (minutes)")
    cancel_cutoff_minutes = _minutes("Patients may change online until this long before (minutes)")
    meeting_provider = SelectField("Video provider for new meetings", **LISTED_ONLY)
    active = BooleanField("Offered to patients", default=True)

    def __init__(self, departments: list[Department], *args, obj: Service | None = None, **kwargs) -> None:
        super().__init__(*args, obj=obj, **kwargs)
        self.department_id.choices = _department_choices(departments)
        self.meeting_provider.choices = provider_choices()
        self._kept_provider = obj.meeting_provider if obj else None
        if self.from_row and obj is not None:
            self.meeting_provider.data = obj.meeting_provider or ""

    def validate_meeting_provider(self, field: SelectField) -> None:
        """A provider newly chosen must be set up: else every meeting of the service falls back (or, with no
        fallback, none is made). One kept as it was is left to the list's flag, so that the service's other
        rules can still be changed."""
        if field.data in PROVIDER_NAMES and field.data != self._kept_provider:
            problem = provider_problem(field.data)
            if problem:
                raise ValidationError(
                    f"{provider_label(field.data)} is not set up here ({problem}): choose another, or set it "
                    "up first."
                )

    def settings(self) -> ServiceSettings:
        return ServiceSettings(
            department_id=self.department_id.data,
            name=self.name.data or "",
            description=self.description.data or "",
            **{name: self[name].data for name in NUMBERS},
            meeting_provider=self.meeting_provider.data or None,
            active=self.active.data,
        )


NUMBERS = [name for name in ServiceSettings.__dataclass_fields__ if name.endswith(("_minutes", "_days"))]


class ClinicianForm(RowForm):
    display_name = StringField(
        "Name patients see", validators=[Length(max=120, message="Keep it under 120 characters.")]
    )
    title = StringField(
        "Title, e.g. Consultant dermatologist",
        validators=[Length(max=120, message="Keep it under 120 characters.")],
    )
    email = StringField(
        "E-mail address", validators=[Length(max=254, message="Keep it under 254 characters.")]
    )
    time_zone = TimeZoneField("Time zone their weekly hours are kept in")
    department_id = _department_field()
    service_ids = SelectMultipleField("Services they offer", coerce=int, **LISTED_ONLY)

    def __init__(
        self, departments: list[Department], services: list[Service], *args, obj: Clinician | None, **kwargs
    ) -> None:
        super().__init__(*args, obj=obj, **kwargs)
        self.department_id.choices = _department_choices(departments)
        self.service_ids.choices = [SelectChoice(s.id, f"{s.department.name}: {s.name}") for s in services]
        if self.from_row:
            self.time_zone.data = obj.time_zone if obj else current_app.config["DEFAULT_TIME_ZONE"]
            self.service_ids.data = [s.id for s in obj.services] if obj else []

    def settings(self) -> ClinicianSettings:
        return ClinicianSettings(
            display_name=self.display_name.data or "",
            title=self.title.data or "",
            email=self.email.data or "",
            time_zone=self.time_zone.data,
            department_id=self.department_id.data,
            service_ids=list(self.service_ids.data or []),
        )


WHOLE_HOSPITAL = 0


class ClosureForm(FlaskForm):
    department_id = _department_field("Close")
    first_day = DateField(
        "First day",
        render_kw={"type": "date"},
        validators=[InputRequired("Enter the first day."), sane_year],
        invalid_value_message=REAL_DATE,
    )
    last_day = DateField(
        "Last day",
        render_kw={"type": "date"},
        validators=[InputRequired("Enter the last day."), sane_year],
        invalid_value_message=REAL_DATE,
    )
    label = StringField(
        "Note, e.g. Bank holiday", validators=[Length(max=120, message="Keep it under 120 characters.")]
    )

    def __init__(self, departments: list[Department], *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        everyone = SelectChoice(WHOLE_HOSPITAL, "The whole hospital")
        self.department_id.choices = [everyone, *_department_choices(departments)]

    def chosen_department(self) -> int | None:
        return self.department_id.data or None


NO_SERVICE = 0


class WalkInQueueForm(RowForm):
    """A walk-in queue: whom it serves, where callers join, when it is open, and who takes the calls."""

    name = StringField(
        "Name callers see", validators=[Length(max=120, message="Keep it under 120 characters.")]
    )
    department_id = _department_field()
    service_id = SelectField("Service whose length a call takes", coerce=int, **LISTED_ONLY)
    slug = StringField(
        "Address: /walk-in/…", validators=[Length(max=80, message="Keep it under 80 characters.")]
    )
    description = TextAreaField(
        "Opening line of the join page (in place of the general one)",
        render_kw={"maxlength": MAX_DESCRIPTION},
    )
    time_zone = TimeZoneField("Time zone of the opening hours")
    hours = TextAreaField("Opening hours", render_kw={"rows": 7})
    staff_ids = SelectMultipleField("Clinicians on duty", coerce=int, **LISTED_ONLY)

    def __init__(
        self,
        departments: list[Department],
        services: list[Service],
        clinicians: list[Clinician],
        found: WalkInQueue | None,
        *args,
        **kwargs,
    ) -> None:
        super().__init__(*args, obj=found, **kwargs)
        self.department_id.choices = _department_choices(departments)
        self.service_id.choices = [
            SelectChoice(NO_SERVICE, "The first service the clinician offers in the department"),
            *(SelectChoice(s.id, f"{s.department.name}: {s.name}") for s in services),
        ]
        self.staff_ids.choices = [
            SelectChoice(c.id, f"{c.display_name} ({c.department.name})") for c in clinicians
        ]
        if self.from_row and found is None:
            self.time_zone.data = current_app.config["DEFAULT_TIME_ZONE"]
        elif self.from_row:
            self.service_id.data = found.service_id or NO_SERVICE
            self.hours.data = hours_text(found)
            self.staff_ids.data = [c.id for c in found.staff]

    def settings(self) -> QueueSettings:
        return QueueSettings(
            department_id=self.department_id.data,
            service_id=self.service_id.data or None,
            name=self.name.data or "",
            slug=self.slug.data or "",
            description=self.description.data or "",
            time_zone=self.time_zone.data,
            hours=self.hours.data or "",
            staff_ids=list(self.staff_ids.data or []),
        )


QUEUE_STATUSES = {status.value: status for status in QueueStatus}
