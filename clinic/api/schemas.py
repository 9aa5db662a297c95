"""Reading API requests: typed field readers that collect one message per bad field.

Every reader returns a clean value or None and records what was wrong; `check()` then raises
one InvalidInput naming every bad field, so a client sees all its mistakes at once and no
malformed value ever reaches a service.
"""

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from difflib import get_close_matches
from typing import Any
from zoneinfo import ZoneInfo

from flask import Request
from werkzeug.exceptions import BadRequest

from ..models import MAX_ID
from ..scheduling.booking import BookingRequest, Consent
from ..scheduling.companions import CompanionDetails, check_companion_details
from ..scheduling.patients import (
    InvalidDetails,
    PatientDetails,
    check_patient_details,
    check_reason,
    is_language_tag,
)
from ..scheduling.timezones import InvalidTimeZone, NonExistentLocalTime, day_bounds, parse_instant, zone
from ..unstorable import MESSAGE, unstorable_fields

MAX_SLOT_DAYS = 31
YEARS = range(1900, 3000)  # keeps date arithmetic far from datetime's limits
_DIGITS = re.compile(r"[0-9]{1,10}")
# Visible ASCII but '"', as the key column allows; bare, or quoted as an RFC 8941 string.
# clinic/api/openapi.json gives the same pattern.
_IDEMPOTENCY_KEY = re.compile(r'([!#-~]{1,255})|"([!#-~]{1,255})"')
_BEARER = re.compile(r"Bearer +(\S{1,256})", re.IGNORECASE)
LANGUAGE_TAG_WANTED = "Give a language tag such as en-US, en-GB or fr."


MAX_NAME_SAID = 40  # of a field the API does not know, the length named back in its refusal
# The fields of each object a request sends, as clinic/api/openapi.json gives them: any other is refused,
# as a misspelt one would otherwise be ignored ("clinican" booking the first clinician free).
BOOKING_FIELDS = ("service", "clinician", "start", "time_zone", "consent", "reason", "patient", "companion")
PATIENT_FIELDS = ("name", "email", "phone", "birth_date", "language")
COMPANION_FIELDS = ("name", "email", "role")
CONSENT_FIELDS = ("privacy_notice_version",)
RESCHEDULE_FIELDS = ("start", "time_zone", "clinician")
CANCEL_FIELDS = ("reason",)


class InvalidInput(InvalidDetails):
    """A request whose fields do not fit the API's schema; `.errors` maps each field to a message."""

    code = "invalid_input"


class Fields:
    """Typed readers over one JSON object; nested objects share the parent's error list. With `known`, the
    object's fields, any other it holds is refused."""

    def __init__(
        self,
        source: Mapping[str, Any],
        prefix: str = "",
        errors: dict[str, str] | None = None,
        *,
        known: Collection[str] | None = None,
    ):
        self.source = source
        self.prefix = prefix
        self.errors: dict[str, str] = {} if errors is None else errors
        for name in source if known is not None else ():
            if name not in known:
                self.fail(name[:MAX_NAME_SAID], _unknown_field(name, known))

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(self.prefix + name, message)

    def check(self) -> None:
        """Raise InvalidInput if any reader failed."""
        if self.errors:
            raise InvalidInput(self.errors)

    def identifier(self, name: str, *, required: bool = True) -> int | None:
        """A positive integer id (JSON number; booleans and strings are refused)."""
        value = self._integer(self.source.get(name))
        if value is None and not required:
            return None
        if type(value) is not int or not 1 <= value <= MAX_ID:
            self.fail(name, "Give the id as a positive whole number.")
            return None
        return value

    def day(self, name: str) -> date | None:
        """A required calendar date, YYYY-MM-DD."""
        value = self.source.get(name)
        try:
            day = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            day = None
        if day is None or day.year not in YEARS:
            self.fail(name, "Give a date as YYYY-MM-DD.")
            return None
        return day

    def time_zone(self, name: str, *, required: bool = True) -> str | None:
        """An IANA time-zone name such as Europe/London."""
        value = self.source.get(name)
        if value is None and not required:
            return None
        try:
            zone(value)
        except InvalidTimeZone:
            self.fail(name, "Give an IANA time zone such as Europe/London.")
            return None
        return value

    def instant(self, name: str, time_zone: str | None) -> datetime | None:
        """An ISO-8601 date-time with an offset, or a wall-clock time in `time_zone`, as UTC."""
        try:
            instant = parse_instant(self.source.get(name), time_zone)  # type: ignore[arg-type]
        except NonExistentLocalTime:
            self.fail(name, "That local time does not exist: the clocks change then.")
            return None
        except (ValueError, InvalidTimeZone):
            self.fail(
                name, "Give a date-time like 2026-03-30T10:00:00+01:00, or without offset with a time_zone."
            )
            return None
        if instant.year not in YEARS:
            self.fail(name, "That date is out of range.")
            return None
        return instant

    def consent(self, name: str, notice_version: str) -> Consent | None:
        """The patient's agreement to the privacy notice they were shown: {"privacy_notice_version": …},
        which must be the current `notice_version` (an agreement to an older text is not one to this)."""
        given = self.source.get(name)
        if isinstance(given, Mapping):
            Fields(given, f"{self.prefix}{name}.", self.errors, known=CONSENT_FIELDS)
        if not isinstance(given, Mapping) or "privacy_notice_version" not in given:
            self.fail(
                name,
                "Show the patient the privacy notice (GET /privacy-notice) and send "
                '{"privacy_notice_version": <its version>} once they agree.',
            )
            return None
        if given["privacy_notice_version"] != notice_version:
            self.fail(
                f"{name}.privacy_notice_version",
                f"The privacy notice is now version {notice_version}: show the patient it and ask again.",
            )
            return None
        return Consent(notice_version)

    def nested(self, name: str, known: Collection[str]) -> "Fields | None":
        """The object under `name` of the fields `known`, read with the same error list (fields named
        name.field)."""
        value = self.source.get(name)
        if not isinstance(value, Mapping):
            self.fail(name, "This must be an object.")
            return None
        return Fields(value, f"{self.prefix}{name}.", self.errors, known=known)

    def adopt(self, error: InvalidDetails, skip: tuple[str, ...] = ()) -> None:
        """Record a service's field errors as this object's own."""
        for name, message in error.errors.items():
            if name not in skip:
                self.fail(name, message)

    def _integer(self, value: object) -> object:
        return value


