"""Departments as admins keep them: a name, the phone number patients call, and whether they are open.
Closing one closes its walk-in queues too; opening it again leaves them to be opened one by one."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import Actor
from ..models import Department
from ..models.transactions import lock_rule, write_transaction
from ..scheduling.errors import NotFound
from .records import InvalidSetting, Page, apply_changes, one_line, paged, phone_text, taken
from .walk_in_queues import close_queues_of


@dataclass(frozen=True)
class DepartmentSettings:
    name: str
    contact_phone: str
    active: bool


def departments_page(session: Session, page: int) -> Page[Department]:
    """Every department, closed ones too, by name."""
    return paged(session, select(Department).order_by(Department.name, Department.id), page)


def all_departments(session: Session) -> list[Department]:
    """Every department by name: what a department can be chosen from."""
    return list(session.scalars(select(Department).order_by(Department.name, Department.id)))


def save_department(
    session: Session,
    department_id: int | None,
    settings: DepartmentSettings,
    *,
    now: datetime,
    actor: Actor,
    drawn: int | None = None,
) -> Department:
    """Create a department (`department_id` None) or change one as its page drew it (`drawn`, see
    `apply_changes`); commits and audits what changed."""
    name = one_line(settings.name, "name", limit=120, missing="Enter the department's name.")
    phone = phone_text(settings.contact_phone, "contact_phone")
    with write_transaction(session):
        department = Department() if department_id is None else session.get(Department, department_id)
        if department is None:
            raise NotFound("There is no such department.")
        lock_rule(session, "department names")
        others = select(Department.name).where(Department.id != (department_id or 0))
        if taken(session, others, name):
            raise InvalidSetting("Another department has this name.", field="name")
        fields = {"name": name, "contact_phone": phone, "active": settings.active}
        changed = apply_changes(
            session, department, fields, action="department.saved", now=now, actor=actor, drawn=drawn
        )
        if "active" in changed and not department.active:
            close_queues_of(session, department.id, now=now, actor=actor)
    return department
