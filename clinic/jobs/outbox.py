"""Writing to the outbox: the side effects of a change, added in the change's own transaction.

Each change to a consultation writes its side effects here before it commits, so a change and its
effects are saved together or not at all. Workers claim and run them later (see `claims` and
`dispatch`).
"""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..meetings import meeting_key, replaces_meeting_for_new_host
from ..models import (
    Companion,
    Consultation,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    WaitlistEntry,
    WaitlistOffer,
)
from ..models.driver import Statement
from ..models.inserts import insert_statements
from ..models.outbox import UNFINISHED
from ..notify.notices import Audience

REMINDER_KINDS = (OutboxKind.REMINDER, OutboxKind.PLAN_REMINDERS)
# A reminder's outcome when REMINDER_OFFSETS no longer has its offset: planned again if it comes back.
OFFSET_REMOVED = "offset removed"
# The clinician's day is on their schedule: reminders go to those joining the call from a mail.
_REMINDED = (Audience.PATIENT, Audience.COMPANION)


def booked_messages(consultation: Consultation, now: datetime) -> list[Statement]:
    """The INSERTs that enqueue a booking's messages: create the meeting, confirm to both sides, plan the
    reminders. For the booking's transaction to send with its other writes, outside the session: every
    booking pays for them (see `insert_statements`)."""
    confirmations = [
        _values(consultation, now, OutboxKind.CONFIRMATION, audience, companion)
        for audience, companion in mail_recipients(consultation)
    ]
    return insert_statements(
        OutboxMessage,
        [
            _values(consultation, now, OutboxKind.MEETING_CREATE),
            *confirmations,
            _values(consultation, now, OutboxKind.PLAN_REMINDERS),
        ],
    )


def enqueue_walk_in_call(session: Session, consultation: Consultation, now: datetime) -> None:
    """In the transaction that takes a walk-in caller: create the call's meeting. No mail: the caller's
    page turns into a join button, and the clinician is sent straight to the consultation."""
    _add(session, consultation, now, OutboxKind.MEETING_CREATE)


def enqueue_walk_in_call_abandoned(session: Session, consultation: Consultation, now: datetime) -> None:
    """In the transaction that ends a walk-in call nobody answered (or the caller left): cancel its
    meeting, quietly."""
    _add(session, consultation, now, OutboxKind.MEETING_CANCEL)


def enqueue_rescheduled(
    session: Session,
    consultation: Consultation,
    now: datetime,
    previous_starts_at: datetime,
    previous_clinician_id: int,
) -> None:
    """In the reschedule's transaction: move the meeting, send updates (which name the time it had
    before this move, however it moves later), plan reminders for the new time, offer the old one to
    the waitlist. Moved to another clinician, the new one is invited and the old one sent the invite's
    cancellation, for the time they had it, in a mail that says it was handed over (HANDED_OVER)."""
    handed_over = previous_clinician_id != consultation.clinician_id
    _drop_pending_reminders(session, consultation, now)
    _move_meeting(session, consultation, now, previous_clinician_id)
    moved_from = previous_starts_at if previous_starts_at != consultation.starts_at else None
    for audience, companion in mail_recipients(consultation):
        invited = handed_over and audience is Audience.CLINICIAN
        kind = OutboxKind.CONFIRMATION if invited else OutboxKind.UPDATE
        message = _add(session, consultation, now, kind, audience, companion)
        if moved_from is not None and not invited:
            message.payload = {**message.payload, "previous_starts_at": moved_from.isoformat()}
        if handed_over and not invited:
            message.payload = {**message.payload, "new_clinician": True}
    if handed_over:
        message = _add(session, consultation, now, OutboxKind.HANDED_OVER, Audience.CLINICIAN)
        message.payload = {
            **message.payload,
            "clinician_id": previous_clinician_id,
            "starts_at": previous_starts_at.isoformat(),
        }
    _add(session, consultation, now, OutboxKind.PLAN_REMINDERS)
    enqueue_time_freed(session, consultation, now, previous_clinician_id, previous_starts_at)


def _move_meeting(
    session: Session, consultation: Consultation, now: datetime, previous_clinician_id: int
) -> None:
    """Move the meeting to the consultation's new time, or, for a new clinician at a provider that names
    the host only when it makes a meeting, replace it (see `replaces_meeting_for_new_host`). Handed over
    before its meeting was stored, one a create may have made unheard for the old clinician is retired."""
    provider, current = consultation.meeting_provider, consultation.meeting_external_id
    new_host = previous_clinician_id != consultation.clinician_id
    if new_host and current and replaces_meeting_for_new_host(provider):
        replace_meeting(session, consultation, now)
        return
    if new_host and not current and _create_tried(session, consultation):
        enqueue_unheard_meeting(session, consultation, meeting_key(consultation), previous_clinician_id, now)
    _add(session, consultation, now, OutboxKind.MEETING_UPDATE)


def _create_tried(session: Session, consultation: Consultation) -> bool:
    """Whether a create of the consultation's meeting (an update makes one when there is none) has been
    tried and is to be tried again or is running: the provider may have made a meeting whose answer was
    lost."""
    tried = select(OutboxMessage.id).where(
        OutboxMessage.consultation_id == consultation.id,
        OutboxMessage.kind.in_((OutboxKind.MEETING_CREATE, OutboxKind.MEETING_UPDATE)),
        OutboxMessage.status.in_(UNFINISHED),
        OutboxMessage.attempts > 0,
    )
    return session.scalar(tried.limit(1)) is not None


def replace_meeting(session: Session, consultation: Consultation, now: datetime) -> None:
    """Give the consultation a new meeting in place of its present one, which is retired at its provider;
    its pages say the link is being made until the worker has made it."""
    provider, retired = consultation.meeting_provider, consultation.meeting_external_id
    consultation.meeting_provider = consultation.meeting_external_id = None
    consultation.meeting_join_url = consultation.meeting_host_url = None
    consultation.meetings_replaced += 1
    enqueue_retired_meeting(session, consultation, provider, retired, now)
    _add(session, consultation, now, OutboxKind.MEETING_CREATE)


def handed_over_from(message: OutboxMessage) -> tuple[int, datetime] | None:
    """The clinician a handover mail tells that the consultation went to another, and the time they had it
    (None for other messages)."""
    if message.kind is not OutboxKind.HANDED_OVER:
        return None
    return message.payload["clinician_id"], datetime.fromisoformat(message.payload["starts_at"])


def enqueue_cancelled(session: Session, consultation: Consultation, now: datetime) -> None:
    """In the cancellation's transaction: drop reminders, cancel the meeting, send cancellations, offer
    the time to the waitlist."""
    _drop_pending_reminders(session, consultation, now)
    _add(session, consultation, now, OutboxKind.MEETING_CANCEL)
    _add_mails(session, consultation, now, OutboxKind.CANCELLATION)
    enqueue_time_freed(session, consultation, now, consultation.clinician_id, consultation.starts_at)


def enqueue_time_freed(
    session: Session,
    consultation: Consultation,
    now: datetime,
    clinician_id: int,
    starts_at: datetime,
    again_after: int | None = None,
) -> None:
    """Offer the time `consultation` freed (clinician_id, starts_at, its service) to the patients waiting
    for it; `again_after`: once more, to those next in line, after offer `again_after` expired."""
    key = _key(consultation, OutboxKind.WAITLIST_OFFERS, None, None, None)
    if again_after is not None:
        key += f":again:{again_after}"
    message = _add(session, consultation, now, OutboxKind.WAITLIST_OFFERS, key=key)
    message.payload = {
        **message.payload,
        "service_id": consultation.service_id,
        "clinician_id": clinician_id,
        "starts_at": starts_at.isoformat(),
    }


def enqueue_offer_mail(session: Session, offer: WaitlistOffer, kind: OutboxKind, now: datetime) -> None:
    """Mail a waiting patient their offer (WAITLIST_OFFER_MAIL), or that it has gone (WAITLIST_GONE_MAIL),
    hung on the consultation that freed the time."""
    session.add(
        OutboxMessage(
            consultation_id=offer.freed_by_id,
            kind=kind,
            payload={"offer_id": offer.id},
            due_at=now,
            status=OutboxStatus.PENDING,
            attempts=0,
            idempotency_key=offer_mail_key(offer, kind),
            created_at=now,
        )
    )


def offer_mail_key(offer: WaitlistOffer, kind: OutboxKind) -> str:
    """The idempotency key of an offer's mail of `kind`: one of each an offer."""
    return f"waitlist-offer:{offer.reference}:{kind}"


def enqueue_entry_mail(session: Session, entry: WaitlistEntry, kind: OutboxKind, now: datetime) -> None:
    """In the transaction that changes a waitlist entry: tell its patient they joined (WAITLIST_JOINED_MAIL,
    with the link to leave) or that their place ended (WAITLIST_CLOSED_MAIL, WAITLIST_EXPIRED_MAIL). Hung on
    the entry itself: there is no consultation to hang it on."""
    session.add(
        OutboxMessage(
            waitlist_entry_id=entry.id,
            kind=kind,
            payload={},
            due_at=now,
            status=OutboxStatus.PENDING,
            attempts=0,
            idempotency_key=f"waitlist-entry:{entry.reference}:{kind}",
            created_at=now,
        )
    )


def enqueue_companion_invited(
    session: Session, consultation: Consultation, companion: Companion, now: datetime
) -> None:
    """In the transaction that adds a companion: send them their invitation and plan their reminders."""
    _add(session, consultation, now, OutboxKind.CONFIRMATION, Audience.COMPANION, companion=companion)
    _add(session, consultation, now, OutboxKind.PLAN_REMINDERS, companion=companion)


def enqueue_companion_removed(
    session: Session, consultation: Consultation, companion: Companion, now: datetime
) -> None:
    """In the transaction that removes a companion, the invite's sequence raised: tell them (their reminders
    see they were removed), and plan the reminders of those still invited again, at the new sequence."""
    _add(session, consultation, now, OutboxKind.CANCELLATION, Audience.COMPANION, companion=companion)
    if consultation.walk_in_entry is None:  # a walk-in call is reminded of nothing
        _drop_pending_reminders(session, consultation, now)
        _add(session, consultation, now, OutboxKind.PLAN_REMINDERS)


def enqueue_new_room(session: Session, consultation: Consultation, now: datetime) -> bool:
    """In the transaction that moves the call to a new meeting (a companion's removal, which raised the
    invite's sequence and planned the reminders again): cancel the old one, make the new one, and send its
    link to those who were invited by mail. A walk-in call's caller was mailed nothing: their page gives the
    new link. True if the patient is mailed it."""
    replace_meeting(session, consultation, now)
    if consultation.walk_in_entry is not None:
        return False
    _add_mails(session, consultation, now, OutboxKind.NEW_ROOM)
    return any(audience is Audience.PATIENT for audience, _ in mail_recipients(consultation))


def enqueue_link_resent(
    session: Session, consultation: Consultation, now: datetime, interval: timedelta
) -> bool:
    """Mail the patient their booking's link again, unless it was mailed again less than `interval` before
    `now`: then False. The last mail is the outbox's, so the interval holds across processes; the caller
    serialises the check and the write (lock_holder)."""
    recent = select(OutboxMessage.id).where(
        OutboxMessage.consultation_id == consultation.id,
        OutboxMessage.kind == OutboxKind.LINK,
        OutboxMessage.due_at > now - interval,
    )
    if session.scalar(recent.limit(1)) is not None:
        return False
    key = f"{_key(consultation, OutboxKind.LINK, Audience.PATIENT, None, None)}:at{now.timestamp():.0f}"
    _add(session, consultation, now, OutboxKind.LINK, Audience.PATIENT, key=key)
    return True


def enqueue_retired_meeting(
    session: Session, consultation: Consultation, provider: str, external_id: str, now: datetime
) -> None:
    """Cancel, at its provider, a meeting the consultation no longer uses (a fallback or a new room
    replaced it, or it was made for nothing)."""
    retired = {"provider": provider, "external_id": external_id}
    _enqueue_retirement(session, consultation, now, retired, f"{provider}:{external_id}")


def enqueue_unheard_meeting(
    session: Session,
    consultation: Consultation,
    key: str,
    clinician_id: int,
    now: datetime,
    due_at: datetime | None = None,
) -> None:
    """Cancel, at the provider a create keyed `key` for `clinician_id` went to, a meeting it may have made
    whose answer was lost, which no retry of it will find: the consultation was handed over since, or a
    fallback gave it a meeting elsewhere. Once per create: its hand-over and its fallback may both ask.
    `due_at`, when the create that timed out has surely reached the provider (else at once)."""
    unheard = {"key": key, "clinician_id": clinician_id}
    name = "unheard:{key}:c{clinician_id}".format(**unheard)
    asked = select(OutboxMessage.id).where(
        OutboxMessage.idempotency_key == _retirement_key(consultation, name)
    )
    if session.scalar(asked) is None:
        _enqueue_retirement(session, consultation, now, unheard, name, due_at)


def _enqueue_retirement(
    session: Session,
    consultation: Consultation,
    now: datetime,
    retired: dict[str, Any],
    name: str,
    due_at: datetime | None = None,
) -> None:
    """A cancel of the meeting `retired` names (its id, or the key and clinician a create was made for),
    `name` telling it from the consultation's other retirements."""
    key = _retirement_key(consultation, name)
    message = _add(session, consultation, now, OutboxKind.MEETING_CANCEL, due_at=due_at, key=key)
    message.payload = {"retire": retired}


def _retirement_key(consultation: Consultation, name: str) -> str:
    return f"{consultation.uuid}:{OutboxKind.MEETING_CANCEL}:retire:{name}"[:200]


def plan_reminders(
    session: Session,
    consultation: Consultation,
    offsets: Sequence[timedelta],
    *,
    since: datetime,
    now: datetime,
    companion_id: int | None = None,
) -> list[OutboxMessage]:
    """Add the reminders due at start − each offset, skipping those already due at `since`; for
    everyone reminded, or only for companion `companion_id` (invited later) while they take part.

    `since` is when the change was made: a reminder due after it but before `now` (the worker was
    down) is still planned and goes out late, as long as the consultation has not started.
    """
    recipients = [
        (audience, companion, since) for audience, companion in reminded(consultation, companion_id)
    ]
    return add_reminders(session, consultation, offsets, recipients, now)


def reminded(
    consultation: Consultation, companion_id: int | None = None
) -> list[tuple[Audience, Companion | None]]:
    """Those the consultation's reminders go to (of `mail_recipients`), or only companion `companion_id`."""
    recipients = [(a, c) for a, c in mail_recipients(consultation) if a in _REMINDED]
    if companion_id is not None:
        recipients = [(a, c) for a, c in recipients if c is not None and c.id == companion_id]
    return recipients


def add_reminders(
    session: Session,
    consultation: Consultation,
    offsets: Sequence[timedelta],
    recipients: Sequence[tuple[Audience, Companion | None, datetime]],
    now: datetime,
) -> list[OutboxMessage]:
    """Plan the reminders `unplanned_reminders` finds for each recipient, from its `since` (see
    `plan_reminders`); one cancelled when its offset was removed is pending again, under its own key."""
    existing = reminder_messages(session, consultation)
    added = []
    for key, audience, companion, due_at, seconds in unplanned_reminders(
        consultation, offsets, recipients, existing
    ):
        if (again := existing.get(key)) is not None:
            again.status, again.due_at, again.attempts = OutboxStatus.PENDING, due_at, 0
            again.outcome = again.last_error = again.done_at = None
            added.append(again)
        else:
            added.append(
                _add(session, consultation, now, OutboxKind.REMINDER, audience, companion, due_at, seconds)
            )
    return added


def reminder_messages(session: Session, consultation: Consultation) -> dict[str, OutboxMessage]:
    """The consultation's reminders, by idempotency key."""
    query = select(OutboxMessage).where(
        OutboxMessage.consultation_id == consultation.id, OutboxMessage.kind == OutboxKind.REMINDER
    )
    return {message.idempotency_key: message for message in session.scalars(query)}


def unplanned_reminders(
    consultation: Consultation,
    offsets: Sequence[timedelta],
    recipients: Sequence[tuple[Audience, Companion | None, datetime]],
    existing: Mapping[str, OutboxMessage],
) -> list[tuple[str, Audience, Companion | None, datetime, int]]:
    """The reminders `offsets` ask for, to each recipient after its `since`, that `existing` (the
    consultation's reminders by key) lacks, or has only as cancelled when its offset was removed: each as
    its key, recipient, due time and offset in seconds."""
    unplanned, seen = [], set()
    for offset in offsets:
        due_at, seconds = consultation.starts_at - offset, int(offset.total_seconds())
        for audience, companion, since in recipients:
            key = _key(consultation, OutboxKind.REMINDER, audience, companion, seconds)
            # Offsets written twice ("1d, 24h") are one: plan each reminder once.
            if due_at > since and key not in seen and _unplanned(existing.get(key)):
                seen.add(key)
                unplanned.append((key, audience, companion, due_at, seconds))
    return unplanned


