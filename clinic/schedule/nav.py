"""Links between the schedule's pages for whose schedule a page shows: its days and weeks, and the day's
updates. A toolbar has six of them and a week seven more, each a url_for with its query: the paths are
built once per page instead, and each link adds its query string."""

from datetime import date
from urllib.parse import urlencode

from flask import url_for


class ScheduleLinks:
    """Links to the schedule's views of one department (admins choose it) and clinician (if narrowed)."""

    def __init__(self, department_id: int | None, clinician_id: int | None) -> None:
        whose = {"department": department_id, "clinician": clinician_id}
        self._whose = {name: value for name, value in whose.items() if value is not None}
        self._paths: dict[str, str] = {}

    def __call__(self, view: str, day: date | None = None) -> str:
        """The address of `view` ("day", "week" or "updates") on `day`, or today's when None."""
        if view not in self._paths:
            self._paths[view] = url_for(f"schedule.{view}")
        query = {"date": day.isoformat(), **self._whose} if day else self._whose
        return f"{self._paths[view]}?{urlencode(query)}" if query else self._paths[view]
