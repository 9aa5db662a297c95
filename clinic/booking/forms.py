"""The booking pages' forms: what each step carries, parsed and checked with the booking rules."""

import re
import secrets
from collections.abc import Callable
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime
from functools import lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo

from flask import current_app
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    Field,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.fields.choices import Choice, SelectChoice
from wtforms.utils import unset_value
from wtforms.validators import DataRequired, InputRequired, Optional, ValidationError
from wtforms.widgets import HiddenInput, Select, html_params

from ..form_errors import show_beside_fields
from ..models import MAX_ID, CompanionRole, ConsentMethod
from ..scheduling import zone_picker
from ..scheduling.booking import BookingRequest, Consent
from ..scheduling.companions import check_companion_details
from ..scheduling.patients import (
    MAX_NAME,
    MAX_REASON,
    DateParts,
    InvalidDetails,
    PatientDetails,
    check_patient_details,
    check_reason,
)
from ..scheduling.timezones import InvalidTimeZone, listed_name, parse_instant, zone, zone_names_set
from ..scheduling.zone_picker import ZoneOffer
from .calendar import form_value, reader_language

_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
_Checked = TypeVar("_Checked")


class IdField(Field):
    """A record's id carried in a form: digits only, so a tampered value never reaches a query.

    `optional` ids may be left empty (data None), as in links that narrow a page.
    """

    widget = HiddenInput()

    def __init__(
        self,
        label: str | None = None,
        validators: list | None = None,
        *,
        invalid: str,
        optional: bool = False,
        **kwargs,
    ):
        super().__init__(label, validators, **kwargs)
        self.invalid = invalid
        self.optional = optional

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist:
            return
        self.data = None
        text = valuelist[0]
        if self.optional and text == "":
            return
        if not (len(text) <= 10 and text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID):
            raise ValueError(self.invalid)
        self.data = int(text)

    def _value(self) -> str:
        return "" if self.data is None else str(self.data)


class ClinicianField(IdField):
    """A clinician's id, or "any" (data None) for the first available clinician."""

    FIRST_AVAILABLE = "any"

    def process_formdata(self, valuelist: list[str]) -> None:
        if valuelist and valuelist[0] == self.FIRST_AVAILABLE:
            self.data = None
        else:
            super().process_formdata(valuelist)

    def _value(self) -> str:
        return self.FIRST_AVAILABLE if self.data is None else str(self.data)


class InstantField(Field):
    """A consultation's start, carried as a UTC instant (see calendar.form_value)."""

    widget = HiddenInput()

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist:
            return
        self.data = None
        try:
            instant = parse_instant(valuelist[0])
        except (ValueError, InvalidTimeZone) as error:
            raise ValueError("Choose a time from the list.") from error
        self.data = instant

    def _value(self) -> str:
        return "" if self.data is None else form_value(self.data)


class IdempotencyKeyField(StringField):
    """A key made afresh for each form drawn, so the form sent twice (a double click, a resend) acts once:
    the booking's confirmation, the walk-in queue's join."""

    widget = HiddenInput()

    def __init__(self, label: str | None = None, **kwargs):
        super().__init__(label, default=lambda: secrets.token_urlsafe(24), **kwargs)

    def process_formdata(self, valuelist: list[str]) -> None:
        # A tampered key only weakens the sender's own double-submit guard: keep the fresh one.
        if valuelist and _IDEMPOTENCY_KEY.fullmatch(valuelist[0]):
            self.data = valuelist[0]

    def renew(self) -> None:
        """A fresh key, for the form shown again after another request spent the one it was sent with."""
        self.data = self.default()


class ZoneSelect(Select):
    """WTForms' select, drawn once per list, chosen zone and attributes, not once per page.

    The list (zone_picker.offer) is the same object for most patients within the day; drawing its
    ~55 options (~520 with every zone) through WTForms was a third of the booking page's template time;
    its attributes, through WTForms' html_params, then still a tenth of the time-zone chooser's.
    """

    def __call__(self, field: "TimeZoneField", day: date | None = None, **kwargs) -> Markup:
        """The select, its zones' offsets as on `day` (see TimeZoneField.offer_on)."""
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for k in dir(flags):
            if k in self.validation_attrs and k not in kwargs:
                kwargs[k] = getattr(flags, k)
        return _zone_select(field.offer_on(day), field.listed, field.name, tuple(sorted(kwargs.items())))


