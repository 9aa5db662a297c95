"""What every outbox effect is given and gives back: its `Context` and its `Result`."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..models import Consultation, OutboxMessage, OutboxStatus
from ..notify.mail import MailBackend
from ..notify.mime import make_message_id
from ..scheduling.clashes import Clash
from .settings import WorkerSettings


@dataclass(frozen=True)
class Context:
    """What effects use: the settings, the mail backend of this worker thread, and the database, which
    the waitlist's mails read their offer or entry from (the rest have their consultation loaded for them)."""

    settings: WorkerSettings
    mail: MailBackend
    bind: Engine
    # The clashes of the running batch's reminders whose clinician will not be there (time off, a closure),
    # by consultation id: found for the whole batch in one query as it is loaded (jobs.dispatch). None
    # outside a batch, where a reminder asks about its own consultation (effects.absent_clashes).
    absent: Mapping[int, Clash] | None = None


@dataclass(frozen=True)
class Result:
    """How a message ended; `apply` changes the consultation in the transaction that records it. With
    `again_at`, it did not end: it is held, to run again then (no attempt is counted)."""

    status: OutboxStatus = OutboxStatus.DONE
    outcome: str | None = None
    error: str | None = None
    apply: Callable[[Session, Consultation], None] | None = None
    again_at: datetime | None = None


# The consultation is None for a waitlist entry's own mail, the one message that has none.
Effect = Callable[[Context, OutboxMessage, Consultation | None, datetime], Result]


def message_id_for(message: OutboxMessage, domain: str) -> str:
    """The Message-ID of an outbox mail: every send of the same row, retries included, carries it."""
    return make_message_id(f"outbox:{message.idempotency_key}", domain)
