"""A service as offered to book: active, in an active department, read as plain columns or as entities."""

from dataclasses import dataclass, fields

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from ..models import Department, Service
from ..models.driver import Statement, driver_rows
from .errors import NotFound


@dataclass(frozen=True)
class DepartmentSummary:
    """A department read as plain columns, as pages name it: an OfferedService's, a clinician's own
    schedule's (visibility.schedule_scope)."""

    id: int
    name: str
    contact_phone: str


# The columns a DepartmentSummary is read from, in its order.
DEPARTMENT_SUMMARY = [getattr(Department, field.name) for field in fields(DepartmentSummary)]


@dataclass(frozen=True)
class OfferedService:
    """An offered service as the slot engine and the patient's booking steps see it: its booking rules and
    what the pages show of it and its department, named as on `Service`.

    Read as plain columns (see `offered_service`) by callers that change nothing of the service, without
    loading it and its department as ORM entities.
    """

    id: int
    name: str
    description: str
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    slot_interval_minutes: int
    min_notice_minutes: int
    horizon_days: int
    cancel_cutoff_minutes: int
    department: DepartmentSummary


def active_service(session: Session, service_id: int) -> Service:
    """The service, with its department, if both are active; else NotFound."""
    service = (
        session.execute(_SERVICE, {"id": service_id}).scalar_one_or_none()
        if isinstance(service_id, int)
        else None
    )
    if service is None or not service.offered:
        raise _not_offered()
    return service


# The department in the same round trip: a booking checks it every time. Built once: `session.get`
# builds its statement anew on each call, which costs a booking a third of this lookup's CPU.
_SERVICE = select(Service).options(joinedload(Service.department)).where(Service.id == bindparam("id"))


def offered_service(session: Session, service_id: int) -> OfferedService:
    """What `active_service` answers, as an OfferedService: the same check, made each time it is asked
    (an admin's change shows at once), for half the CPU of loading the two entities, and with less of
    SQLAlchemy's code run: a page served by a worker that idled meanwhile pays for each part it touches."""
    return offered_from(driver_rows(session, *offered_lookup(service_id)))


def offered_lookup(service_id: int) -> Statement:
    """`offered_service`'s query, for a caller that sends it with others (`driver_batch`); its rows go to
    `offered_from`."""
    return _OFFERED, {"id": service_id if isinstance(service_id, int) else 0}  # ids start at 1: 0 is none


def offered_from(rows: list[tuple]) -> OfferedService:
    """The service `offered_lookup` found, or NotFound."""
    if not rows:
        raise _not_offered()
    service, department = rows[0][: len(_SERVICE_COLUMNS)], rows[0][len(_SERVICE_COLUMNS) :]
    return OfferedService(*service, department=DepartmentSummary(*department))


_SERVICE_COLUMNS = [getattr(Service, f.name) for f in fields(OfferedService) if f.name != "department"]
# The active flags in the WHERE clause: a service withdrawn, or of a closed department, is no row.
_OFFERED = (
    select(*_SERVICE_COLUMNS, *DEPARTMENT_SUMMARY)
    .join(Department, Department.id == Service.department_id)
    .where(Service.id == bindparam("id"), Service.active.is_(True), Department.active.is_(True))
)


def _not_offered() -> NotFound:
    return NotFound("No such service is offered.", field="service")
