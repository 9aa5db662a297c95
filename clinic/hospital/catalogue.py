"""What the hospital offers to patients: the services they can book."""

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager, selectinload

from ..models import Department, Service


def offered_services(session: Session) -> list[Service]:
    """Active services of active departments, by department then name, clinicians loaded."""
    query = (
        select(Service)
        .join(Service.department)
        .where(Service.active.is_(True), Department.active.is_(True))
        .options(contains_eager(Service.department), selectinload(Service.clinicians))
        .order_by(Department.name, Service.name, Service.id)
    )
    return list(session.scalars(query))


def contact_numbers(session: Session) -> list[tuple[str, str]]:
    """(department, phone) of every active department that has a phone number, by name."""
    query = (
        select(Department.name, Department.contact_phone)
        .where(Department.active.is_(True), Department.contact_phone != "")
        .order_by(Department.name)
    )
    return [(name, phone) for name, phone in session.execute(query)]
