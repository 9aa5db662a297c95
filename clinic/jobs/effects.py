"""What each outbox message does: create, move or cancel the meeting, send one mail, plan reminders.

An effect does its network call outside any transaction and returns a `Result`; the dispatcher
runs the result's `apply` in the transaction that marks the message done, so a new meeting is
stored exactly when its message completes. Effects raise the providers' and mail backends' own
errors; the dispatcher decides between retry and dead letter.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, joinedload

from ..links import booking_url
from ..meetings import Meeting, MeetingProvider, ProviderError, ProviderUnavailable, get_provider
from ..models import (
    Companion,
    Consultation,
    OfferStatus,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Service,
    WaitlistOffer,
)
from ..notify.mail import MailBackend, make_message_id
from ..notify.messages import Audience, MessageKind, Notice, Recipient, compose
from ..notify.offers import OfferMail, OfferNotice, compose_offer_mail
from ..scheduling.lifecycle import change_deadline
from ..scheduling.offers import FreedTime, offer_freed_time
from ..scheduling.tokens import companion_link, manage_link, offer_link, waitlist_link
from .outbox import enqueue_retired_meeting, plan_reminders, previous_start
from .settings import WorkerSettings


class MeetingMissing(Exception):
    """An invite is due but the consultation has no meeting link yet (its meeting message died).

    Retried like a temporary failure, so the mail goes out once an admin gets the meeting made.
    """


@dataclass(frozen=True)
class Context:
    """What effects use: the settings, the mail backend of this worker thread, and the database, which
    the waitlist's mails read their offer from (the rest have their consultation loaded for them)."""

    settings: WorkerSettings
    mail: MailBackend
    bind: Engine


@dataclass(frozen=True)
class Result:
    """How a message ended; `apply` changes the consultation in the transaction that records it."""

    status: OutboxStatus = OutboxStatus.DONE
    outcome: str | None = None
    error: str | None = None
    apply: Callable[[Session, Consultation], None] | None = None


Effect = Callable[[Context, OutboxMessage, Consultation, datetime], Result]

_MAIL_KINDS = {
    OutboxKind.CONFIRMATION: MessageKind.CONFIRMATION,
    OutboxKind.UPDATE: MessageKind.UPDATE,
    OutboxKind.CANCELLATION: MessageKind.CANCELLATION,
    OutboxKind.REMINDER: MessageKind.REMINDER,
    OutboxKind.LINK: MessageKind.LINK,
}


def perform(ctx: Context, message: OutboxMessage, consultation: Consultation, now: datetime) -> Result:
    """Run the effect of one claimed message; raises on failure."""
    return _EFFECTS[message.kind](ctx, message, consultation, now)


def message_id_for(message: OutboxMessage, domain: str) -> str:
    """The Message-ID of an outbox mail: every send of the same row, retries included, carries it."""
    return make_message_id(f"outbox:{message.idempotency_key}", domain)


