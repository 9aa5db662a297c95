"""The JSON shapes of the API's resources: one function per resource, times in the viewer's zone."""

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from ..models import Consultation, Service
from ..scheduling.lifecycle import online_change_deadline
from ..scheduling.offered import OfferedService
from ..scheduling.slots import Slot
from ..scheduling.timezones import zone
from ..scheduling.waiting_room import JoinWindow, join_url_if_open


def instant_json(instant: datetime, tz: ZoneInfo) -> str:
    """RFC 3339 with the offset `tz` has at that instant, e.g. 2026-03-30T10:00:00+01:00."""
    return instant.astimezone(tz).isoformat(timespec="seconds")


# Patients look at the same weeks: each search writes a few hundred instants, mostly those written for
# the searches before it. For the slot engine's instants, in UTC: an equal key is the same instant.
_written_instant = lru_cache(maxsize=8192)(instant_json)


def service_json(service: Service) -> dict[str, Any]:
    department = service.department
    return {
        "id": service.id,
        "name": service.name,
        "description": service.description,
        "department": department.name,
        "department_id": department.id,
        "duration_minutes": service.duration_minutes,
        "min_notice_minutes": service.min_notice_minutes,
        "horizon_days": service.horizon_days,
        "cancel_cutoff_minutes": service.cancel_cutoff_minutes,
        "clinicians": [
            {"id": c.id, "name": c.display_name, "title": c.title} for c in service.clinicians if c.active
        ],
    }


def slots_json(slots: Iterable[Slot], tz: ZoneInfo) -> list[dict[str, Any]]:
    """Free times in `tz`. Each instant is written once: clinicians share starts, and ends are starts."""
    text = _InstantsJson(tz)
    return [{"start": text[start], "end": text[end], "clinician": who} for start, end, who in slots]


class _InstantsJson(dict):
    """instant -> instant_json(instant, tz), each looked up once per search; a hit is a plain dict lookup
    (a week of free times asks for about 2,000, of 200 distinct instants)."""

    def __init__(self, tz: ZoneInfo) -> None:
        super().__init__()
        self.tz = tz

    def __missing__(self, instant: datetime) -> str:
        text = self[instant] = _written_instant(instant, self.tz)
        return text


def booking_json(
    consultation: Consultation,
    service: Service | OfferedService | None = None,
    *,
    now: datetime,
    window: JoinWindow,
    clinician_name: str | None = None,
) -> dict[str, Any]:
    """A booking as its patient sees it at `now`, in their zone; never the reason for the visit, and the
    call's link only while its waiting room is open. `service`: the consultation's, if the caller has it (a
    booking just made: see `Booked`); else it is loaded. `clinician_name` likewise."""
    tz = zone(consultation.patient_time_zone)
    service = service or consultation.service
    deadline = online_change_deadline(consultation, service)
    return {
        "reference": consultation.reference,
        "status": consultation.status.value,
        "start": instant_json(consultation.starts_at, tz),
        "end": instant_json(consultation.ends_at, tz),
        "time_zone": tz.key,
        "service": service.id,
        "service_name": service.name,
        "clinician": consultation.clinician_id,
        "clinician_name": consultation.clinician.display_name if clinician_name is None else clinician_name,
        "join_url": join_url_if_open(consultation, now, window),
        "changeable_until": None if deadline is None else instant_json(deadline, tz),
        "contact_phone": service.department.contact_phone,
        "companion": companion_json(consultation),
    }


def companion_json(consultation: Consultation) -> dict[str, Any] | None:
    """Who else is invited, as the patient knows them: their name and role (their link is theirs alone)."""
    companion = consultation.companion
    return None if companion is None else {"name": companion.name, "role": companion.role.value}
