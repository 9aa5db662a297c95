"""The admin's list of staff accounts: filtered by role and by whether they may sign in, a page at a time."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..models import Clinician, Department, StaffRole, StaffUser

PER_PAGE = 50


@dataclass(frozen=True)
class StaffPage:
    rows: list[StaffUser]
    page: int
    has_next: bool


def staff_page(
    session: Session,
    *,
    role: StaffRole | None = None,
    active: bool | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> StaffPage:
    """One page of accounts by name, with their clinician and department; None filters nothing."""
    query = select(StaffUser).options(joinedload(StaffUser.clinician), joinedload(StaffUser.department))
    if role is not None:
        query = query.where(StaffUser.role == role)
    if active is not None:
        query = query.where(StaffUser.active.is_(active))
    query = query.order_by(StaffUser.display_name, StaffUser.id).offset((page - 1) * per_page)
    rows = list(session.scalars(query.limit(per_page + 1)))  # one more tells whether there is a next page
    return StaffPage(rows[:per_page], page, len(rows) > per_page)


def link_choices(session: Session) -> tuple[list[Clinician], list[Department]]:
    """What a login may be linked to: every clinician and every department, by name."""
    clinicians = session.scalars(select(Clinician).order_by(Clinician.display_name, Clinician.id))
    departments = session.scalars(select(Department).order_by(Department.name, Department.id))
    return list(clinicians), list(departments)


def clinicians_with_logins(session: Session) -> set[int]:
    """The ids of the clinicians that have a login (one each, at most)."""
    return set(session.scalars(select(StaffUser.clinician_id).where(StaffUser.clinician_id.is_not(None))))
