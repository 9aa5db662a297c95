"""What the admin catalogue's services share: a refused setting, a page of rows, and saving changed fields."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..scheduling.errors import BookingError

PER_PAGE = 50
Row = TypeVar("Row")


class InvalidSetting(BookingError):
    """A value the catalogue refuses; `field` names the one to fix."""

    code = "invalid_setting"


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    page: int
    has_next: bool


def paged(session: Session, query: Select, page: int, per_page: int = PER_PAGE) -> Page:
    """One page of `query`'s rows (an ordered select of one entity)."""
    found = list(session.scalars(query.offset((page - 1) * per_page).limit(per_page + 1)))
    return Page(found[:per_page], page, len(found) > per_page)


def page_or_all(session: Session, query: Select, page: int | None, per_page: int = PER_PAGE) -> Page:
    """One page of `query`'s rows, or all of them (as one page) when `page` is None, as exports want."""
    if page is None:
        return Page(list(session.scalars(query)), 1, False)
    return paged(session, query, page, per_page)


def taken(session: Session, query: Select, value: str) -> bool:
    """Whether a value `query` selects equals `value` in any case. Compared in Python: SQLite's lower()
    leaves non-ASCII letters as they are."""
    return any(found.casefold() == value.casefold() for found in session.scalars(query))


def apply_changes(
    session: Session,
    row: Any,
    fields: dict[str, Any],
    *,
    action: str,
    now: datetime,
    actor: Actor,
) -> list[str]:
    """Set `fields` on `row` (flushed) and audit which changed, by name only; returns those names."""
    changed = [name for name, value in fields.items() if getattr(row, name) != value]
    for name in changed:
        setattr(row, name, fields[name])
    session.add(row)
    session.flush()
    if changed:
        entity = type(row).__tablename__
        audit.record(
            session,
            actor,
            action,
            entity_type=entity,
            entity_id=row.id,
            now=now,
            details={"changed": changed},
        )
    return changed