class QueryFields(Fields):
    """The same readers over a query string, where numbers arrive as digits."""

    def _integer(self, value: object) -> object:
        return int(value) if isinstance(value, str) and _DIGITS.fullmatch(value) else value


@dataclass(frozen=True)
class SlotQuery:
    service_id: int
    clinician_id: int | None
    tz: ZoneInfo
    window_start: datetime
    window_end: datetime
    moving: str | None  # the reference of a booking being moved, whose own time stands in the way of none


@dataclass(frozen=True)
class RescheduleRequest:
    start: datetime
    clinician_id: int | None
    tz: ZoneInfo


def json_object(request: Request, *, optional: bool = False) -> Mapping[str, Any]:
    """The request's JSON object; 400 for another content type or bad JSON, 422 for a non-object.

    With `optional`, an empty body reads as {}.
    """
    if optional and not request.content_length and not request.data:
        return {}
    if not request.is_json:
        raise BadRequest("Send a JSON object with Content-Type: application/json.")
    try:
        body = request.get_json()
    except RecursionError as error:  # the json module gives up on very deep nesting
        raise BadRequest("The JSON is nested too deeply.") from error
    if not isinstance(body, dict):
        raise InvalidInput({"body": "The request body must be a JSON object."})
    if unstorable := dict.fromkeys(unstorable_fields(body), MESSAGE):
        raise InvalidInput(unstorable)
    return body


def slot_query(args: Mapping[str, str]) -> SlotQuery:
    """service, clinician (optional), start and end (local dates, end inclusive), tz, and moving (optional:
    a booking's reference)."""
    fields = QueryFields(args)
    service_id = fields.identifier("service")
    clinician_id = fields.identifier("clinician", required=False)
    tz_name = fields.time_zone("tz")
    first, last = fields.day("start"), fields.day("end")
    if first and last and not 0 <= (last - first).days < MAX_SLOT_DAYS:
        fields.fail("end", f"Give an end on or after the start, at most {MAX_SLOT_DAYS} days in all.")
    fields.check()
    tz = zone(tz_name)  # type: ignore[arg-type]
    window = day_bounds(first, tz)[0], day_bounds(last, tz)[1]  # type: ignore[arg-type]
    return SlotQuery(service_id, clinician_id, tz, *window, args.get("moving"))  # type: ignore[arg-type]


