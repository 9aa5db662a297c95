"""What an audit event says: who asks (`Actor`), about which record, what changed; and the events recorded
about one record."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import Enum
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..models import AuditEvent
from ..models.driver import driver_rows

REFUSED = "access.refused"  # a signed-in staff member refused a page or an API call (see staff.refusals)


@dataclass(frozen=True)
class Actor:
    """Who asks, for the audit trail: "patient", "staff:<id>", "system" or "anonymous", and from where."""

    name: str = "patient"
    remote_addr: str | None = None

    @classmethod
    def staff(cls, user_id: int, remote_addr: str | None = None) -> "Actor":
        return cls(f"staff:{user_id}", remote_addr)

    @property
    def is_staff(self) -> bool:
        return self.name.startswith("staff:")


SYSTEM = Actor("system")


def new_event(
    actor: Actor, action: str, entity_type: str, entity_id: str | int, now: datetime, details: dict | None
) -> AuditEvent:
    """An event not yet chained: what happened, by whom, to which record, when."""
    return AuditEvent(
        occurred_at=now.astimezone(UTC),
        actor=actor.name,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        remote_addr=actor.remote_addr,
        details=details or {},
    )


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """An audit event's account of a change: the names of the fields changed, and for those that are not
    text (a number, a flag, a status, an id or a list of ids, a time) what they were and became, so an
    auditor can tell a queue paused from one closed. Text (names, phone numbers, notices) is named only."""
    changed = [name for name in after if before.get(name) != after[name]]
    shown = [name for name in changed if _auditable(before.get(name)) and _auditable(after[name])]
    details: dict[str, Any] = {"changed": changed}
    if shown:
        details["from"] = {name: _value(before.get(name)) for name in shown}
        details["to"] = {name: _value(after[name]) for name in shown}
    return details


def _auditable(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(item, int) for item in value)
    return value is None or isinstance(value, bool | int | float | Enum | date | time)


def _value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def events_for(session: Session, entity_type: str, entity_id: str | int) -> list[AuditEvent]:
    """Every event about one record, oldest first: a consultation's history on the staff pages."""
    query = select(AuditEvent).where(
        AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id)
    )
    return list(session.scalars(query.order_by(AuditEvent.id)))


# Through the (entity_type, entity_id) index: the events of one record (a list, a consultation) are few,
# however long the trail grows; the day page's polls look here at every poll.
_RECORDED_SINCE = (
    select(AuditEvent.id)
    .where(
        AuditEvent.entity_type == bindparam("entity_type"),
        AuditEvent.entity_id == bindparam("entity_id"),
        AuditEvent.action == bindparam("action"),
        AuditEvent.actor == bindparam("actor"),
        AuditEvent.occurred_at >= bindparam("since"),
    )
    .limit(1)
)


def recorded_since(
    session: Session, actor: Actor, action: str, entity_type: str, entity_id: str, since: datetime
) -> bool:
    """Whether `actor` has an event `action` about the record since `since`: for events recorded once in
    a while however often their cause repeats (a page polled, a refusal reloaded)."""
    parameters = {
        "entity_type": entity_type,
        "entity_id": entity_id,
        "action": action,
        "actor": actor.name,
        "since": since,
    }
    return bool(driver_rows(session, _RECORDED_SINCE, parameters))
