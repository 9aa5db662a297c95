"""A signed-in staff member as the services see them: one type for every area that asks "who is this?"."""

from dataclasses import dataclass

from ..audit import Actor
from ..models import ConsultationFacts, StaffRole


@dataclass(frozen=True)
class StaffMember:
    """Who asks (their account id, for the audit trail, and where from), their role, the clinician
    profile a clinician login belongs to, and the department whose bookings reception manage."""

    id: int
    role: StaffRole
    clinician_id: int | None = None
    department_id: int | None = None
    remote_addr: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor.staff(self.id, self.remote_addr)

    @property
    def is_clinician(self) -> bool:
        return self.role is StaffRole.CLINICIAN

    def is_clinician_of(self, consultation: ConsultationFacts) -> bool:
        """Whether this is the consultation's own clinician: who holds its call and may read its notes."""
        return self.clinician_id is not None and self.clinician_id == consultation.clinician_id