@lru_cache(maxsize=64)
def _zone_select(
    offer: ZoneOffer, chosen: object, name: str, attributes: tuple[tuple[str, object], ...]
) -> Markup:
    options = "".join(
        Select.render_option(Choice(zone.name, zone.label, zone.name == chosen, None))
        for zone in offer.choices
    )
    return Markup(f"<select {html_params(name=name, **dict(attributes))}>{options}</select>")


ZONE_NOT_LISTED = "Choose a time zone from the list."


class TimeZoneField(SelectField):
    """The zone the patient reads times in, an IANA name, offered by the names people know.

    Lists the chosen zone and the hospital's first, then the common ones, or those matching
    `<name>_search` (a city or country), or every zone with `<name>_list=all`: see zone_picker. A search
    that names one zone (zone_picker.named) chooses it: the times are then shown in it.
    """

    widget = ZoneSelect()

    def __init__(self, label: str | None = None, **kwargs):
        kwargs.setdefault("invalid_value_message", ZONE_NOT_LISTED)
        super().__init__(label, choices=[], **kwargs)
        self.search, self.everything, self.replaced = "", False, False

    def process(self, formdata, data=unset_value, extra_filters=None) -> None:
        super().process(formdata, data, extra_filters)
        if formdata is not None:
            self.search = formdata.get(f"{self.name}_search", "")[:60]
            self.everything = formdata.get(f"{self.name}_list") == "all"
            if found := zone_picker.named(self.search):
                self.data = found
        self.data = self.listed  # a booking made now stores the name the zone is listed by

    @property
    def listed(self) -> object:
        """The chosen zone by the name it is listed by (the browser may say Europe/Kiev: Europe/Kyiv)."""
        return listed_name(self.data) if isinstance(self.data, str) else self.data

    @property
    def offer(self) -> ZoneOffer:
        """What the select lists, with today's offsets: enough to tell what a search found, on any day."""
        return self.offer_on(None)

    def offer_on(self, day: date | None) -> ZoneOffer:
        """What the select lists, each zone's offset as on `day` (by default today): the first day whose
        times the page shows, which may be after a clock change. Worked out when the page is drawn (after
        chosen()); the same object each time for the same day."""
        chosen_and_hospital = (self.data, default_time_zone())
        known = [name for name in chosen_and_hospital if isinstance(name, str) and name in zone_names_set()]
        first = [listed_name(name) for name in known]
        return zone_picker.offer(first, day or datetime.now(UTC).date(), self.search, self.everything)

    @property
    def search_error(self) -> str:
        """What is wrong with the search for a zone (`<name>_search`): it found none. Empty if nothing."""
        if self.offer.search and not self.offer.found:
            return f"No time zone matches “{self.offer.search}”. Try the nearest big city, or the country."
        return ""

    def iter_choices(self):
        self.choices = [SelectChoice(choice.name, choice.label) for choice in self.offer.choices]
        return super().iter_choices()

    def pre_validate(self, form: FlaskForm) -> None:
        try:
            zone(self.data)
        except InvalidTimeZone:
            raise ValidationError(ZONE_NOT_LISTED) from None
        if self.replaced:
            raise ValidationError(ZONE_NOT_LISTED)

    def _value(self) -> str:
        return self.data or ""

    def chosen(self, form: FlaskForm, fallback: str) -> ZoneInfo:
        """The chosen zone; `fallback` (with the error beside the field) when the choice is unknown. The
        field then stays wrong when the form is validated again: the fallback is for showing times, and a
        booking or waitlist place in a zone the person never chose would be at a time they did not mean."""
        if not self.validate(form):
            self.data, self.replaced = (
                fallback,
                True,
            )  # the select then shows the zone the times are really in
        return zone(self.data)


