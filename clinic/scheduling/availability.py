"""The slot search: a service's free times as a booker may book them, from its clinicians' calendars."""

import enum
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from ..audit import Actor
from ..models import Clinician, Consultation, ConsultationStatus, Service, clinician_service
from ..models.driver import Statement, driver_rows
from .calendars import Clinicians, read_calendars
from .errors import NotOffered
from .offered import OfferedService
from .slots import ClinicianCalendar, Slot, SlotRules, available_slots, available_starts


class Booker(enum.Enum):
    """Who books or moves a consultation, which decides the notice it needs: see `notice_minutes`."""

    PATIENT = "patient"  # themselves, online or through the API
    STAFF = "staff"  # on the patient's behalf: on the phone, at the desk, filling a sick colleague's day

    @classmethod
    def of(cls, actor: Actor) -> "Booker":
        """Who books, as the audit trail names them: staff, or anyone else, held to the patient's rule."""
        return cls.STAFF if actor.is_staff else cls.PATIENT


def notice_minutes(service: Service | OfferedService, booker: Booker) -> int:
    """How far ahead of its start a time may be booked or moved to: a patient by the service's minimum
    notice (the clinic's time to prepare for a stranger), staff up to its start, since they arrange it."""
    return service.min_notice_minutes if booker is Booker.PATIENT else 0


def rules_for(service: Service | OfferedService, booker: Booker = Booker.PATIENT) -> SlotRules:
    """The slot engine's rules for `service`, with the notice `booker` is held to."""
    return SlotRules(
        duration=service.duration_minutes,
        buffer_before=service.buffer_before_minutes,
        buffer_after=service.buffer_after_minutes,
        interval=service.slot_interval_minutes,
        min_notice=notice_minutes(service, booker),
        horizon_days=service.horizon_days,
    )


def reach(rules: SlotRules, window_start: datetime, window_end: datetime) -> tuple[datetime, datetime]:
    """The stored time that may stand in the way of a consultation starting in the window: what meets
    it widened by the service's buffers before, and by its length and buffer after."""
    return (
        window_start - timedelta(minutes=rules.buffer_before),
        window_end + timedelta(minutes=rules.duration + rules.buffer_after),
    )


def service_clinicians(
    session: Session, service: Service | OfferedService, clinician_id: int | None = None
) -> list[Clinician]:
    """The active clinicians offering `service` (just one when `clinician_id` is given), without their
    weekly hours: the slot search reads those inside its own statement (`read_calendars`)."""
    if clinician_id is None:
        return list(session.scalars(_SERVICE_CLINICIANS, {"service_id": service.id}))
    parameters = {"service_id": service.id, "clinician_id": clinician_id}
    clinicians = list(session.scalars(_SERVICE_CLINICIAN, parameters))
    if not clinicians:
        raise NotOffered()
    return clinicians


def clinician_name(session: Session, clinician_id: int) -> str:
    """The clinician's name as patients read it, as a plain column: for the answer about a booking just
    made, whose consultation has no Clinician loaded (loading one through the ORM, and ending the read
    transaction that began, cost the API's booking more CPU than the statement)."""
    ((name,),) = driver_rows(session, _CLINICIAN_NAME, {"id": clinician_id})
    return name


_CLINICIAN_NAME = select(Clinician.display_name).where(Clinician.id == bindparam("id"))


def find_slots(
    session: Session,
    service: Service | OfferedService,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    clinician_id: int | None = None,
    exclude_consultation: int | None = None,
    booker: Booker = Booker.PATIENT,
) -> list[Slot]:
    """Free slots of `service` starting in the window, across its clinicians or one of them, that
    `booker` may book."""
    rules = rules_for(service, booker)
    calendars = _service_calendars(
        session, service.id, rules, window_start, window_end, clinician_id, exclude_consultation
    )
    return available_slots(rules, calendars, window_start, window_end, now)


def find_starts(
    session: Session,
    service: Service | OfferedService,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    clinician_id: int | None = None,
    exclude_consultation: int | None = None,
    first: Sequence[Statement] = (),
    booker: Booker = Booker.PATIENT,
) -> list[datetime]:
    """The distinct starts of `find_slots`, sorted: the times to choose from, whoever is free at each.
    `first`: as for `is_free`."""
    rules = rules_for(service, booker)
    calendars = _service_calendars(
        session, service.id, rules, window_start, window_end, clinician_id, exclude_consultation, first
    )
    return available_starts(rules, calendars, window_start, window_end, now)


def find_new_starts(
    session: Session,
    moving: Consultation,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    clinician_id: int | None,
    booker: Booker,
    room_opens: timedelta | None = None,
) -> list[datetime]:
    """The starts in the window that `moving` may move to, with that clinician of its service or (None)
    whoever is free first, as `lifecycle.reschedule` accepts them: its own time stands in the way of none,
    its own start is a new time only with someone else (a handover at the same time), and a patient waiting
    goes only to a call whose waiting room is open already, `room_opens` before its start (`latest_start`)."""
    service, own = moving.service, moving.starts_at
    if (latest := latest_start(moving, now, room_opens)) is not None:
        window_end = min(window_end, latest + timedelta(minutes=1))  # the window's end is not a start
    if window_start >= window_end:
        return []
    starts = find_starts(
        session, service, window_start, window_end, now, clinician_id, moving.id, booker=booker
    )
    starts = [start for start in starts if latest is None or start <= latest]
    if own in starts and clinician_id in (None, moving.clinician_id):
        free = (
            free_clinician_ids(session, service, own, now, moving.id, booker) if clinician_id is None else []
        )
        if not any(not stays_put(moving, other, own) for other in free):
            starts.remove(own)
    return starts


