"""Loading what the slot engine needs from the database, and asking it for free times."""

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..models import AvailabilityRule, Clinician, Consultation, ConsultationStatus, Service, TimeOff
from .errors import NotFound
from .slots import ClinicianCalendar, Slot, SlotRules, WeeklyHours, available_slots

# No consultation with its buffers lasts longer than this, so a window query can bound its
# index range scan from below: cost follows the window, not the length of the history.
MAX_BLOCK = timedelta(days=1)


def rules_for(service: Service) -> SlotRules:
    return SlotRules(
        duration=service.duration_minutes,
        buffer_before=service.buffer_before_minutes,
        buffer_after=service.buffer_after_minutes,
        interval=service.slot_interval_minutes,
        min_notice=service.min_notice_minutes,
        horizon_days=service.horizon_days,
    )


def active_service(session: Session, service_id: int) -> Service:
    service = session.get(Service, service_id) if isinstance(service_id, int) else None
    if service is None or not service.active or not service.department.active:
        raise NotFound("No such service is offered.", field="service")
    return service


def service_clinicians(session: Session, service: Service, clinician_id: int | None = None) -> list[Clinician]:
    """The active clinicians offering `service` (just one when `clinician_id` is given)."""
    query = (
        select(Clinician)
        .where(Clinician.services.contains(service), Clinician.active.is_(True))
        .options(selectinload(Clinician.availability_rules))
        .order_by(Clinician.id)
    )
    if clinician_id is not None:
        query = query.where(Clinician.id == clinician_id)
    clinicians = list(session.scalars(query))
    if clinician_id is not None and not clinicians:
        raise NotFound("That clinician does not offer this service.", field="clinician")
    return clinicians


def find_slots(
    session: Session,
    service: Service,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    clinician_id: int | None = None,
    exclude_consultation: int | None = None,
) -> list[Slot]:
    """Free slots of `service` starting in the window, across its clinicians or one of them."""
    clinicians = service_clinicians(session, service, clinician_id)
    calendars = load_calendars(session, clinicians, window_start, window_end, exclude_consultation)
    return available_slots(rules_for(service), calendars, window_start, window_end, now)


def is_free(
    session: Session,
    service: Service,
    start: datetime,
    now: datetime,
    clinician_id: int | None = None,
    exclude_consultation: int | None = None,
) -> bool:
    """Whether a consultation of `service` may start at `start` (with that clinician, or anyone)."""
    window_end = start + timedelta(seconds=1)
    slots = find_slots(session, service, start, window_end, now, clinician_id, exclude_consultation)
    return any(slot.start == start for slot in slots)


def load_calendars(
    session: Session,
    clinicians: list[Clinician],
    window_start: datetime,
    window_end: datetime,
    exclude_consultation: int | None = None,
) -> list[ClinicianCalendar]:
    """One query for busy time and one for time off, over the window widened by a day each side."""
    ids = [c.id for c in clinicians]
    if not ids:
        return []
    lo, hi = window_start - MAX_BLOCK, window_end + MAX_BLOCK
    busy_query = select(Consultation.clinician_id, Consultation.blocked_from, Consultation.blocked_until).where(
        Consultation.clinician_id.in_(ids),
        Consultation.status != ConsultationStatus.CANCELLED,
        Consultation.blocked_from >= lo - MAX_BLOCK,
        Consultation.blocked_from < hi,
        Consultation.blocked_until > lo,
    )
    if exclude_consultation is not None:
        busy_query = busy_query.where(Consultation.id != exclude_consultation)
    busy = defaultdict(list)
    for clinician_id, start, end in session.execute(busy_query):
        busy[clinician_id].append((start, end))
    time_off = defaultdict(list)
    off_query = select(TimeOff.clinician_id, TimeOff.starts_at, TimeOff.ends_at).where(
        TimeOff.clinician_id.in_(ids), TimeOff.starts_at < hi, TimeOff.ends_at > lo
    )
    for clinician_id, start, end in session.execute(off_query):
        time_off[clinician_id].append((start, end))
    return [
        ClinicianCalendar(
            clinician_id=c.id,
            time_zone=c.time_zone,
            hours=[_weekly_hours(rule) for rule in c.availability_rules],
            time_off=time_off[c.id],
            busy=busy[c.id],
        )
        for c in clinicians
    ]


def _weekly_hours(rule: AvailabilityRule) -> WeeklyHours:
    return WeeklyHours(rule.weekday, rule.start_time, rule.end_time, rule.valid_from, rule.valid_until)
