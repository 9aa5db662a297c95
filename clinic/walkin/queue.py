"""A caller's side of the walk-in queue: joining, their place, leaving, answering (their wait: waits.py).

Each change is one write transaction (see models.transactions) with its audit event; a caller's row is
locked before the consultation of their call, as the housekeeping rounds do, so the two never deadlock.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, not_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from .. import audit
from ..audit import Actor
from ..jobs import outbox
from ..models import (
    CURRENT_ENTRY_STATUSES,
    Consultation,
    ConsultationStatus,
    EntryStatus,
    QueueStatus,
    WalkInEntry,
    WalkInQueue,
)
from ..models.transactions import commit_as_written, write_transaction
from ..scheduling.booking import Consent
from ..scheduling.errors import IdempotencyConflict, MeetingNotReady, NotFound, NotNow
from ..scheduling.events import record_event
from ..scheduling.idempotency import Fingerprint, fingerprint
from ..scheduling.patients import same_phone
from ..scheduling.status import allowed_next
from ..scheduling.timezones import format_local, zone
from ..scheduling.tokens import (
    LinkKeys,
    Proof,
    link_reference,
    new_link_seed,
    unused_reference,
    walk_in_link_opens,
    walk_in_token,
)
from .callers import CallerDetails
from .closures import closed_words, closure_of, closures_now
from .errors import AlreadyInQueue, QueueNotOpen
from .hours import next_opening, open_until
from .waits import Place, WaitRules, place_in_queue

FORM_USED = "This form has already been used to join the queue. Check the details and send it again."
ALREADY_IN_QUEUE = (
    "Someone with this name and this e-mail address or phone number already has a place in this queue."
)

# When a caller's call is over, by the status of their entry: taken, once its consultation is finished;
# in the call, once it ended any way. Until the housekeeping round completes such an entry
# (rounds.complete_finished_calls), it holds no place and offers no call.
CALL_OVER: dict[EntryStatus, tuple[ConsultationStatus, ...]] = {
    EntryStatus.TAKEN: (ConsultationStatus.FULFILLED,),
    EntryStatus.IN_CALL: (
        ConsultationStatus.FULFILLED,
        ConsultationStatus.NOSHOW,
        ConsultationStatus.CANCELLED,
    ),
}


@dataclass(frozen=True)
class Joined:
    entry: WalkInEntry
    token: str  # the secret of their link back to their place
    already: bool = False  # the place was theirs before: they did not join twice


@dataclass(frozen=True)
class CallerView:
    """What the caller's page shows: where they are, and whether their call's link is ready."""

    status: EntryStatus
    place: Place | None  # while waiting
    meeting_ready: bool  # once taken: the join button works


def queue_by_slug(session: Session, slug: str) -> WalkInQueue:
    """The queue whose join page is /walk-in/<slug>, open or not (that of a closed department is closed:
    see hospital.departments); else NotFound."""
    queue = None
    if len(slug) <= 80:
        queue = session.scalar(select(WalkInQueue).where(WalkInQueue.slug == slug.lower()))
    if queue is None:
        raise NotFound("There is no walk-in queue at this address.")
    return queue


def open_queues(session: Session, now: datetime) -> list[WalkInQueue]:
    """The queues a caller may join at `now` (open, inside their hours, and not in a closure), by name: the
    walk-in lines the booking pages lead to, for those who need to talk to someone today."""
    queues = session.scalars(
        select(WalkInQueue)
        .where(WalkInQueue.status == QueueStatus.OPEN)
        .options(selectinload(WalkInQueue.hours))
        .order_by(WalkInQueue.name, WalkInQueue.id)
    ).all()
    closed = closures_now(session, {queue.department_id for queue in queues}, now)
    return [q for q in queues if q.department_id not in closed and open_until(q, now) is not None]


def check_open(session: Session, queue: WalkInQueue, now: datetime) -> None:
    """QueueNotOpen, saying why and when it opens next, unless people may join the queue now."""
    if queue.status is QueueStatus.PAUSED:
        raise QueueNotOpen("This queue is paused for a short while. Please try again in a few minutes.")
    if queue.status is QueueStatus.CLOSED:
        raise QueueNotOpen("This queue is closed.")
    if (closure := closure_of(session, queue, now)) is not None:
        raise QueueNotOpen(closed_words(queue, closure))
    if open_until(queue, now) is None:
        opens = next_opening(queue, now)
        when = f" It opens {format_local(opens, zone(queue.time_zone))}." if opens else ""
        raise QueueNotOpen(f"This queue is closed now.{when}")


def join(
    session: Session,
    queue_id: int,
    details: CallerDetails,
    consent: Consent,
    *,
    now: datetime,
    keys: LinkKeys,
    actor: Actor,
    held: Mapping[str, Proof] | None = None,
    join_key: str | None = None,
    browser: str = "",
) -> Joined:
    """Put the caller at the back of the queue; QueueNotOpen if it does not take callers now. A caller
    whose browser `held` a place still waiting in it gets that place back instead: one person, one place.
    So does the join form sent again with its `join_key` (a double click, whose second post leaves before
    the first's answer tells the browser of its place), even while the first is still being written, if
    it is the same join: the same details from the same `browser` (a random name its session keeps).
    The key is in the page, so anything else that carries it is IdempotencyConflict, as for a booking.
    Anyone else with the caller's name and contact already in the queue is AlreadyInQueue: the same
    person from another browser, who is not given that place either, as a contact is no secret."""
    asked = fingerprint({"queue_id": queue_id, "details": details, "browser": browser}, keys)
    try:
        with write_transaction(session):
            # Locked: two joins with the same details from two browsers see each other (on SQLite the
            # write lock does as much).
            queue = session.get(WalkInQueue, queue_id, with_for_update=True, populate_existing=True)
            if queue is None:
                raise NotFound("There is no such walk-in queue.")
            if kept := held_place(session, queue_id, held, keys=keys, now=now):
                return kept
            if join_key is not None and (made := _made_with(session, join_key)) is not None:
                if _same_join(made, asked).status is EntryStatus.WAITING:
                    return Joined(made, walk_in_token(keys, made), already=True)
                join_key = None  # the form's place was left or ended since: a new one, as without a key
            if called := _called_as(session, queue_id, held, details, keys=keys, now=now):
                return called
            check_open(session, queue, now)
            if _already_in(session, queue_id, details):
                raise AlreadyInQueue(ALREADY_IN_QUEUE)
            last = session.scalar(
                select(func.max(WalkInEntry.position)).where(WalkInEntry.queue_id == queue_id)
            )
            entry = WalkInEntry(
                queue_id=queue_id,
                reference=unused_reference(session, WalkInEntry.reference),
                link_seed=new_link_seed(),
                name=details.name,
                email=details.email,
                phone=details.phone,
                needs_interpreter=details.needs_interpreter,
                interpreter_language=details.interpreter_language or None,
                consent_notice_version=consent.notice_version,
                consent_method=consent.method,
                consent_given_at=now,
                status=EntryStatus.WAITING,
                position=(last or 0) + 1,
                requeued=False,
                joined_at=now,
                join_key=join_key,
                join_hash=asked.stored if join_key is not None else None,
            )
            session.add(entry)
            session.flush()
            record_entry_event(
                session, entry, "walk_in.joined", now, actor, privacy_notice=consent.notice_version
            )
            commit_as_written(session)
    except IntegrityError:
        # The form's other post wrote its place first (join_key is unique): that place is this one's, if
        # it is the same join.
        made = _made_with(session, join_key) if join_key is not None else None
        if made is None:
            raise
        return Joined(_same_join(made, asked), walk_in_token(keys, made), already=True)
    return Joined(entry, walk_in_token(keys, entry))


def _made_with(session: Session, join_key: str) -> WalkInEntry | None:
    """The place the join form with `join_key` made, if it made one."""
    return session.scalar(select(WalkInEntry).where(WalkInEntry.join_key == join_key))


def _same_join(made: WalkInEntry, asked: Fingerprint) -> WalkInEntry:
    """The place the form's key made, if the request that `asked` is the join that made it; else
    IdempotencyConflict, which hands over nothing of it (a place made before its join was kept has no
    fingerprint to match)."""
    if not asked.matches(made.join_hash):
        raise IdempotencyConflict(FORM_USED)
    return made


def _already_in(session: Session, queue_id: int, details: CallerDetails) -> bool:
    """Whether someone of the caller's name (whatever its case and spacing) with their e-mail address, or
    their phone number (however it is written: `same_phone`), is in the queue or its call now. A care
    home's one number given for several residents is theirs to share: their names tell them apart."""
    current = session.execute(
        select(WalkInEntry.name, WalkInEntry.email, WalkInEntry.phone)
        .outerjoin(Consultation, WalkInEntry.consultation_id == Consultation.id)
        .where(
            WalkInEntry.queue_id == queue_id,
            WalkInEntry.status.in_(CURRENT_ENTRY_STATUSES),
            or_(Consultation.id.is_(None), not_(call_over())),
        )
    )
    return any(_is_caller(details, *row) for row in current)


def call_over() -> ColumnElement[bool]:
    """CALL_OVER in SQL, of an entry joined to its call's consultation."""
    by_status = [
        (WalkInEntry.status == status) & Consultation.status.in_(ends) for status, ends in CALL_OVER.items()
    ]
    return or_(*by_status)


def current_status(entry: WalkInEntry) -> EntryStatus:
    """The entry's status, completed once its call is over though the round has not yet marked it so."""
    call = entry.consultation
    return EntryStatus.COMPLETED if call and call.status in CALL_OVER.get(entry.status, ()) else entry.status


def _is_caller(details: CallerDetails, name: str, email: str | None, phone: str) -> bool:
    """Whether a place's name and contact are the caller's `details`, as typed by them another time."""
    if " ".join(name.casefold().split()) != " ".join(details.name.casefold().split()):
        return False
    if email or details.email:  # one who gave an address is never one who gave a number
        return (email or "").casefold() == (details.email or "").casefold()
    return same_phone(phone, details.phone)


def held_place(
    session: Session,
    queue_id: int,
    held: Mapping[str, Proof] | None,
    *,
    keys: LinkKeys,
    now: datetime,
    called: bool = False,
) -> Joined | None:
    """The place still waiting in the queue that one of `held` (references and what opens their links:
    a browser keeps passes, see `SessionPass`) opens, if any; a place left, taken or ended does not count.
    With `called`, a place whose caller is called and their call not over counts too, and comes first:
    what the browser is shown at the queue's address, their turn not to be missed."""
    places = _held(session, queue_id, held, CURRENT_ENTRY_STATUSES if called else (EntryStatus.WAITING,))
    return _first_opened(sorted(places, key=lambda e: e.status is EntryStatus.WAITING), held, keys, now)


def _called_as(
    session: Session,
    queue_id: int,
    held: Mapping[str, Proof] | None,
    details: CallerDetails,
    *,
    keys: LinkKeys,
    now: datetime,
) -> Joined | None:
    """The place of one of `held` whose caller, of these `details`, is called now and their call not over:
    the same person sending the form again from the browser that holds their place, which is theirs
    (a different person from it joins anew: a carer's resident, say)."""
    called = _held(session, queue_id, held, (EntryStatus.TAKEN, EntryStatus.IN_CALL))
    return _first_opened(
        [entry for entry in called if _is_caller(details, entry.name, entry.email, entry.phone)],
        held,
        keys,
        now,
    )


def _first_opened(
    entries: list[WalkInEntry], held: Mapping[str, Proof], keys: LinkKeys, now: datetime
) -> Joined | None:
    """The first of `entries` (all named by `held`) whose link what `held` keeps for it opens, as Joined."""
    for entry in entries:
        # A current place has not ended, so no grace after its end comes into it.
        if walk_in_link_opens(held[entry.reference], entry, keys=keys, now=now, grace_days=0):
            return Joined(entry, walk_in_token(keys, entry), already=True)
    return None


def _held(
    session: Session,
    queue_id: int,
    held: Mapping[str, Proof] | None,
    statuses: tuple[EntryStatus, ...],
) -> list[WalkInEntry]:
    """The entries of the queue that `held` names (their links not yet checked) of these statuses, those
    whose call is over left out (CALL_OVER): by position, as they are taken."""
    if not held:
        return []
    found = session.scalars(
        select(WalkInEntry)
        .where(
            WalkInEntry.queue_id == queue_id,
            WalkInEntry.status.in_(statuses),
            WalkInEntry.reference.in_([ref for ref in held if isinstance(ref, str)]),
        )
        .order_by(WalkInEntry.position, WalkInEntry.id)
    )
    return [entry for entry in found if current_status(entry) is entry.status]


def entry_for_token(
    session: Session, reference: object, token: object, *, keys: LinkKeys, now: datetime, grace_days: int
) -> WalkInEntry:
    """The entry a caller's link names, or NotFound for a wrong, unknown or expired token."""
    ref = link_reference(reference)
    entry = ref and session.scalar(select(WalkInEntry).where(WalkInEntry.reference == ref))
    if not (entry and walk_in_link_opens(token, entry, keys=keys, now=now, grace_days=grace_days)):
        raise NotFound("No place in a queue matches this link.")
    return entry


def caller_view(session: Session, entry: WalkInEntry, now: datetime, rules: WaitRules) -> CallerView:
    """The caller's page as of `now` (and its JSON, which keeps the page current)."""
    status, call = current_status(entry), entry.consultation
    ready = status in (EntryStatus.TAKEN, EntryStatus.IN_CALL) and bool(call and call.meeting_join_url)
    return CallerView(status, place_in_queue(session, entry, now, rules), ready)


def leave(session: Session, entry_id: int, *, now: datetime, actor: Actor) -> WalkInEntry:
    """Take the caller out of the queue at their request (a call made for them is called off)."""
    with write_transaction(session):
        entry = _locked(session, entry_id)
        if entry.status in (EntryStatus.WAITING, EntryStatus.TAKEN):
            abandon_call(session, entry, now, actor)
            end(session, entry, EntryStatus.LEFT, now, actor)
        commit_as_written(session)
    return entry


def answer(session: Session, entry_id: int, *, now: datetime, actor: Actor) -> str:
    """The caller pressed join: note that they answered and return their meeting link;
    MeetingNotReady while the meeting is still being made, NotNow if no call is waiting for them (any
    more: one not answered in time was called off)."""
    with write_transaction(session):
        entry = _locked(session, entry_id)
        call = entry.consultation
        if entry.status not in (EntryStatus.TAKEN, EntryStatus.IN_CALL) or call is None or not call.is_active:
            raise NotNow("There is no call for you at the moment. Keep this page open: it tells you when.")
        if not call.meeting_join_url:
            raise MeetingNotReady("Your video link is still being made. Please try again in a moment.")
        if entry.status is EntryStatus.TAKEN:
            entry.status, entry.answered_at = EntryStatus.IN_CALL, now
            record_entry_event(session, entry, "walk_in.answered", now, actor)
        commit_as_written(session)
    return call.meeting_join_url


def abandon_call(
    session: Session, entry: WalkInEntry, now: datetime, actor: Actor, *, stalled: bool = False
) -> None:
    """Call off the call made for the entry's caller, if it was not held: not begun, or begun by its
    clinician but never joined by the caller, or `stalled` (its clinician vanished from it: see
    walkin.send_back). Its consultation is cancelled (never "Done") and its meeting too, without any mail.
    One under way otherwise stays its clinician's to finish."""
    if entry.consultation_id is None:
        return
    call = session.get(Consultation, entry.consultation_id, with_for_update=True, populate_existing=True)
    if call is None:
        return
    # The status table's "in progress" is a call under way; one its caller never joined was not.
    never_joined = entry.status is EntryStatus.TAKEN and call.status is ConsultationStatus.IN_PROGRESS
    if not (never_joined or stalled or ConsultationStatus.CANCELLED in allowed_next(call.status)):
        return
    call.status, call.cancelled_at = ConsultationStatus.CANCELLED, now
    outbox.enqueue_walk_in_call_abandoned(session, call, now)
    record_event(session, call, "consultation.cancelled", now, actor, walk_in_entry=entry.id)


def end(session: Session, entry: WalkInEntry, status: EntryStatus, now: datetime, actor: Actor) -> None:
    """Mark the entry finished (completed, left, dropped or closed) and audit it."""
    entry.status, entry.ended_at = status, now
    record_entry_event(session, entry, f"walk_in.{status.value}", now, actor)


def record_entry_event(
    session: Session, entry: WalkInEntry, action: str, now: datetime, actor: Actor, **ids: int | str
) -> None:
    """Audit a change to a walk-in entry by ids only: never the caller's name or contact."""
    details = {"queue_id": entry.queue_id, "reference": entry.reference, **ids}
    if entry.consultation_id is not None:
        details["consultation_id"] = entry.consultation_id
    audit.record(
        session, actor, action, entity_type="walk_in_entry", entity_id=entry.id, now=now, details=details
    )


def _locked(session: Session, entry_id: int) -> WalkInEntry:
    entry = session.get(WalkInEntry, entry_id, with_for_update=True, populate_existing=True)
    if entry is None:
        raise NotFound("No such place in a queue.")
    return entry
