"""What a staff member sees of their own account: where they are signed in, their second factor."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ..models import StaffSession, StaffUser
from .mfa import recovery_codes_left
from .sessions import SessionRules, hash_token, live_sessions


@dataclass(frozen=True)
class AccountOverview:
    user: StaffUser
    sessions: list[StaffSession]
    current_session_id: int | None
    recovery_codes_left: int


def account_overview(
    session: Session, user_id: int, token: str, *, now: datetime, rules: SessionRules
) -> AccountOverview:
    """The account's live sessions (marking the one `token` names) and its second factor's state."""
    rows = live_sessions(session, user_id, now=now, rules=rules)
    current = next((row.id for row in rows if row.token_hash == hash_token(token)), None)
    return AccountOverview(
        session.get(StaffUser, user_id), rows, current, recovery_codes_left(session, user_id)
    )
