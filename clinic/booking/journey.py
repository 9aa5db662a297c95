"""Where a patient is in the booking steps: the choices their form carries, checked in order.

Each step's page carries the earlier choices in hidden fields. A page asked for with a
choice missing or wrong shows the step that makes that choice instead, the message beside it.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ..form_errors import show_beside
from ..hospital.catalogue import offered_services
from ..models import Clinician, Consultation, Service
from ..scheduling.availability import is_free, service_clinicians
from ..scheduling.errors import NotFound
from ..scheduling.lifecycle import change_deadline_for, first_changeable_start
from ..scheduling.offered import OfferedService, offered_service
from ..scheduling.slots import Slot
from ..scheduling.timezones import zone
from . import calendar
from .calendar import CalendarPage, Day
from .forms import ChoiceFields


@dataclass
class Journey:
    """The step to show, what the choices so far stand for, and what that step offers."""

    step: str
    zone: ZoneInfo
    now: datetime
    twelve_hour: bool = False  # the reader's clock (calendar.twelve_hour_reader)
    service: OfferedService | None = None
    clinician: Clinician | None = None  # None past the clinician step: the first available
    start: datetime | None = None
    services: list[Service] = field(default_factory=list)
    clinicians: list[Clinician] = field(default_factory=list)
    calendar: CalendarPage | None = None
    booked_here: Consultation | None = None  # this visitor's own booking of the chosen time

    @property
    def clinician_id(self) -> int | None:
        return self.clinician.id if self.clinician else None

    @property
    def today(self) -> date:
        """The patient's date today, in their zone."""
        return self.now.astimezone(self.zone).date()

    @property
    def change_deadline(self) -> datetime:
        """Until when the chosen time, once booked, could be changed online (maybe already past)."""
        return change_deadline_for(self.service, self.start)

    def times(self, slots: Iterable[Slot]) -> list[Day]:
        """Free times (e.g. those offered when the chosen one was taken) as the patient reads them."""
        return calendar.group_by_day(
            [slot.start for slot in slots],
            self.zone,
            changeable_from=first_changeable_start(self.service, self.now),
            twelve_hour=self.twelve_hour,
        )


# Finds the visitor's own booking of a service at a start, if any (`access.booked_here`).
OwnBooking = Callable[[OfferedService, datetime], Consultation | None]


class _Stop(Exception):
    """The choices end here; the field that stopped them holds the message, if any."""


def resolve(
    session: Session,
    form: ChoiceFields,
    target: str,
    *,
    now: datetime,
    days_shown: int,
    default_zone: str,
    check_free: bool = True,
    twelve_hour: bool = False,
    booked_here: OwnBooking | None = None,
) -> Journey:
    """How far towards the `target` step the form's choices go, and what that step offers.

    The steps are service, clinician, time and details. With `check_free` a chosen time must
    still be free; without, the booking itself checks it (and offers other times). A time the visitor
    has booked themselves (`booked_here`: Back from the confirmation comes to its details again) is
    shown with their booking, not refused as taken.
    """
    journey = Journey(step="service", zone=zone(default_zone), now=now, twelve_hour=twelve_hour)
    try:
        if target != "service":
            journey.service = _found(form, "service", lambda id: offered_service(session, id))
            journey.step = "clinician"
        if target in ("time", "details"):
            journey.clinician = _found(form, "clinician", lambda id: _clinician(session, journey.service, id))
            journey.step = "time"
            journey.zone = form.time_zone.chosen(form, default_zone)
            if form.time_zone.errors:
                raise _Stop
        if target == "details":
            journey.start = _found(form, "start", lambda start: start)
            journey.booked_here = booked_here and booked_here(journey.service, journey.start)
            if check_free and not journey.booked_here and not _still_free(session, journey):
                show_beside(form.start, "That time is no longer available. Please choose another.")
                raise _Stop
            journey.step = "details"
    except _Stop:
        pass
    _offer_choices(session, form, journey, days_shown)
    return journey


def _still_free(session: Session, journey: Journey) -> bool:
    return is_free(session, journey.service, journey.start, journey.now, journey.clinician_id)


def _found(form: ChoiceFields, name: str, lookup: Callable[[Any], Any]) -> Any:
    """The field's value looked up, or _Stop with the reason beside the field."""
    choice = form[name]
    if not choice.validate(form):
        raise _Stop
    try:
        return lookup(choice.data)
    except NotFound as missing:
        show_beside(choice, str(missing))
        raise _Stop from missing


def _clinician(session: Session, service: OfferedService, clinician_id: int | None) -> Clinician | None:
    return service_clinicians(session, service, clinician_id)[0] if clinician_id is not None else None


def _offer_choices(session: Session, form: ChoiceFields, journey: Journey, days_shown: int) -> None:
    if journey.step == "service":
        journey.services = offered_services(session)
    elif journey.step == "clinician":
        journey.clinicians = service_clinicians(session, journey.service)
    elif journey.step == "time":
        journey.calendar = calendar.page(
            session,
            journey.service,
            journey.clinician_id,
            journey.zone,
            form.day.data,
            journey.now,
            days_shown,
            twelve_hour=journey.twelve_hour,
        )