def create_meeting(ctx: Context, message: OutboxMessage, consultation: Consultation, now: datetime) -> Result:
    """Create the meeting at the service's provider (else the hospital's), or at the fallback if it cannot."""
    if consultation.meeting_external_id:
        # A run whose result was stored already: a second meeting would orphan the link already mailed.
        return Result(outcome="exists")
    primary = consultation.service.meeting_provider or ctx.settings.meeting_provider
    return _with_fallback(
        ctx, message, consultation, now, primary, lambda p: p.create(consultation, retry=message.attempts > 1)
    )


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

    A message naming a meeting to retire cancels that one: the meeting a fallback replaced.
    """
    if retired := message.payload.get("retire"):
        meeting = Meeting(retired["provider"], join_url="", host_url=None, external_id=retired["external_id"])
    elif consultation.meeting_external_id:
        meeting = _meeting_of(consultation)
    else:
        return Result(outcome="no meeting")
    _provider(ctx, meeting.provider).cancel(consultation, meeting)
    return Result()


def send_mail(ctx: Context, message: OutboxMessage, consultation: Consultation, now: datetime) -> Result:
    """Send one confirmation, update, cancellation, reminder or link sent again, to its recipient."""
    kind = _MAIL_KINDS[message.kind]
    companion = _companion(consultation, message)
    if (outdated := _outdated(kind, message, consultation, companion, now)) is not None:
        return outdated
    if kind not in (MessageKind.CANCELLATION, MessageKind.LINK) and not consultation.meeting_join_url:
        raise MeetingMissing(consultation.reference)
    settings = ctx.settings
    mail = compose(
        kind,
        Audience(message.audience),
        _notice(settings, consultation, message, now, companion),
        sender=settings.mail_from,
        domain=settings.invite_domain,
        message_id=message_id_for(message, settings.invite_domain),
        now=now,
    )
    ctx.mail.send(mail)
    return Result()


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
    if kind is not MessageKind.CANCELLATION and companion is not None and companion.removed_at is not None:
        return superseded  # they were uninvited since
    if kind is MessageKind.REMINDER:
        if not consultation.is_active or message.payload["sequence"] != consultation.invite_sequence:
            return superseded
        if now >= consultation.starts_at:
            return Result(outcome="expired")
    return None


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
) -> Result:
    settings = ctx.settings
    try:
        return Result(apply=_store(call(_provider(ctx, provider_name))))
    except ProviderError as error:
        fallback = settings.fallback_provider
        deadline = consultation.starts_at - settings.fallback_after
        worth_waiting = (
            isinstance(error, ProviderUnavailable)
            and now < deadline
            and message.attempts < settings.max_attempts
        )
        if worth_waiting or not fallback or fallback == provider_name:
            raise
        cause = f"{provider_name}:{type(error).__name__}"  # which provider failed, for the admin
    # The patient needs a working link more than the hospital's preferred provider: use the fallback.
    meeting = _provider(ctx, fallback).create(consultation)
    return Result(outcome=f"fallback:{fallback}", error=cause, apply=_store(meeting, now))


def _store(meeting: Meeting, now: datetime | None = None) -> Callable[[Session, Consultation], None]:
    def store(session: Session, consultation: Consultation) -> None:
        if now is not None and consultation.meeting_external_id:
            # A fallback replaces a meeting that still stands at the old time: have it cancelled.
            old_provider, old_id = consultation.meeting_provider, consultation.meeting_external_id
            enqueue_retired_meeting(session, consultation, old_provider, old_id, now)
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


def _companion(consultation: Consultation, message: OutboxMessage) -> Companion | None:
    """The companion a message is for (removed ones included: they are sent their cancellation)."""
    companion_id = message.payload.get("companion_id")
    return next((c for c in consultation.companions if c.id == companion_id), None)


def _notice(
    settings: WorkerSettings,
    consultation: Consultation,
    message: OutboxMessage,
    now: datetime,
    companion: Companion | None = None,
) -> Notice:
    patient, clinician, service = consultation.patient, consultation.clinician, consultation.service
    base_url, keys, reference = settings.public_base_url, settings.link_keys, consultation.reference
    join_url = consultation.meeting_join_url or ""
    deadline = change_deadline(consultation)
    guest, guest_url = None, ""
    if companion is not None:  # they read times in the patient's zone, which the mail names
        guest = Recipient(companion.name, companion.email, consultation.patient_time_zone)
        guest_url = companion_link(companion, base_url=base_url, keys=keys)
    return Notice(
        consultation_uuid=consultation.uuid,
        reference=reference,
        sequence=message.payload["sequence"],
        starts_at=consultation.starts_at,
        ends_at=consultation.ends_at,
        hospital_name=settings.hospital_name,
        service_name=service.name,
        join_url=join_url,
        host_url=consultation.meeting_host_url or join_url,
        manage_url=manage_link(consultation, base_url=base_url, keys=keys),
        patient=Recipient(
            patient.name, patient.email or "", consultation.patient_time_zone, patient.language
        ),
        clinician=Recipient(clinician.display_name, clinician.email, clinician.time_zone),
        companion=guest,
        companion_url=guest_url,
        contact_phone=service.department.contact_phone,
        change_deadline=deadline if now < deadline else None,
        previous_starts_at=previous_start(message),
        book_again_url=booking_url(base_url, service.id),
    )


def make_offers(ctx: Context, message: OutboxMessage, consultation: Consultation, now: datetime) -> Result:
    """Offer the time the consultation freed to the first patients waiting for it (see `offers`)."""
    payload = message.payload
    freed = FreedTime(
        payload["service_id"], payload["clinician_id"], datetime.fromisoformat(payload["starts_at"])
    )

    def offer(session: Session, locked: Consultation) -> None:
        offer_freed_time(session, freed, locked, now=now, rules=ctx.settings.waitlist)

    return Result(apply=offer)


_OFFER_MAILS = {
    OutboxKind.WAITLIST_OFFER_MAIL: OfferMail.OFFER,
    OutboxKind.WAITLIST_GONE_MAIL: OfferMail.GONE,
}
# The status an offer must still have for its mail to be worth sending.
_STILL = {OfferMail.OFFER: OfferStatus.OFFERED, OfferMail.GONE: OfferStatus.GONE}


def send_offer_mail(
    ctx: Context, message: OutboxMessage, consultation: Consultation, now: datetime
) -> Result:
    """Mail a waiting patient the time offered to them, or that it has gone, while that is still so."""
    kind = _OFFER_MAILS[message.kind]
    with Session(ctx.bind) as reader:
        offer = reader.get(
            WaitlistOffer,
            message.payload["offer_id"],
            options=[
                joinedload(WaitlistOffer.entry),
                joinedload(WaitlistOffer.clinician),
                joinedload(WaitlistOffer.service).joinedload(Service.department),
            ],
        )
        if offer is None or offer.status is not _STILL[kind]:
            return Result(status=OutboxStatus.CANCELLED, outcome="superseded")
        if kind is OfferMail.OFFER and now >= offer.expires_at:
            return Result(outcome="expired")
        notice = _offer_notice(ctx.settings, offer)
    settings = ctx.settings
    message_id = message_id_for(message, settings.invite_domain)
    ctx.mail.send(compose_offer_mail(kind, notice, sender=settings.mail_from, message_id=message_id, now=now))
    return Result()


def _offer_notice(settings: WorkerSettings, offer: WaitlistOffer) -> OfferNotice:
    entry, service, base_url, keys = offer.entry, offer.service, settings.public_base_url, settings.link_keys
    return OfferNotice(
        patient=Recipient(entry.name, entry.email, entry.time_zone, entry.language),
        hospital_name=settings.hospital_name,
        service_name=service.name,
        clinician_name=offer.clinician.display_name,
        starts_at=offer.starts_at,
        minutes=service.duration_minutes,
        expires_at=offer.expires_at,
        offer_url=offer_link(offer, base_url=base_url, keys=keys),
        leave_url=waitlist_link(entry, base_url=base_url, keys=keys),
        book_url=booking_url(base_url, service.id),
        contact_phone=service.department.contact_phone,
    )


_EFFECTS: dict[OutboxKind, Effect] = {
    OutboxKind.MEETING_CREATE: create_meeting,
    OutboxKind.MEETING_UPDATE: update_meeting,
    OutboxKind.MEETING_CANCEL: cancel_meeting,
    OutboxKind.CONFIRMATION: send_mail,
    OutboxKind.UPDATE: send_mail,
    OutboxKind.CANCELLATION: send_mail,
    OutboxKind.REMINDER: send_mail,
    OutboxKind.LINK: send_mail,
    OutboxKind.PLAN_REMINDERS: plan,
    OutboxKind.WAITLIST_OFFERS: make_offers,
    OutboxKind.WAITLIST_OFFER_MAIL: send_offer_mail,
    OutboxKind.WAITLIST_GONE_MAIL: send_offer_mail,
}
