"""Running claimed outbox messages, one at a time, each recorded as done, retried or dead under its claim."""

import logging
import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, joinedload, selectinload

from ..logs import log_context
from ..meetings import ProviderError, ProviderUnavailable
from ..models import Companion, Consultation, OutboxKind, OutboxMessage, OutboxStatus, Patient, Service
from ..models.connections import closed_by_server
from ..models.transactions import autocommitting, serialising, write_transaction
from ..notify.mail import MailPermanentError, MailTemporaryError
from ..scheduling.clashes import Clash
from .claims import claim_due_messages, complete, dead_letter, hold, postpone, retry
from .context import Context, Result
from .effects import MeetingMissing, absent_clashes, perform
from .failures import logged_error, recorded_error
from .settings import WorkerSettings

log = logging.getLogger(__name__)

# A later attempt may get past these; a Retry-After that came with one is honoured.
_TEMPORARY = (ProviderUnavailable, MailTemporaryError, MeetingMissing)
# A retry would fail the same way: straight to the dead letters for an admin.
_PERMANENT = (ProviderError, MailPermanentError)
# A retry sooner than this would only hammer a server that has just failed.
MIN_RETRY_DELAY = timedelta(seconds=1)


class _ClaimLost(Exception):
    """Our lease ran out and another worker took the message: whatever we did is not recorded."""


class Connections:
    """What a dispatcher runs its messages on: `reader` for the consultations and the check before each
    send, `writer` (serialising) for recording a result, both held for all the batches of a run, where a
    session checks a connection out of the pool (and pings it) for every read and every result; and
    `session` for a result that changes the consultation, whose audit events are anchored as it commits.

    Both connections are `autocommitting`: each of the writer's transactions is the one UPDATE of a claim
    (`claims._transition`), so a mail costs its two statements' round trips and no more. Each is replaced
    before it is used if PostgreSQL closed it meanwhile (a restart, or an idle_session_timeout shorter than
    a send), as the pool replaces one at checkout: the result of a mail sent meanwhile is then recorded,
    where it failed and the mail went again once its lease expired."""

    def __init__(self, session: Session, stack: ExitStack) -> None:
        self.session = session
        self._bind = session.get_bind(OutboxMessage)
        self._stack = stack
        self._reader = self._writer = None

    @property
    def reader(self) -> Connection:
        self._reader = self._sound(self._reader, autocommitting)
        return self._reader

    @property
    def writer(self) -> Connection:
        self._writer = self._sound(self._writer, lambda connection: autocommitting(serialising(connection)))
        return self._writer

    def _sound(self, held: Connection | None, prepared: Callable[[Connection], Connection]) -> Connection:
        if held is not None and not closed_by_server(held.connection.dbapi_connection):
            return held
        if held is not None:
            held.invalidate()  # nothing to roll back on a closed socket
            held.close()
        return prepared(self._stack.enter_context(self._bind.connect()))


@contextmanager
def connections(session: Session) -> Iterator[Connections]:
    """`session` and two connections of its database, held until the block ends."""
    with ExitStack() as stack:
        yield Connections(session, stack)


