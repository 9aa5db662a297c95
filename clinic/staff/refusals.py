"""Refusals in the audit trail: a signed-in staff member refused a page or an API call (403), or told that a
consultation of another department does not exist (404), leaves an event naming who, which route and which
record, by id only, so "who tried to look at this patient's record?" has an answer.

A refusal asked for again and again (a page's poll, reloads) is recorded once in a while, as the day page's
polled list is: one event per person and record within `COVERED_FOR`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from .. import audit
from ..audit import REFUSED, Actor
from ..models.transactions import write_transaction

COVERED_FOR = timedelta(minutes=15)  # as the day page's polled list (schedule.lists.POLL_COVERED_FOR)
# Route values that name the consultation a refused route is about; other ids go into the details.
CONSULTATION_ID = "consultation_id"


@dataclass(frozen=True)
class Refusal:
    """A refused request: its route (the endpoint), method, status, and the ids its URL named."""

    route: str
    method: str
    status: int
    ids: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, route: str, method: str, status: int, route_values: Mapping[str, object]) -> "Refusal":
        """The refusal of a request to `route` with these values: ids only, whatever else its URL held."""
        named = route_values.items()
        ids = {name: value for name, value in named if name.endswith("_id") and type(value) is int}
        return cls(route, method, status, ids)

    @property
    def audited(self) -> bool:
        """Every 403 is; a 404 where it may hide a consultation (elsewhere it says only "no such page")."""
        return self.status == 403 or (self.status == 404 and CONSULTATION_ID in self.ids)

    @property
    def record(self) -> tuple[str, str]:
        """What its event is about: the consultation the route names, else the route itself."""
        if CONSULTATION_ID in self.ids:
            return "consultation", str(self.ids[CONSULTATION_ID])
        return "page", self.route

    def details(self) -> dict:
        others = {name: value for name, value in self.ids.items() if name != CONSULTATION_ID}
        return {"route": self.route, "method": self.method, "status": self.status, **others}


def record_refusal(session: Session, refusal: Refusal, actor: Actor, now: datetime) -> None:
    """Audit `refusal` of `actor`'s request in a transaction of its own, unless it is not audited or
    `actor` was refused the same record within `COVERED_FOR` before `now`."""
    if not refusal.audited:
        return
    entity_type, entity_id = refusal.record
    if audit.recorded_since(session, actor, REFUSED, entity_type, entity_id, now - COVERED_FOR):
        return
    with write_transaction(session):
        audit.record(
            session,
            actor,
            REFUSED,
            entity_type=entity_type,
            entity_id=entity_id,
            now=now,
            details=refusal.details(),
        )