def find_new_slots(
    session: Session,
    moving: Consultation,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    clinician_id: int | None,
    booker: Booker,
) -> list[Slot]:
    """The free times `booker` may move `moving` to, each with its clinician, by `find_new_starts`' rule: its
    own time stands in the way of none, its own start is a new time only with another clinician. None for a
    patient waiting, whom only staff hand on (`latest_start`)."""
    latest = latest_start(moving, now, None)
    slots = find_slots(
        session, moving.service, window_start, window_end, now, clinician_id, moving.id, booker
    )
    return [
        slot
        for slot in slots
        if not stays_put(moving, slot.clinician_id, slot.start) and (latest is None or slot.start <= latest)
    ]


def latest_start(moving: Consultation, now: datetime, room_opens: timedelta | None) -> datetime | None:
    """The latest start staff may move `moving` to at `now`, None if any: a patient who checked in stays
    checked in, so they may be handed only to a call they could be waiting for now, one whose waiting room
    opened `room_opens` before its start (None: no room is open, so no time), not moved to a later time
    (they would be "waiting" all along, and never a no-show)."""
    if moving.status is not ConsultationStatus.ARRIVED:
        return None
    return now + room_opens if room_opens is not None else datetime.min.replace(tzinfo=now.tzinfo)


def stays_put(moving: Consultation, clinician_id: int, start: datetime) -> bool:
    """Whether moving `moving` to `start` with `clinician_id` would leave it where it is: no move at all."""
    return (clinician_id, start) == (moving.clinician_id, moving.starts_at)


def _service_calendars(
    session: Session,
    service_id: int,
    rules: SlotRules,
    window_start: datetime,
    window_end: datetime,
    clinician_id: int | None,
    exclude_consultation: int | None,
    first: Sequence[Statement] = (),
) -> list[ClinicianCalendar]:
    """The calendars of the clinicians offering the service (just one when `clinician_id` is given),
    with only what may stand in the way of a consultation starting in the window: blocked time that
    meets it with the service's buffers, time off and closures that meet it with its length. A
    booking's one-second check so reads a booking or two per clinician, not three days of them."""
    lo, hi = reach(rules, window_start, window_end)
    if clinician_id is None:
        clinicians = Clinicians(_of_service, {"service_id": service_id})
    else:
        clinicians = Clinicians(
            _of_service_clinician, {"service_id": service_id, "clinician_id": clinician_id}
        )
    calendars = read_calendars(session, clinicians, lo, hi, exclude_consultation, first=first)
    if clinician_id is not None and not calendars:
        raise NotOffered()
    return calendars


def free_clinician_ids(
    session: Session,
    service: Service | OfferedService,
    start: datetime,
    now: datetime,
    exclude_consultation: int | None = None,
    booker: Booker = Booker.PATIENT,
) -> list[int]:
    """Ids of the clinicians of `service` free for it at `start`, for `booker`, in id order (the order their
    locks are taken in, so two who take several cannot deadlock)."""
    window = (start, start + timedelta(seconds=1))
    slots = find_slots(
        session, service, *window, now, exclude_consultation=exclude_consultation, booker=booker
    )
    return sorted({slot.clinician_id for slot in slots if slot.start == start})


def is_free(
    session: Session,
    service: Service | OfferedService,
    start: datetime,
    now: datetime,
    clinician_id: int | None = None,
    exclude_consultation: int | None = None,
    first: Sequence[Statement] = (),
    booker: Booker = Booker.PATIENT,
) -> bool:
    """Whether `booker` may start a consultation of `service` at `start` (with that clinician, or anyone).

    `first`: statements sent ahead of the read, in its round trip (see `driver_batch`), such as the
    clinician's lock: the read then sees what the lock's previous holder committed.
    """
    window_end = start + timedelta(seconds=1)
    starts = find_starts(
        session, service, start, window_end, now, clinician_id, exclude_consultation, first, booker
    )
    return start in starts


def _of_service(query: Select) -> Select:
    """`query` narrowed to the active clinicians offering the service `service_id`.

    An explicit join: `Clinician.services.contains(service)` builds the same SQL at ten times the cost.
    """
    return query.join(clinician_service, clinician_service.c.clinician_id == Clinician.id).where(
        clinician_service.c.service_id == bindparam("service_id"), Clinician.active.is_(True)
    )


def _of_service_clinician(query: Select) -> Select:
    return _of_service(query).where(Clinician.id == bindparam("clinician_id"))


# Built once, every value a bound parameter. Built on each call, the statement and its cache key made a
# named clinician's lookup cost 380 µs of CPU in one process, against 212 µs so.
_SERVICE_CLINICIANS = _of_service(select(Clinician).order_by(Clinician.id))
_SERVICE_CLINICIAN = _of_service_clinician(select(Clinician))
