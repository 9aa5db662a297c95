"""The form to join a service's waitlist: the days that would suit, and the patient's details."""

from datetime import date, timedelta

from wtforms import DateField
from wtforms.validators import InputRequired

from ..models import utcnow
from ..scheduling.waitlist import WaitlistRequest
from .forms import (
    ClinicianField,
    IdempotencyKeyField,
    IdField,
    PatientFields,
    TimeZoneField,
    default_time_zone,
)


class DayField(DateField):
    """A day picked in the browser's date input, which shows it in the reader's own order (27/03/2027 in
    Britain) and always sends it as 2027-03-27. A browser without a picker shows a text box, where the
    placeholder (which pickers never show) asks for that form; only a text box can send a day wrongly."""

    def __init__(self, label: str, **kwargs):
        super().__init__(label, render_kw={"placeholder": "yyyy-mm-dd"}, **kwargs)

    def process_formdata(self, valuelist: list[str]) -> None:
        try:
            super().process_formdata([value[:20] for value in valuelist])
        except ValueError:
            self.data = None
            example = (utcnow() + timedelta(days=7)).date()  # a week ahead: a day the waitlist could take
            raise ValueError(
                f"Enter a real date as year-month-day, for example {example.isoformat()}."
            ) from None


class WaitlistForm(PatientFields):
    """Joining the waitlist of a service, with one clinician or any, for the days from first to last."""

    service = IdField(
        validators=[InputRequired("Choose a service.")], invalid="Choose a service from the list."
    )
    clinician = ClinicianField(
        validators=[InputRequired("Choose a clinician, or any clinician.")],
        invalid="Choose a clinician from the list.",
    )
    time_zone = TimeZoneField("Your time zone", default=default_time_zone)
    first_day = DayField("From", validators=[InputRequired("Enter the first day that would suit you.")])
    last_day = DayField("Until", validators=[InputRequired("Enter the last day that would suit you.")])
    join_key = IdempotencyKeyField()

    def offer_days(self, first: date, last: date) -> None:
        """Let the date pickers offer only the days from `first` to `last`: the others are refused."""
        for day in (self.first_day, self.last_day):
            day.render_kw = {**(day.render_kw or {}), "min": first.isoformat(), "max": last.isoformat()}

    def checked_request(self, today: date) -> WaitlistRequest | None:
        """The request to join; None, with the errors beside their fields, if anything is wrong (the
        days are checked against the service when joining: see join_waitlist)."""
        valid = self.validate()
        patient = self.checked_patient(today)
        if not valid or patient is None:
            return None
        return WaitlistRequest(
            service_id=self.service.data,
            first_day=self.first_day.data,
            last_day=self.last_day.data,
            patient=patient,
            consent=self.consent_given(),
            clinician_id=self.clinician.data,
            join_key=self.join_key.data,
        )
