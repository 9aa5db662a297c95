"""Who may read and write a consultation's notes: one rule, checked first by every notes service.

The consultation's own clinician may, and so may staff whose role CLINIC_NOTES_ROLES lists.
Reception never may, whatever is configured. Everyone else gets NoteNotFound, exactly as for an id
that does not exist, so the answer tells them nothing.
"""

from sqlalchemy.orm import Session

from ..models import Consultation, ConsultationFacts, StaffRole, StaffUser
from ..staff.members import StaffMember
from .errors import NoteNotFound


def granted_roles(setting: str | None) -> frozenset[StaffRole]:
    """The roles CLINIC_NOTES_ROLES gives every consultation's notes, as config.py read it ("admin,clinician":
    it takes no other names)."""
    return frozenset(StaffRole(name) for name in (setting or "").split(",") if name)


def reads_every_note(requester: StaffMember, granted: frozenset[StaffRole]) -> bool:
    """Whether `requester`'s role is given every consultation's notes (reception's never is)."""
    return requester.role is not StaffRole.RECEPTION and requester.role in granted


def may_access(
    requester: StaffMember, consultation: ConsultationFacts, granted: frozenset[StaffRole]
) -> bool:
    """Whether `requester` may read and write `consultation`'s notes."""
    if requester.role is StaffRole.RECEPTION:
        return False
    return reads_every_note(requester, granted) or requester.is_clinician_of(consultation)


def keeps_draft(
    requester: StaffMember, author: StaffUser, consultation: ConsultationFacts, granted: frozenset[StaffRole]
) -> bool:
    """Whether `requester` (who may open `consultation`'s notes) may read, change and sign its open draft,
    which `author` started: its author's while they may open these notes; once they may not (the
    consultation handed to a colleague, their account closed), whoever may now, or nobody could ever
    finish the note."""
    if requester.id == author.id:
        return True
    member = StaffMember(author.id, author.role, author.clinician_id, author.department_id)
    return not (author.active and may_access(member, consultation, granted))


def consultation_for(
    session: Session,
    consultation_id: int,
    requester: StaffMember,
    granted: frozenset[StaffRole],
    *,
    lock: bool = False,
) -> Consultation:
    """The consultation whose notes `requester` asks for, locked when `lock` (writes serialise on
    it); NoteNotFound when it does not exist or they may not see its notes."""
    consultation = session.get(Consultation, consultation_id, with_for_update=lock, populate_existing=lock)
    if consultation is None or not may_access(requester, consultation, granted):
        raise NoteNotFound("There is no consultation here whose notes you can open.")
    return consultation
