"""Who recorded each entry of a clinician's time off, and so what a staff member may change of it: the
audit trail's `clinician.time_off_added` says who (the time off table keeps only the times and the note)."""

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import Actor
from ..models import AuditEvent, StaffRole, StaffUser, TimeOff
from ..staff.members import StaffMember
from .errors import ChangeNotAllowed
from .hours import owned_row


class Recorder(NamedTuple):
    """The staff account that recorded an entry of time off."""

    user_id: int
    name: str
    role: StaffRole
    clinician_id: int | None  # the clinician whose own account it is, if it is one


def time_off_recorders(session: Session, clinician_id: int) -> dict[int, Recorder]:
    """Who recorded each of the clinician's time off, by the time off's id; time off recorded other than
    through the pages and services (a seed, an import) is missing, as is one by an account since deleted."""
    added = session.execute(
        select(AuditEvent.actor, AuditEvent.details)
        .where(
            AuditEvent.entity_type == "clinician",
            AuditEvent.entity_id == str(clinician_id),
            AuditEvent.action == "clinician.time_off_added",
        )
        .order_by(AuditEvent.seq)
    ).all()
    # The latest recording of an id counts: a database may give a removed row's id to a new one.
    actors = {details["time_off_id"]: actor for actor, details in added}
    accounts = {
        Actor.staff(user.id).name: Recorder(user.id, user.display_name, user.role, user.clinician_id)
        for user in session.scalars(select(StaffUser).where(StaffUser.id.in_(_user_ids(actors.values()))))
    }
    return {time_off_id: accounts[actor] for time_off_id, actor in actors.items() if actor in accounts}


def _user_ids(actors: Iterable[str]) -> set[int]:
    """The staff accounts' ids among audit actors' names ("staff:<id>", see Actor.staff)."""
    return {int(actor.partition(":")[2]) for actor in actors if Actor(actor).is_staff}


def removable_time_off(
    session: Session, viewer: StaffMember, clinician_id: int, recorders: dict[int, Recorder] | None = None
) -> set[int] | None:
    """The ids of the clinician's time off `viewer` may remove; None for all of it. Reception only what the
    desk recorded (a sick day, taken back when entered wrongly): the leave the clinician or an admin planned
    is theirs to change. `recorders`: `time_off_recorders`, if read already."""
    if viewer.role is not StaffRole.RECEPTION:
        return None
    if recorders is None:
        recorders = time_off_recorders(session, clinician_id)
    return {time_off_id for time_off_id, by in recorders.items() if by.role is StaffRole.RECEPTION}


def check_may_remove_time_off(
    session: Session, viewer: StaffMember, clinician_id: int, time_off_id: int
) -> None:
    """ChangeNotAllowed unless `viewer` may remove this time off (see `removable_time_off`); NotFound or
    RemovedAlready as removing it would say."""
    owned_row(session, TimeOff, clinician_id, time_off_id)
    removable = removable_time_off(session, viewer, clinician_id)
    if removable is not None and time_off_id not in removable:
        raise ChangeNotAllowed(
            "Only time off recorded at the desk can be removed here: "
            "ask the clinician or an admin to change it."
        )