def has_problem(form: FlaskForm) -> bool:
    """Whether `form` is shown with a problem to fix, beside a field: an error, or a time-zone search
    that found nothing. The page's title then starts "Error:", the first thing a screen reader says."""
    return bool(form.errors) or any(isinstance(field, TimeZoneField) and field.search_error for field in form)


class ReasonField(TextAreaField):
    """Optional free text, checked and tidied with the booking rules' limits."""

    def pre_validate(self, form: FlaskForm) -> None:
        try:
            self.data = check_reason(self.data)
        except InvalidDetails as invalid:
            raise ValidationError(invalid.errors["reason"]) from None


class DatePartsField(Field):
    """A date typed in three boxes, day, month and year (named `<name>-day` and so on), as typed.

    The booking rules read the parts (patients.check_patient_details), so the pages and the API
    explain a wrong date in the same words.
    """

    PARTS = (("day", "Day", 2), ("month", "Month", 2), ("year", "Year", 4))  # name, label, width

    def __init__(self, label: str | None = None, *, autocomplete: str = "", **kwargs):
        super().__init__(label, **kwargs)
        self.autocomplete = autocomplete  # e.g. "bday": the boxes then say bday-day, bday-month, bday-year

    def process(self, formdata, data=unset_value, extra_filters=None) -> None:
        super().process(None, data, extra_filters)
        self.data = DateParts("", "", "")
        if formdata is not None:
            self.data = DateParts(
                *(formdata.get(f"{self.name}-{part}", "")[:20] for part, _, _ in self.PARTS)
            )

    def parts(self) -> list[tuple[str, str, str, int]]:
        """Each box's name, label, value and width in characters, for the template."""
        return [
            (f"{self.name}-{part}", label, value, width)
            for (part, label, width), value in zip(self.PARTS, self.data, strict=True)
        ]


