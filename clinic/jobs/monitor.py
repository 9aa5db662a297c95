"""What admins see of the outbox: messages by status with counts, and retrying dead letters.

Rows carry the reference of their consultation (or waitlist entry) only: an admin watching deliveries needs
no patient detail.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..models import Consultation, OutboxMessage, OutboxStatus, WaitlistEntry
from ..models.transactions import write_transaction
from .claims import requeue

# The default view: what needs attention or is under way, and what finished recently.
RECENT = timedelta(days=1)
PER_PAGE = 50
FALLBACK_PREFIX = "fallback:"


@dataclass(frozen=True)
class OutboxRow:
    message: OutboxMessage
    reference: str

    @property
    def fallback_provider(self) -> str | None:
        """The provider that made the meeting instead, when the chosen one failed."""
        outcome = self.message.outcome
        if outcome and outcome.startswith(FALLBACK_PREFIX):
            return outcome.removeprefix(FALLBACK_PREFIX)
        return None

    @property
    def failure(self) -> tuple[str, str]:
        """A fallback's failed provider and error class, as recorded: "zoom:ProviderRejected"."""
        provider, _, error = (self.message.last_error or "").rpartition(":")
        return provider, error


@dataclass(frozen=True)
class OutboxPage:
    rows: list[OutboxRow]
    page: int
    has_next: bool
    counts: dict[OutboxStatus, int]


def outbox_page(
    session: Session,
    *,
    status: OutboxStatus | None,
    now: datetime,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> OutboxPage:
    """One page of messages, newest first, with `status`; None shows the default view (see `RECENT`)."""
    query = (
        # A waitlist entry's own mail has no consultation: it is named by the entry's reference.
        select(OutboxMessage, func.coalesce(Consultation.reference, WaitlistEntry.reference))
        .outerjoin(Consultation, Consultation.id == OutboxMessage.consultation_id)
        .outerjoin(WaitlistEntry, WaitlistEntry.id == OutboxMessage.waitlist_entry_id)
        .where(_shown(status, now))
        .order_by(OutboxMessage.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page + 1)  # one more tells whether there is a next page
    )
    found = session.execute(query).all()
    rows = [OutboxRow(*row) for row in found[:per_page]]
    return OutboxPage(rows, page, len(found) > per_page, status_counts(session))


def status_counts(session: Session) -> dict[OutboxStatus, int]:
    """How many messages have each status, every status listed."""
    counted = dict(
        session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    )
    return {status: counted.get(status, 0) for status in OutboxStatus}


def retry_dead_letter(session: Session, message_id: int, *, now: datetime, actor: Actor) -> bool:
    """Run a dead letter again from its first attempt and audit it; False, changing nothing, if not dead."""
    if not requeue(session, message_id, now):
        return False
    # requeue() commits on its own, so the event follows in a second transaction.
    with write_transaction(session):
        audit.record(
            session, actor, "outbox.requeued", entity_type="outbox_message", entity_id=message_id, now=now
        )
    return True


def _shown(status: OutboxStatus | None, now: datetime):
    if status is not None:
        return OutboxMessage.status == status
    return or_(
        OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.RUNNING, OutboxStatus.DEAD)),
        OutboxMessage.done_at >= now - RECENT,
    )
