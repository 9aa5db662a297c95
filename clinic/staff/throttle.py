"""The per-address sign-in throttle (an IPv6 client's network: see client_address): failures counted in the
database, so every web process agrees.

It stands in front of the per-account lockout and allows fewer failures in the same window, so one
address can never lock an account; and a throttled address is refused before any account is looked
at, so its attempts cost one query and count against no account.
"""

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..client_address import counted_as
from ..models import LoginFailure
from .errors import AddressThrottled
from .sessions import ADDRESS_LENGTH


def refuse_if_throttled(
    session: Session, remote_addr: str | None, *, now: datetime, limit: int, window: timedelta
) -> None:
    """Raise AddressThrottled if `remote_addr` failed `limit` times within the last `window`."""
    count, oldest = session.execute(
        select(func.count(), func.min(LoginFailure.failed_at)).where(
            LoginFailure.remote_addr == _key(remote_addr), LoginFailure.failed_at > now - window
        )
    ).one()
    if count >= limit:
        raise AddressThrottled(retry_after=max(1, math.ceil((oldest + window - now).total_seconds())))


def count_failure(session: Session, remote_addr: str | None, *, now: datetime, window: timedelta) -> None:
    """Count one failure of `remote_addr`, in the caller's write transaction; forget expired ones."""
    session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - window))
    session.add(LoginFailure(remote_addr=_key(remote_addr), failed_at=now))


def _key(remote_addr: str | None) -> str:
    # An IPv6 client by its network, as the request limits count it: it may use any address of its /64.
    return counted_as(remote_addr or "unknown")[:ADDRESS_LENGTH]