class FirstDayField(DateField):
    """The first day a picker shows: a link's value, so a malformed one shows from today instead."""

    widget = HiddenInput()

    def process_formdata(self, valuelist: list[str]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
        if self.data and not MINYEAR < self.data.year < MAXYEAR:  # a page's days around it would overflow
            self.data = None


def default_time_zone() -> str:
    """The hospital's zone, shown until the patient (or their browser) picks their own."""
    return current_app.config["DEFAULT_TIME_ZONE"]


class TimePickerFields(FlaskForm):
    """A day and a time, shown in the patient's zone: the booking and rescheduling pickers."""

    time_zone = TimeZoneField("Show times in this time zone", default=default_time_zone)
    day = FirstDayField()
    start = InstantField(validators=[InputRequired("Choose a time.")])


class ChoiceFields(TimePickerFields):
    """Everything the steps before the patient's details choose."""

    service = IdField(
        validators=[InputRequired("Choose a service.")], invalid="Choose a service from the list."
    )
    clinician = ClinicianField(
        validators=[InputRequired("Choose a clinician, or first available.")],
        invalid="Choose a clinician from the list.",
    )


class ChoiceForm(ChoiceFields):
    """The choosing steps, submitted with GET so the back button and bookmarks work."""

    class Meta:
        csrf = False


class PatientFields(FlaskForm):
    """The patient's details and their consent, checked with the booking rules: for booking, and for
    joining the waitlist (whose offers book in one step)."""

    name = StringField("Full name", render_kw={"autocomplete": "name", "maxlength": MAX_NAME})
    email = EmailField("E-mail address", render_kw={"autocomplete": "email", "spellcheck": "false"})
    phone = TelField("Phone number", render_kw={"autocomplete": "tel"})
    birth_date = DatePartsField("Date of birth", autocomplete="bday")
    consent = BooleanField(
        "I agree that the hospital may use these details to arrange and hold my consultation",
        validators=[DataRequired("Tick the box to agree, or we cannot book the consultation.")],
    )
    email_required = True  # staff booking by phone may leave it out
    consent_method = ConsentMethod.ONLINE  # staff tick the box for a patient who agreed on the phone
    whose = "your"  # whose details the messages ask for: staff are asked for the patient's

    def checked_patient(self, today: date) -> PatientDetails | None:
        """The patient's details; None, with the messages beside their fields, if any is wrong."""
        return self._checked(
            "",
            lambda: check_patient_details(
                name=self.name.data,
                email=self.email.data,
                phone=self.phone.data,
                birth_date=self.birth_date.data,
                time_zone=self.time_zone.data,
                today=today,
                email_required=self.email_required,
                smtputf8=current_app.config["MAIL_SMTPUTF8"],
                whose=self.whose,
                language=reader_language(),
            ),
        )

    def consent_given(self) -> Consent:
        """The consent the ticked box records: the current privacy notice, and how it was given."""
        return Consent(current_app.config["PRIVACY_NOTICE_VERSION"], self.consent_method)

    def _checked(self, prefix: str, check: Callable[[], _Checked]) -> _Checked | None:
        """What `check` returns; None, with its messages beside the fields prefix + name, if it refuses."""
        try:
            return check()
        except InvalidDetails as invalid:
            show_beside_fields(self, invalid.errors, prefix)
            return None


class DetailsForm(ChoiceFields, PatientFields):
    """The patient's details, and anyone joining them, with the choices so far; also the review form."""

    reason = ReasonField("Reason for the visit (optional)", render_kw={"maxlength": MAX_REASON, "rows": 4})
    companion_name = StringField("Their full name", render_kw={"autocomplete": "off", "maxlength": MAX_NAME})
    companion_email = EmailField(
        "Their e-mail address", render_kw={"autocomplete": "off", "spellcheck": "false"}
    )
    # Radios drawn by the template (see details.html); checked with the companion rules, not WTForms'.
    companion_role = StringField("Who are they?")
    idempotency_key = IdempotencyKeyField()
    # The time booking refused, carried by the page that offers others instead (views.confirm).
    refused = InstantField(validators=[Optional()])

    COMPANION_ROLES = tuple((role.value, role.value.capitalize()) for role in CompanionRole)

    def checked_request(self, today: date) -> BookingRequest | None:
        """The request to book; None, with the errors beside their fields, if anything is wrong.

        Checks the form (CSRF, consent, reason), then the patient's and any companion's details with
        the booking rules, so every mistake shows at once.
        """
        valid = self.validate()
        patient = self.checked_patient(today)
        companion_given = any((self.companion_name.data, self.companion_email.data, self.companion_role.data))
        companion = None
        if companion_given:
            companion = self._checked(
                "companion_",
                lambda: check_companion_details(
                    name=self.companion_name.data,
                    email=self.companion_email.data,
                    role=self.companion_role.data,
                    smtputf8=current_app.config["MAIL_SMTPUTF8"],
                ),
            )
        if not valid or patient is None or (companion_given and companion is None):
            return None
        return BookingRequest(
            service_id=self.service.data,
            start=self.start.data,
            patient=patient,
            clinician_id=self.clinician.data,
            reason=self.reason.data,
            idempotency_key=self.idempotency_key.data,
            companion=companion,
            consent=self.consent_given(),
        )


class CancelForm(FlaskForm):
    """Cancelling a booking, with an optional reason for the clinic."""

    reason = ReasonField("Why are you cancelling? (optional)", render_kw={"maxlength": MAX_REASON, "rows": 3})


class RescheduleForm(TimePickerFields):
    """A new time for a booking: the zone and day with GET, the chosen time with POST."""

    # The booking's time as the page showed it: the form sent again (a double click) asks to move from there
    # to the time its first sending moved the booking to.
    moving_from = InstantField(validators=[Optional()])

    @property
    def moved_already(self) -> bool:
        """Whether the booking being at the chosen time (reschedule's AlreadyAtThatTime) is this form's own
        move, made by its first sending: its page showed the booking elsewhere."""
        return self.moving_from.data not in (None, self.start.data)
