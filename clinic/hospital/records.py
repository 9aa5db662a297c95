"""What the admin catalogue's services share: a refused setting, the checks of what admins type, a page of
rows, and saving changed fields."""

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, inspect, select
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..models import AuditEvent
from ..plain_text import shows_nothing
from ..scheduling.errors import BookingError
from ..scheduling.patients import email_address, phone_number, plain_lines, required_text

PER_PAGE = 50
# The longest description (a service's, a queue's) in characters: a page of text patients read.
MAX_DESCRIPTION = 20_000
Row = TypeVar("Row")


class InvalidSetting(BookingError):
    """A value the catalogue refuses; `field` names the one to fix."""

    code = "invalid_setting"


class ChangedMeanwhile(InvalidSetting):
    """A row saved by someone else since its edit page was drawn; `changed` names the fields they changed."""

    code = "changed_meanwhile"

    def __init__(self, changed: list[str]) -> None:
        super().__init__(f"Changed since the page was drawn: {', '.join(changed)}.")
        self.changed = changed


def one_line(value: str, field: str, *, limit: int, missing: str | None = None) -> str:
    """Admin-typed one-line text (a name, a title, a label) checked as a patient's name is: spaces tidied,
    hidden characters refused, at most `limit` long; empty only when no `missing` message is given (text that
    draws nothing, such as a lone soft hyphen, is empty too: refused, it had no message to say why)."""
    if missing is None and shows_nothing(value):
        return ""
    errors: dict[str, str] = {}
    clean = required_text(value, field, limit, errors, missing=missing or "")
    if errors:
        raise InvalidSetting(errors[field], field=field)
    if missing is not None and not name_key(clean):  # zero-width spaces and the like alone show nothing
        raise InvalidSetting(missing, field=field)
    return clean


def name_key(text: str) -> str:
    """How a name reads, to tell names apart: in any case, accents composed or not, fullwidth and other
    compatibility forms as their plain letters (NFKC), invisible format characters (zero-width spaces, soft
    hyphens) left out, spaces tidied. Names of the same key look alike to the patients choosing among them."""
    visible = "".join(c for c in text if unicodedata.category(c) != "Cf")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold())
    return " ".join(folded.split())


def lines_text(value: str, field: str) -> str:
    """Admin-typed text over several lines (a description), checked as a patient's reason is, and at most
    MAX_DESCRIPTION characters."""
    try:
        clean = plain_lines(value).strip()
    except ValueError as refused:
        raise InvalidSetting(str(refused), field=field) from None
    if len(clean) > MAX_DESCRIPTION:
        raise InvalidSetting(
            f"Keep this under {MAX_DESCRIPTION:,} characters (it has {len(clean):,}).", field=field
        )
    return clean


def phone_text(value: str, field: str) -> str:
    """An admin-typed phone number for patients to call (their pages make it a tel: link), checked as a
    walk-in caller's is: one anyone can dial, with no words in it; empty for none."""
    if shows_nothing(value):
        return ""
    errors: dict[str, str] = {}
    clean = phone_number(value, errors, missing="", field=field)
    if errors:
        raise InvalidSetting(errors[field], field=field)
    return clean


def email_text(value: str, field: str) -> str:
    """An admin-typed e-mail address, checked and normalised as a patient's is (email_validator): mail
    goes to it."""
    errors: dict[str, str] = {}
    clean = email_address(value, errors, missing="Enter an e-mail address like name@hospital.example.")
    if errors:
        raise InvalidSetting(errors["email"], field=field)
    return clean


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
    """Whether a value `query` selects reads as `value` does (see `name_key`). Compared in Python: SQLite's
    lower() leaves non-ASCII letters as they are, and neither database folds the rest."""
    key = name_key(value)
    return any(name_key(found) == key for found in session.scalars(query))


def apply_changes(
    session: Session,
    row: Any,
    fields: dict[str, Any],
    *,
    action: str,
    now: datetime,
    actor: Actor,
    drawn: int | None = None,
) -> list[str]:
    """Set `fields` on `row` (flushed) and audit which changed (see `audit.changes`); returns their names.

    `drawn`: the row's `saved_version` its edit page was drawn at. If someone saved it since, ChangedMeanwhile
    names what they changed, and nothing is set: the page's values of those fields would undo their change.
    Callers hold the lock of their rule (`lock_rule`), so no save of the row comes between this and theirs.
    """
    if drawn is not None and row.id is not None:
        _check_unchanged(session, row, drawn)
    before = {name: getattr(row, name) for name in fields}
    changed = [name for name, value in fields.items() if before[name] != value]
    audited = [{name: _by_id(value) for name, value in values.items()} for values in (before, fields)]
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
            details=audit.changes(*audited),
        )
    return changed


def _by_id(value: Any) -> Any:
    """A list of rows that exist already (a clinician's services, a queue's clinicians) as their sorted ids,
    which the audit event shows; rows made for the change (a queue's hours, made anew) stay rows: named
    only, their new ids would say nothing."""
    if isinstance(value, list) and all(inspect(item).has_identity for item in value):
        return sorted(item.id for item in value)
    return value


def saved_version(session: Session, row: Any) -> int:
    """The id of the audit event of `row`'s last saved change (its `<table>.saved`), 0 if none: the
    version an edit page is drawn at, for `apply_changes` to tell a save by someone else since."""
    return session.scalar(select(func.max(AuditEvent.id)).where(*_saves_of(row))) or 0


def _check_unchanged(session: Session, row: Any, drawn: int) -> None:
    since = session.scalars(select(AuditEvent.details).where(*_saves_of(row), AuditEvent.id > drawn))
    changed = sorted({name for details in since for name in details.get("changed", ())})
    if changed:
        raise ChangedMeanwhile(changed)


def _saves_of(row: Any) -> tuple:
    """The audit events of `row`'s saves from its page: `<table>.saved`, as `apply_changes` records them."""
    return (
        AuditEvent.entity_type == row.__tablename__,
        AuditEvent.entity_id == str(row.id),
        AuditEvent.action == f"{row.__tablename__}.saved",
    )