def booking_request(
    body: Mapping[str, Any],
    *,
    idempotency_key: str | None,
    now: datetime,
    notice_version: str,
    smtputf8: bool = False,
    language: str = "",
) -> BookingRequest:
    """A BookingRequest from the body of POST /bookings; `notice_version` is the privacy notice's
    (PRIVACY_NOTICE_VERSION), `smtputf8` the MAIL_SMTPUTF8 setting, `language` the request's
    Accept-Language, for a patient whose own `language` the body does not give. The date of birth is
    checked against the patient's date at `now` in their zone, as the booking pages check it."""
    fields = Fields(body, known=BOOKING_FIELDS)
    service_id = fields.identifier("service")
    clinician_id = fields.identifier("clinician", required=False)
    time_zone = fields.time_zone("time_zone")
    today = now.astimezone(zone(time_zone)).date() if time_zone else now.date()
    start = fields.instant("start", time_zone)
    consent = fields.consent("consent", notice_version)
    reason = ""
    try:
        reason = check_reason(body.get("reason"))
    except InvalidDetails as error:
        fields.adopt(error)
    patient = _patient(fields, time_zone, today, smtputf8, language)
    companion = _companion(fields, smtputf8) if body.get("companion") is not None else None
    fields.check()
    return BookingRequest(
        service_id,  # type: ignore[arg-type]
        start,  # type: ignore[arg-type]
        patient,  # type: ignore[arg-type]
        clinician_id,
        reason,
        idempotency_key,
        companion,
        consent,
    )


def reschedule_request(body: Mapping[str, Any], *, default_time_zone: str) -> RescheduleRequest:
    """The new start (a naive time is read in `time_zone`, else the booking's zone) and clinician."""
    fields = Fields(body, known=RESCHEDULE_FIELDS)
    time_zone = fields.time_zone("time_zone", required=False) or default_time_zone
    start = fields.instant("start", time_zone)
    clinician_id = fields.identifier("clinician", required=False)
    fields.check()
    return RescheduleRequest(start, clinician_id, zone(time_zone))  # type: ignore[arg-type]


def cancel_reason(body: Mapping[str, Any]) -> str:
    """The optional reason a patient gives for cancelling, within the limit their cancel page keeps."""
    fields = Fields(body, known=CANCEL_FIELDS)
    reason = ""
    try:
        reason = check_reason(body.get("reason"))
    except InvalidDetails as error:
        fields.adopt(error)
    fields.check()
    return reason


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    """The Idempotency-Key header (quoted as a structured-field string or bare), if sent."""
    value = headers.get("Idempotency-Key")
    if value is None:
        return None
    match = _IDEMPOTENCY_KEY.fullmatch(value)
    if not match:
        raise InvalidInput(
            {"Idempotency-Key": 'Use 1 to 255 visible ASCII characters other than ", bare or quoted.'}
        )
    return match.group(1) or match.group(2)


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of an `Authorization: Bearer` header, or "" (which matches no booking)."""
    match = _BEARER.fullmatch(headers.get("Authorization", "").strip())
    return match.group(1) if match else ""


def _patient(
    fields: Fields, time_zone: str | None, today: date, smtputf8: bool, language: str
) -> PatientDetails | None:
    def check(source: Mapping[str, Any]) -> PatientDetails:
        # Their mails' clock follows their language; a tag given wrongly is said so, not read as English.
        given = source.get("language")
        wrong = {} if given is None or is_language_tag(given) else {"language": LANGUAGE_TAG_WANTED}
        try:
            details = check_patient_details(
                name=source.get("name"),
                email=source.get("email"),
                phone=source.get("phone"),
                birth_date=source.get("birth_date"),
                time_zone=time_zone,
                today=today,
                smtputf8=smtputf8,
                language=language if given is None else given,
            )
        except InvalidDetails as invalid:
            raise InvalidDetails({**invalid.errors, **wrong}) from None
        if wrong:
            raise InvalidDetails(wrong)
        return details

    # The zone is reported once, at the top level.
    return _details(fields, "patient", PATIENT_FIELDS, check, skip=("time_zone",))


def _companion(fields: Fields, smtputf8: bool) -> CompanionDetails | None:
    return _details(
        fields,
        "companion",
        COMPANION_FIELDS,
        lambda source: check_companion_details(
            name=source.get("name"), email=source.get("email"), role=source.get("role"), smtputf8=smtputf8
        ),
    )


def _details(
    fields: Fields,
    name: str,
    known: Collection[str],
    check: Callable[[Mapping[str, Any]], Any],
    skip: tuple[str, ...] = (),
) -> Any:
    """The object under `name`, of the fields `known`, checked by a service's `check`; None, with its errors
    recorded, if wrong."""
    nested = fields.nested(name, known)
    if nested is None:
        return None
    try:
        return check(nested.source)
    except InvalidDetails as error:
        nested.adopt(error, skip=skip)
        return None


def _unknown_field(name: str, known: Collection[str]) -> str:
    """A field the object does not have, refused with the one it may mean, or with those it has."""
    meant = get_close_matches(name, known, n=1)
    return (
        f'No such field: did you mean "{meant[0]}"?' if meant else f"No such field: send {', '.join(known)}."
    )