def dispatch(
    session: Session,
    ctx: Context,
    worker_id: str,
    clock: Callable[[], datetime],
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Claim and run due messages, batch after batch, until none is due; returns how many ran.

    `should_stop` is asked between batches, so a claimed batch is always run to its end.
    """
    settings = ctx.settings
    ran = 0
    with connections(session) as held:
        while not should_stop():
            batch = claim_due_messages(session, worker_id, clock(), settings.batch_size, lease=settings.lease)
            if not batch:
                break
            for message in batch:
                # Nobody else changes a message while we hold its claim: detached, nothing makes it reload.
                session.expunge(message)
            session.rollback()  # the read of the claimed rows: no snapshot is kept while the batch runs
            consultations = load_consultations(
                held.reader, {message.consultation_id for message in batch} - {None}
            )
            batch_ctx = replace(ctx, absent=_absent(held.reader, batch, consultations, clock()))
            for message in batch:
                with log_context(outbox_id=message.id, consultation_id=message.consultation_id):
                    loaded = consultations.get(message.consultation_id)
                    run_message(held, batch_ctx, message, worker_id, clock(), loaded)
            ran += len(batch)
    return ran


def _absent(
    reader: Connection, batch: list[OutboxMessage], consultations: dict[int, Consultation], now: datetime
) -> dict[int, Clash]:
    """The absences that hold the batch's reminders, found at once: one query for the batch, where one
    per reminder cost a fifth of the worker's time per mail (bench/outbox_throughput.py)."""
    reminded = {message.consultation_id for message in batch if message.kind is OutboxKind.REMINDER}
    return absent_clashes(reader, [consultations[id_] for id_ in reminded if id_ in consultations], now)


def run_message(
    held: Connections,
    ctx: Context,
    message: OutboxMessage,
    worker_id: str,
    now: datetime,
    loaded: Consultation | None = None,
) -> OutboxStatus | None:
    """Run one message we claimed and record how it went: its new status, or None if our claim was lost.

    `loaded` is its consultation as `load_consultations` read it with the batch: used if it has not
    changed since, else read again, so a change committed meanwhile is always seen.
    """
    # Read now: the session's commit of a result that changes the consultation expires an attached message.
    message_id, attempts, label = message.id, message.attempts, f"{message.id} ({message.kind})"
    if not hold(held.writer, message, worker_id, now, ctx.settings.lease):
        log.warning("outbox message %s: lease expired before it ran; left to the worker that took it", label)
        return None
    consultation_id = message.consultation_id
    # A waitlist entry's own mail has no consultation: its effect reads the entry.
    if consultation_id is not None and (
        loaded is None or _version(held.reader, consultation_id) != version_of(loaded)
    ):
        loaded = load_consultations(held.reader, {consultation_id}).get(consultation_id)
    consultation = loaded
    try:
        result = perform(ctx, message, consultation, now)
    except Exception as error:
        status = _record_failure(held.writer, ctx.settings, message, worker_id, now, error)
        log.warning("outbox message %s failed with %s: now %s", label, logged_error(error), status)
        return status
    try:
        status = _record(held, (message_id, attempts), consultation_id, worker_id, now, result)
    except _ClaimLost:
        # Only possible after a run longer than the lease; the other worker repeats the effect.
        log.warning("outbox message %s: lease expired while it ran; result dropped", label)
        return None
    if result.error:  # a fallback: worth an admin's attention
        log.warning("outbox message %s: %s after %s", label, result.outcome, result.error)
    elif result.outcome:
        log.info("outbox message %s: %s", label, result.outcome)
    else:
        log.debug("outbox message %s: done", label)
    return status


# What a consultation's mails and meetings depend on: the whole graph `load_consultations` reads.
_GRAPH = (
    joinedload(Consultation.patient),
    joinedload(Consultation.clinician),
    joinedload(Consultation.service).joinedload(Service.department),
    selectinload(Consultation.companions).joinedload(Companion.consultation),
)


def load_consultations(bind: Engine | Connection, ids: set[int]) -> dict[int, Consultation]:
    """The consultations `ids` with everything their effects read, detached: in one round of queries
    in a session of their own, so the commit recording each message expires none of them (which
    would read each again, relation by relation) and nothing the caller holds is touched."""
    query = select(Consultation).where(Consultation.id.in_(ids)).options(*_GRAPH)
    with Session(bind) as reader:
        return {consultation.id: consultation for consultation in reader.scalars(query).unique()}


def version_of(consultation: Consultation) -> tuple:
    """What changes whenever anything a message reads of the consultation does (see `_version`)."""
    patient = consultation.patient
    companions = sum(companion.removed_at is None for companion in consultation.companions)
    return (
        consultation.updated_at,
        consultation.status,
        consultation.invite_sequence,
        patient.name,
        patient.email,
        patient.language,
        companions,
    )


def _version(reader: Connection, consultation_id: int) -> tuple | None:
    # One indexed read per message, far cheaper than loading the graph again: a cancellation,
    # reschedule, meeting change, patient edit or companion removal committed since the batch was
    # loaded shows here. Its transaction (SQLite's: PostgreSQL's reader has none) ends at once, so the
    # next read sees what was committed since.
    try:
        row = reader.execute(_VERSION, {"consultation_id": consultation_id}).one_or_none()
    finally:
        reader.rollback()
    return None if row is None else tuple(row)


# Built once: building it per message cost more than running it.
_VERSION = (
    select(
        Consultation.updated_at,
        Consultation.status,
        Consultation.invite_sequence,
        Patient.name,
        Patient.email,
        Patient.language,
        select(func.count(Companion.id))
        .where(Companion.consultation_id == Consultation.id, Companion.removed_at.is_(None))
        .scalar_subquery(),
    )
    .join(Patient, Patient.id == Consultation.patient_id)
    .where(Consultation.id == bindparam("consultation_id"))
)


def _record(
    held: Connections,
    claimed: tuple[int, int],
    consultation_id: int,
    worker_id: str,
    now: datetime,
    result: Result,
) -> OutboxStatus:
    # `claimed`: the message's id, and its attempts counting this claim.
    message_id, attempts = claimed
    with _recording(held, result) as connection:
        if result.apply is not None:
            # Locked so a reschedule committing meanwhile is seen, not overwritten.
            consultation = held.session.get(Consultation, consultation_id, with_for_update=True)
            result.apply(held.session, consultation)
        if result.again_at is not None:
            held_back = (result.again_at, attempts - 1, result.outcome or "held")
            finished = postpone(connection, message_id, worker_id, *held_back)
        else:
            finished = complete(
                connection,
                message_id,
                worker_id,
                now,
                status=result.status,
                outcome=result.outcome,
                error=result.error,
            )
        if not finished:
            raise _ClaimLost
    return result.status


@contextmanager
def _recording(held: Connections, result: Result) -> Iterator[Connection]:
    # A mail's result is one UPDATE, on the writer; one that changes the consultation goes in the session's
    # write transaction, whose commit also anchors any audit event it appends.
    if result.apply is None:
        writer = held.writer
        with writer.begin():
            yield writer
    else:
        with write_transaction(held.session):
            yield held.session.connection()


def _record_failure(
    writer: Connection,
    settings: WorkerSettings,
    message: OutboxMessage,
    worker_id: str,
    now: datetime,
    error: Exception,
) -> OutboxStatus | None:
    if not isinstance(error, _TEMPORARY + _PERMANENT):
        # A bug or a database error: worth its traceback, and retried like a temporary failure.
        log.error("outbox message %s raised %s", message.id, type(error).__name__, exc_info=error)
    recorded = recorded_error(error)
    with writer.begin():
        permanent = isinstance(error, _PERMANENT) and not isinstance(error, _TEMPORARY)
        if permanent or message.attempts >= settings.max_attempts:
            status, held = OutboxStatus.DEAD, dead_letter(writer, message.id, worker_id, now, recorded)
        else:
            retry_after = getattr(error, "retry_after", None)
            delay = retry_delay(message.attempts, settings.retry_base, settings.retry_cap, retry_after)
            status, held = OutboxStatus.PENDING, retry(writer, message.id, worker_id, now, delay, recorded)
    return status if held else None


def retry_delay(
    attempts: int,
    base: timedelta,
    cap: timedelta,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> timedelta:
    """Exponential backoff with full jitter: random in [0, min(cap, base·2^(attempts−1))).

    A server's Retry-After is a floor; the jitter spreads the retries of many messages that failed together.
    """
    doublings = min(max(attempts - 1, 0), 60)  # past 60 the cap has long won; timedelta would overflow
    ceiling = min(cap.total_seconds(), base.total_seconds() * 2.0**doublings)
    delay = max(timedelta(seconds=ceiling * rand()), MIN_RETRY_DELAY)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay
