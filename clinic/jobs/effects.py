"""What each outbox message does: create, move or cancel the meeting, send one mail, plan reminders.

An effect does its network call outside any transaction and returns a `Result`; the dispatcher
runs the result's `apply` in the transaction that marks the message done, so a new meeting is
stored exactly when its message completes. Effects raise the providers' and mail backends' own
errors; the dispatcher decides between retry and dead letter.
"""

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ..links import booking_url, consultation_page_url
from ..meetings import (
    Meeting,
    MeetingProvider,
    ProviderError,
    ProviderUnavailable,
    RetiresUnheard,
    get_provider,
    host_links_expire,
    may_have_made,
    meeting_key,
    replaces_meeting_for_new_host,
)
from ..models import Clinician, Companion, Consultation, OutboxKind, OutboxMessage, OutboxStatus
from ..models.outbox import UNFINISHED
from ..notify.messages import cancels, carries_invite, compose
from ..notify.notices import Audience, MessageKind, Notice, Recipient
from ..scheduling.clashes import ABSENT, Clash, clashes_of
from ..scheduling.lifecycle import change_deadline
from ..scheduling.tokens import companion_link, manage_link
from .claims import CHANGE_MAILS
from .context import Context, Effect, Result, message_id_for
from .offer_effects import make_offers, send_entry_mail, send_offer_mail
from .outbox import (
    enqueue_retired_meeting,
    enqueue_unheard_meeting,
    handed_over_from,
    handed_to_colleague,
    plan_reminders,
    previous_start,
)
from .settings import WorkerSettings


class MeetingMissing(Exception):
    """An invite is due but the consultation has no meeting link yet (its meeting message died).

    Retried like a temporary failure, so the mail goes out once an admin gets the meeting made.
    """


# How often a reminder held for its clinician's absence looks again: soon enough that it still goes out in
# time once the time off is given back. A move of the booking drops it and plans reminders of its own.
HELD_REMINDER_RECHECK = timedelta(minutes=15)

_MAIL_KINDS = {
    OutboxKind.CONFIRMATION: MessageKind.CONFIRMATION,
    OutboxKind.UPDATE: MessageKind.UPDATE,
    OutboxKind.CANCELLATION: MessageKind.CANCELLATION,
    OutboxKind.HANDED_OVER: MessageKind.HANDED_OVER,
    OutboxKind.REMINDER: MessageKind.REMINDER,
    OutboxKind.LINK: MessageKind.LINK,
    OutboxKind.NEW_ROOM: MessageKind.NEW_ROOM,
}
# The mails that put the consultation in their reader's calendar, as it was when each was written.
_INVITES = frozenset({MessageKind.CONFIRMATION, MessageKind.UPDATE, MessageKind.NEW_ROOM})


def perform(ctx: Context, message: OutboxMessage, consultation: Consultation, now: datetime) -> Result:
    """Run the effect of one claimed message; raises on failure."""
    return _EFFECTS[message.kind](ctx, message, consultation, now)


def create_meeting(ctx: Context, message: OutboxMessage, consultation: Consultation, now: datetime) -> Result:
    """Create the meeting at the service's provider (else the hospital's), or at the fallback if it cannot."""
    if consultation.meeting_external_id:
        # A run whose result was stored already: a second meeting would orphan the link already mailed.
        return Result(outcome="exists")
    primary = _primary(ctx, consultation)
    # Tried before: this run's attempts, or a dead letter's whose count an admin's requeue started again.
    tried = message.attempts > 1 or message.last_error is not None
    if not consultation.is_active and _meeting_cancel_ran(ctx, message):
        return _never_made(ctx, consultation, primary, tried)
    return _with_fallback(
        ctx, message, consultation, now, primary, lambda p: p.create(consultation, retry=tried), tried=tried
    )


def _meeting_cancel_ran(ctx: Context, message: OutboxMessage) -> bool:
    """Whether a meeting cancel written after this create has run: it waits for the create, so it can only
    have run while the create was a dead letter, which an admin has requeued since. Asked of a cancelled
    consultation's create only: while the cancel waits, the meeting is made and then cancelled by it."""
    later = select(OutboxMessage.id).where(
        OutboxMessage.consultation_id == message.consultation_id,
        OutboxMessage.id > message.id,
        OutboxMessage.kind == OutboxKind.MEETING_CANCEL,
        OutboxMessage.status.not_in(UNFINISHED),
    )
    with Session(ctx.bind) as reader:
        return reader.scalar(later.limit(1)) is not None


def _never_made(ctx: Context, consultation: Consultation, provider_name: str, tried: bool) -> Result:
    """The create of a consultation whose cancellation's meeting cancel found no meeting: nothing is left
    standing. After an earlier attempt, a meeting it may have made unheard is got as a retried create gets
    it (or, where none was, made) and cancelled: the providers' one way to find such a meeting."""
    if tried:
        _retire_made_unheard(_provider(ctx, provider_name), consultation)
    return Result(status=OutboxStatus.CANCELLED, outcome="superseded")


def _retire_made_unheard(provider: MeetingProvider, consultation: Consultation) -> None:
    """Cancel the meeting an earlier create may have made unheard, got as a retried create gets it (or,
    where none was, made): the providers' one way to find such a meeting."""
    provider.cancel(consultation, provider.create(consultation, retry=True))


def update_meeting(ctx: Context, message: OutboxMessage, consultation: Consultation, now: datetime) -> Result:
    """Move the meeting to the new time (its provider may hand out new links)."""
    if not consultation.is_active:
        return Result(status=OutboxStatus.CANCELLED, outcome="superseded")  # a cancel follows
    if not consultation.meeting_external_id:
        return create_meeting(ctx, message, consultation, now)
    meeting = _meeting_of(consultation)
    return _with_fallback(
        ctx, message, consultation, now, meeting.provider, lambda p: p.update(consultation, meeting)
    )


def cancel_meeting(ctx: Context, message: OutboxMessage, consultation: Consultation, now: datetime) -> Result:
    """Cancel the meeting at its provider; the link stays on record for the audit of what was sent.

    A message naming a meeting to retire cancels that one: the meeting a fallback or a new room replaced,
    or the one a create whose answer was lost made for the clinician the consultation was handed from.
    """
    retired = message.payload.get("retire")
    if retired and "key" in retired:
        return _cancel_unheard(ctx, consultation, retired["key"], retired["clinician_id"])
    if retired:
        meeting = Meeting(retired["provider"], join_url="", host_url=None, external_id=retired["external_id"])
        current = (consultation.meeting_provider, consultation.meeting_external_id)
        if current == (meeting.provider, meeting.external_id):
            return Result(outcome="still in use")  # a new room's create was answered with the old meeting
    elif consultation.meeting_external_id:
        meeting = _meeting_of(consultation)
    else:
        return Result(outcome="no meeting")
    _provider(ctx, meeting.provider).cancel(consultation, meeting)
    return Result()


def _cancel_unheard(ctx: Context, consultation: Consultation, key: str, clinician_id: int) -> Result:
    """Cancel what a create keyed `key` for `clinician_id` may have made unheard, at the provider the create
    went to: one no create for the new clinician finds there (RetiresUnheard), or one a fallback left
    standing, which no retry looks for any more."""
    provider = _provider(ctx, _primary(ctx, consultation))
    if isinstance(provider, RetiresUnheard):
        provider.cancel_unheard(consultation, key, clinician_id)
        return Result()
    if consultation.meeting_provider == provider.name:
        return Result(outcome="no meeting")  # the retry is keyed as the first try: it found that meeting
    if key != meeting_key(consultation):
        # A new room since: a retried create would look for that room's meeting, not the one to retire.
        return Result(outcome="not found")
    _retire_made_unheard(provider, consultation)
    return Result()


def send_mail(ctx: Context, message: OutboxMessage, consultation: Consultation, now: datetime) -> Result:
    """Send one confirmation, update, cancellation, handover, reminder or link again, to its recipient."""
    kind = _MAIL_KINDS[message.kind]
    companion = _companion(consultation, message)
    if (outdated := _outdated(kind, message, consultation, companion, now)) is not None:
        return outdated
    if kind in _INVITES and _overtaken(ctx, message, consultation):
        return Result(status=OutboxStatus.CANCELLED, outcome="superseded")
    if kind is MessageKind.REMINDER and _reminded_nearer(ctx, message, consultation, now):
        return Result(status=OutboxStatus.CANCELLED, outcome="superseded")
    if kind is MessageKind.REMINDER and (held := _held(ctx, consultation, now)) is not None:
        return held
    if kind is not MessageKind.LINK and not cancels(kind) and not consultation.meeting_join_url:
        raise MeetingMissing(consultation.reference)
    settings = ctx.settings
    domain = consultation.invite_domain or settings.invite_domain
    mail = compose(
        kind,
        Audience(message.audience),
        _notice(settings, consultation, message, now, companion, _former_clinician(ctx, message)),
        sender=settings.mail_from,
        domain=domain,
        message_id=message_id_for(message, settings.invite_domain),
        now=now,
    )
    ctx.mail.send(mail)
    if consultation.invite_domain is None and carries_invite(kind):
        return Result(apply=_keep_invite_domain(domain))
    return Result()


def _keep_invite_domain(domain: str) -> Callable[[Session, Consultation], None]:
    """Keep the domain of the consultation's first invite: every later one must carry the same UID, or
    calendars keep the event beside its update, or after its cancellation, once INVITE_DOMAIN changes."""

    def keep(session: Session, consultation: Consultation) -> None:
        if consultation.invite_domain is None:  # another recipient's invite may have kept it already
            consultation.invite_domain = domain

    return keep


def _former_clinician(ctx: Context, message: OutboxMessage) -> tuple[Clinician, datetime] | None:
    """The clinician a consultation was handed from, and the time they had it, for the handover mail that
    takes it off their calendar (None for other mails). Read apart: the loaded consultation is not theirs."""
    if (handed_over := handed_over_from(message)) is None:
        return None
    clinician_id, starts_at = handed_over
    with Session(ctx.bind, expire_on_commit=False) as reader:
        return reader.get_one(Clinician, clinician_id), starts_at


def _outdated(
    kind: MessageKind,
    message: OutboxMessage,
    consultation: Consultation,
    companion: Companion | None,
    now: datetime,
) -> Result | None:
    """Why the mail is no longer worth sending, as the message's result; None to send it."""
    superseded = Result(status=OutboxStatus.CANCELLED, outcome="superseded")
    if kind is MessageKind.LINK:  # asked for while the booking stood: only while it still does
        if not consultation.is_active or not consultation.patient.email:
            return superseded
        return Result(outcome="expired") if now >= consultation.ends_at else None
    if not cancels(kind) and companion is not None and companion.removed_at is not None:
        return superseded  # they were uninvited since
    if kind in _INVITES and not consultation.is_active:
        # Cancelled since it was written: "booked" or "moved", with links to a call that is off, would
        # reach them just before the cancellation, which waits behind it and says all.
        return superseded
    if kind is MessageKind.REMINDER:
        if not _current(message, consultation):
            return superseded
        if now >= consultation.starts_at:
            return Result(outcome="expired")
    return None


def _current(message: OutboxMessage, consultation: Consultation) -> bool:
    """Whether the message was written for the consultation as it stands: still booked, at its sequence."""
    return consultation.is_active and message.payload["sequence"] == consultation.invite_sequence


def _overtaken(ctx: Context, message: OutboxMessage, consultation: Consultation) -> bool:
    """Whether a later change's mail to the same recipient has gone out already: this one, a dead letter
    requeued since, would reach them after it and undo it (a booking confirmed after its cancellation, an
    old time after the new). Asked only of a mail a change has followed: a current one has no later."""
    if _current(message, consultation):
        return False
    later = select(OutboxMessage.id).where(
        OutboxMessage.consultation_id == message.consultation_id,
        OutboxMessage.id > message.id,
        OutboxMessage.kind.in_(CHANGE_MAILS),
        OutboxMessage.audience == message.audience,
        OutboxMessage.status == OutboxStatus.DONE,
    )
    with Session(ctx.bind) as reader:
        return reader.scalar(later.limit(1)) is not None


def _reminded_nearer(ctx: Context, message: OutboxMessage, consultation: Consultation, now: datetime) -> bool:
    """Whether a reminder nearer the start, to the same recipient, is due too (the worker was down past
    both): it says the same, and two at once would read as one sent twice. Asked of the database only
    when a shorter offset's time has passed, so a reminder on time costs no query."""
    offset = timedelta(seconds=message.payload["offset_seconds"])
    if not any(o < offset and now >= consultation.starts_at - o for o in ctx.settings.reminder_offsets):
        return False
    payload = OutboxMessage.payload
    nearer = select(OutboxMessage.id).where(
        OutboxMessage.consultation_id == message.consultation_id,
        OutboxMessage.kind == OutboxKind.REMINDER,
        OutboxMessage.audience == message.audience,
        payload["sequence"].as_integer() == message.payload["sequence"],
        OutboxMessage.due_at > message.due_at,
        OutboxMessage.due_at <= now,
        OutboxMessage.status.in_((*UNFINISHED, OutboxStatus.DONE)),
    )
    if (companion_id := message.payload.get("companion_id")) is not None:
        nearer = nearer.where(payload["companion_id"].as_integer() == companion_id)
    with Session(ctx.bind) as reader:
        return reader.scalar(nearer.limit(1)) is not None


def absent_clashes(
    bind: Engine | Connection, consultations: Sequence[Consultation], now: datetime
) -> dict[int, Clash]:
    """The clashes of `consultations` in which nobody will be there to take the call, by id: one query."""
    if not consultations:
        return {}
    with Session(bind) as reader:
        clashes = clashes_of(reader, consultations, now)
    return {id_: clash for id_, clash in clashes.items() if clash in ABSENT}


def _held(ctx: Context, consultation: Consultation, now: datetime) -> Result | None:
    """A reminder's result while nobody will be there to take the call (its clinician's time off, or a
    closure: decided as its batch is run, as the time off may have been added after the reminder was
    planned): held, to look again later, and expired unsent if the consultation starts before then. None
    to send it."""
    absent = ctx.absent if ctx.absent is not None else absent_clashes(ctx.bind, [consultation], now)
    if (clash := absent.get(consultation.id)) is None:
        return None
    again_at = min(now + HELD_REMINDER_RECHECK, consultation.starts_at)
    return Result(status=OutboxStatus.PENDING, outcome=f"held: {clash.value}", again_at=again_at)


def plan(ctx: Context, message: OutboxMessage, consultation: Consultation, now: datetime) -> Result:
    """Add the reminder messages for the consultation's time as of this message's change."""
    sequence = message.payload["sequence"]
    if not consultation.is_active or sequence != consultation.invite_sequence:
        return Result(status=OutboxStatus.CANCELLED, outcome="superseded")

    def add_reminders(session: Session, locked: Consultation) -> None:
        # Checked again under the row lock: a reschedule may have committed since the check above.
        if locked.is_active and locked.invite_sequence == sequence:
            offsets, companion_id = ctx.settings.reminder_offsets, message.payload.get("companion_id")
            plan_reminders(
                session, locked, offsets, since=message.created_at, now=now, companion_id=companion_id
            )

    return Result(apply=add_reminders)


def _with_fallback(
    ctx: Context,
    message: OutboxMessage,
    consultation: Consultation,
    now: datetime,
    provider_name: str,
    call: Callable[..., Meeting],
    *,
    tried: bool | None = None,
) -> Result:
    """Run `call` at the provider, or make the meeting at the fallback if it cannot. `tried` is given for a
    create: whether an earlier attempt was made, which, like this one if it timed out, may have made a
    meeting whose answer was lost; falling back, that meeting is retired once the provider answers again."""
    settings, seen, host = ctx.settings, consultation.meeting_external_id, consultation.clinician_id
    try:
        return Result(apply=_store(call(_provider(ctx, provider_name)), seen, host, now))
    except ProviderError as error:
        fallback = settings.fallback_provider
        deadline = consultation.starts_at - settings.fallback_after
        worth_waiting = (
            isinstance(error, ProviderUnavailable)
            and now + timedelta(seconds=error.retry_after or 0) < deadline  # a 429 for the day, say: no
            and message.attempts < settings.max_attempts
        )
        if worth_waiting or not fallback or fallback == provider_name:
            raise
        cause = f"{provider_name}:{type(error).__name__}"  # which provider failed, for the admin
        made_unheard = tried is not None and (tried or may_have_made(error))
    # The patient needs a working link more than the hospital's preferred provider: use the fallback.
    meeting = _provider(ctx, fallback).create(consultation)
    # Looked for no sooner than a retry would look: a create whose answer was lost may still be under way.
    unheard = (meeting_key(consultation), host, now + settings.retry_base) if made_unheard else None
    store = _store(meeting, seen, host, now, fallback=True, unheard=unheard)
    return Result(outcome=f"fallback:{fallback}", error=cause, apply=store)


def _store(
    meeting: Meeting,
    seen: str | None,
    host: int,
    now: datetime,
    *,
    fallback: bool = False,
    unheard: tuple[str, int, datetime] | None = None,
) -> Callable[[Session, Consultation], None]:
    """Make `meeting` the consultation's, if its meeting is still `seen` (the one the effect started from)
    and, at a provider that names the host only when it makes a meeting, its clinician still `host`.
    A create keyed `unheard` (its key and clinician) that a fallback replaced has what it may have made
    retired, from the time `unheard` ends with."""

    def store(session: Session, consultation: Consultation) -> None:
        if unheard is not None:
            key, clinician_id, due_at = unheard
            enqueue_unheard_meeting(session, consultation, key, clinician_id, now, due_at)
        current = consultation.meeting_external_id
        handed_over = consultation.clinician_id != host and replaces_meeting_for_new_host(meeting.provider)
        if current != seen or (handed_over and meeting.external_id != current):
            # Changed while the provider was asked: a new room (the old one's address went out with someone
            # taken out of the call) must not be overwritten, and a meeting made for the clinician the
            # consultation was handed from would leave the new one unable to let the patient in (the
            # hand-over's own update makes theirs). A meeting made for nothing is cancelled.
            if meeting.external_id not in (seen, current):
                enqueue_retired_meeting(session, consultation, meeting.provider, meeting.external_id, now)
            return
        if fallback and current:
            # A fallback replaces a meeting that still stands at the old time: have it cancelled.
            enqueue_retired_meeting(session, consultation, consultation.meeting_provider, current, now)
        consultation.meeting_provider = meeting.provider
        consultation.meeting_join_url = meeting.join_url
        consultation.meeting_host_url = meeting.host_url
        consultation.meeting_external_id = meeting.external_id

    return store


def _meeting_of(consultation: Consultation) -> Meeting:
    return Meeting(
        provider=consultation.meeting_provider,
        join_url=consultation.meeting_join_url,
        host_url=consultation.meeting_host_url,
        external_id=consultation.meeting_external_id,
    )


def _provider(ctx: Context, name: str) -> MeetingProvider:
    return get_provider(name, ctx.settings.config)


def _primary(ctx: Context, consultation: Consultation) -> str:
    """The provider a consultation's meeting is made at: its service's, else the hospital's."""
    return consultation.service.meeting_provider or ctx.settings.meeting_provider


def _companion(consultation: Consultation, message: OutboxMessage) -> Companion | None:
    """The companion a message is for (removed ones included: they are sent their cancellation)."""
    companion_id = message.payload.get("companion_id")
    return next((c for c in consultation.companions if c.id == companion_id), None)


def _host_link(consultation: Consultation, base_url: str, join_url: str) -> str:
    """What the clinician's mails start the call with: the host link, or the consultation's page where the
    provider's host links expire before the day (its Start call asks for one then; see host_link_now)."""
    if host_links_expire(consultation.meeting_provider):
        return consultation_page_url(base_url, consultation.id)
    return consultation.meeting_host_url or join_url


def _notice(
    settings: WorkerSettings,
    consultation: Consultation,
    message: OutboxMessage,
    now: datetime,
    companion: Companion | None = None,
    former: tuple[Clinician, datetime] | None = None,
) -> Notice:
    patient, clinician, service = consultation.patient, consultation.clinician, consultation.service
    starts_at, ends_at, handed_to = consultation.starts_at, consultation.ends_at, ""
    if former is not None:  # the clinician it was handed from, told it is off their calendar and whose it is
        handed_to, (clinician, starts_at) = clinician.display_name, former
        ends_at = starts_at + (consultation.ends_at - consultation.starts_at)
    base_url, keys, reference = settings.public_base_url, settings.link_keys, consultation.reference
    join_url = consultation.meeting_join_url or ""
    deadline = change_deadline(consultation)
    guest, guest_url = None, ""
    if companion is not None:  # they read times in the patient's zone, which the mail names, and clock
        guest = Recipient(companion.name, companion.email, consultation.patient_time_zone, patient.language)
        guest_url = companion_link(companion, base_url=base_url, keys=keys)
    return Notice(
        consultation_uuid=consultation.uuid,
        reference=reference,
        sequence=message.payload["sequence"],
        starts_at=starts_at,
        ends_at=ends_at,
        hospital_name=settings.hospital_name,
        service_name=service.name,
        join_url=join_url,
        host_url=_host_link(consultation, base_url, join_url),
        manage_url=manage_link(consultation, base_url=base_url, keys=keys),
        patient=Recipient(
            patient.name, patient.email or "", consultation.patient_time_zone, patient.language
        ),
        clinician=Recipient(clinician.display_name, clinician.email, clinician.time_zone),
        companion=guest,
        companion_url=guest_url,
        companion_uuid=companion.uuid if companion is not None else "",
        contact_phone=service.department.contact_phone,
        change_deadline=deadline if now < deadline else None,
        previous_starts_at=previous_start(message),
        new_clinician=handed_to_colleague(message),
        book_again_url=booking_url(base_url, service.id),
        handed_to=handed_to,
    )


_EFFECTS: dict[OutboxKind, Effect] = {
    OutboxKind.MEETING_CREATE: create_meeting,
    OutboxKind.MEETING_UPDATE: update_meeting,
    OutboxKind.MEETING_CANCEL: cancel_meeting,
    OutboxKind.CONFIRMATION: send_mail,
    OutboxKind.UPDATE: send_mail,
    OutboxKind.CANCELLATION: send_mail,
    OutboxKind.HANDED_OVER: send_mail,
    OutboxKind.REMINDER: send_mail,
    OutboxKind.LINK: send_mail,
    OutboxKind.NEW_ROOM: send_mail,
    OutboxKind.PLAN_REMINDERS: plan,
    OutboxKind.WAITLIST_OFFERS: make_offers,
    OutboxKind.WAITLIST_OFFER_MAIL: send_offer_mail,
    OutboxKind.WAITLIST_GONE_MAIL: send_offer_mail,
    OutboxKind.WAITLIST_JOINED_MAIL: send_entry_mail,
    OutboxKind.WAITLIST_CLOSED_MAIL: send_entry_mail,
    OutboxKind.WAITLIST_EXPIRED_MAIL: send_entry_mail,
}