def _unplanned(message: OutboxMessage | None) -> bool:
    return message is None or (message.status is OutboxStatus.CANCELLED and message.outcome == OFFSET_REMOVED)


def drop_removed_reminders(
    session: Session, consultation: Consultation, offsets: Sequence[timedelta], now: datetime
) -> None:
    """Cancel the consultation's pending reminders at offsets no longer among `offsets`."""
    in_force = [int(offset.total_seconds()) for offset in offsets]
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.consultation_id == consultation.id,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.kind == OutboxKind.REMINDER,
            OutboxMessage.payload["offset_seconds"].as_integer().not_in(in_force),
        )
        .values(status=OutboxStatus.CANCELLED, outcome=OFFSET_REMOVED, done_at=now)
    )


def mail_recipients(consultation: Consultation) -> list[tuple[Audience, Companion | None]]:
    """Who the consultation's mails go to: the patient if they have an address (staff give the
    details by phone to those without), the clinician, and the companion taking part, if any."""
    recipients: list[tuple[Audience, Companion | None]] = []
    if consultation.patient.email:
        recipients.append((Audience.PATIENT, None))
    recipients.append((Audience.CLINICIAN, None))
    if (companion := consultation.companion) is not None:
        recipients.append((Audience.COMPANION, companion))
    return recipients


def previous_start(message: OutboxMessage) -> datetime | None:
    """The time an update mail's consultation had before its move (None for other messages)."""
    previous = message.payload.get("previous_starts_at")
    return datetime.fromisoformat(previous) if previous else None


def handed_to_colleague(message: OutboxMessage) -> bool:
    """Whether an update mail's move gave the consultation another clinician."""
    return message.payload.get("new_clinician", False)


def _add_mails(session: Session, consultation: Consultation, now: datetime, kind: OutboxKind) -> None:
    for audience, companion in mail_recipients(consultation):
        _add(session, consultation, now, kind, audience, companion)


def _add(session: Session, *parts: Any, **named: Any) -> OutboxMessage:
    """The message of these parts (see `_values`), added to the session."""
    message = OutboxMessage(**_values(*parts, **named))
    session.add(message)
    return message


def _values(
    consultation: Consultation,
    now: datetime,
    kind: OutboxKind,
    audience: Audience | None = None,
    companion: Companion | None = None,
    due_at: datetime | None = None,
    offset_seconds: int | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """A pending message's values, by name (its attributes and columns are named alike)."""
    payload = {"sequence": consultation.invite_sequence}
    if companion is not None:
        payload["companion_id"] = companion.id
    if offset_seconds is not None:
        payload["offset_seconds"] = offset_seconds
    return {
        "consultation_id": consultation.id,
        "kind": kind,
        "audience": audience,
        "payload": payload,
        "due_at": due_at or now,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "idempotency_key": key or _key(consultation, kind, audience, companion, offset_seconds),
        "created_at": now,
    }


def _key(
    consultation: Consultation,
    kind: OutboxKind,
    audience: Audience | None,
    companion: Companion | None,
    offset_seconds: int | None,
) -> str:
    key = f"{consultation.uuid}:{kind}:{audience or '-'}:{consultation.invite_sequence}"
    if companion is not None:  # a replaced companion's messages must not collide with the next one's
        key += f":c{companion.id}"
    if offset_seconds is not None:
        key += f":{offset_seconds}"
    return key


def _drop_pending_reminders(session: Session, consultation: Consultation, now: datetime) -> None:
    # A reminder already running re-checks the consultation before it sends, so only pending ones go here.
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.consultation_id == consultation.id,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.kind.in_(REMINDER_KINDS),
        )
        .values(status=OutboxStatus.CANCELLED, outcome="superseded", done_at=now)
    )
