"""Audit events about staff accounts: one shape for every service in this package.

Events name the account by id and carry ids and field names only: never an e-mail address, a
password, a code or a token.
"""

from datetime import datetime

from .. import audit
from ..audit import Actor


def record(
    session, user_id: int | None, action: str, now: datetime, actor: Actor, details: dict | None = None
) -> None:
    """Append `action` about account `user_id` ("unknown" when no account matched) to the audit trail."""
    entity_id = user_id if user_id is not None else "unknown"
    audit.record(
        session, actor, action, entity_type="staff_user", entity_id=entity_id, now=now, details=details
    )


def actor_for(user_id: int | None, remote_addr: str | None) -> Actor:
    """The account itself as actor (it proved who it is, or tried to), else an anonymous caller."""
    return Actor.staff(user_id, remote_addr) if user_id is not None else Actor("anonymous", remote_addr)
