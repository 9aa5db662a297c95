"""The waitlist's outbox effects: confirming a place on it, offering a freed time, mailing each offer (or its
end) to its patient, and telling a patient their place ended: closed with what it waited for, or expired
with its last day."""

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..links import booking_start_url, booking_url
from ..models import (
    Consultation,
    OfferStatus,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Service,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
)
from ..notify.notices import Recipient
from ..notify.offers import (
    EndedNotice,
    JoinedNotice,
    OfferMail,
    OfferNotice,
    PlaceNotice,
    compose_closed_mail,
    compose_expired_mail,
    compose_joined_mail,
    compose_offer_mail,
)
from ..scheduling.offers import FreedTime, end_unmailed, offer_freed_time, still_free, time_of
from ..scheduling.tokens import offer_link, waitlist_link
from .context import Context, Result, message_id_for
from .outbox import offer_mail_key
from .settings import WorkerSettings


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
    """Mail a waiting patient the time offered to them, or that it has gone, while that is still so (and,
    for the latter, while they are still waiting, as it says)."""
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
        if kind is OfferMail.GONE and not _told_of(reader, offer):
            return Result(status=OutboxStatus.CANCELLED, outcome="superseded")
        if kind is OfferMail.OFFER and now >= offer.expires_at:
            return Result(outcome="expired")
        if kind is OfferMail.OFFER and not still_free(reader, time_of(offer), now):
            return Result(status=OutboxStatus.CANCELLED, outcome="time gone", apply=_ended(offer.id, now))
        notice = _offer_notice(ctx.settings, offer)
    settings = ctx.settings
    message_id = message_id_for(message, settings.invite_domain)
    ctx.mail.send(compose_offer_mail(kind, notice, sender=settings.mail_from, message_id=message_id, now=now))
    return Result()


def _told_of(reader: Session, offer: WaitlistOffer) -> bool:
    """Whether an offer that has gone is worth its mail: its patient was mailed the offer (one never told of
    it needs no word of its end), and is still waiting, as the mail says."""
    if offer.entry.status is not WaitlistStatus.WAITING:
        return False
    offer_mail = reader.scalar(
        select(OutboxMessage.status).where(
            OutboxMessage.idempotency_key == offer_mail_key(offer, OutboxKind.WAITLIST_OFFER_MAIL),
            OutboxMessage.outcome.is_(None),  # not done unsent ("expired")
        )
    )
    # One still to run will find the offer gone and end unsent; one running in another worker this moment
    # may yet go, and its link then says the time has gone.
    return offer_mail is OutboxStatus.DONE


def send_entry_mail(
    ctx: Context, message: OutboxMessage, consultation: Consultation | None, now: datetime
) -> Result:
    """Mail a patient about their place on the waitlist: that they are on it, with the link to leave it,
    while they still are; or that it ended (closed, or expired), while it still has."""
    settings = ctx.settings
    still, notice_of, compose = _ENTRY_MAILS[message.kind]
    with Session(ctx.bind) as reader:
        entry = _entry_still(reader, message, still)
        if entry is None:
            return Result(status=OutboxStatus.CANCELLED, outcome="superseded")
        place = PlaceNotice(
            patient=Recipient(entry.name, entry.email, entry.time_zone, entry.language),
            hospital_name=settings.hospital_name,
            service_name=entry.service.name,
            clinician_name=entry.clinician.display_name if entry.clinician else "",
            window_starts_at=entry.window_starts_at,
            window_ends_at=entry.window_ends_at,
        )
        notice = notice_of(settings, entry, place)
    message_id = message_id_for(message, settings.invite_domain)
    ctx.mail.send(compose(notice, sender=settings.mail_from, message_id=message_id, now=now))
    return Result()


def _joined_notice(settings: WorkerSettings, entry: WaitlistEntry, place: PlaceNotice) -> JoinedNotice:
    return JoinedNotice(
        **vars(place),
        leave_url=waitlist_link(entry, base_url=settings.public_base_url, keys=settings.link_keys),
        contact_phone=entry.service.department.contact_phone,
        shared=settings.waitlist.per_time > 1,
    )


def _ended_notice(settings: WorkerSettings, entry: WaitlistEntry, place: PlaceNotice) -> EndedNotice:
    service, base_url = entry.service, settings.public_base_url
    return EndedNotice(
        **vars(place),
        book_url=booking_url(base_url, service.id) if service.offered else booking_start_url(base_url),
        contact_phone=service.department.contact_phone,
    )


# Each mail of a place: the status the place must still have for it to be worth sending, its facts, its text.
_ENTRY_MAILS = {
    OutboxKind.WAITLIST_JOINED_MAIL: (WaitlistStatus.WAITING, _joined_notice, compose_joined_mail),
    OutboxKind.WAITLIST_CLOSED_MAIL: (WaitlistStatus.CLOSED, _ended_notice, compose_closed_mail),
    OutboxKind.WAITLIST_EXPIRED_MAIL: (WaitlistStatus.EXPIRED, _ended_notice, compose_expired_mail),
}


def _entry_still(reader: Session, message: OutboxMessage, status: WaitlistStatus) -> WaitlistEntry | None:
    """The waitlist entry a message hangs on, with what its mails name, if it still has `status`."""
    entry = reader.get(
        WaitlistEntry,
        message.waitlist_entry_id,
        options=[
            joinedload(WaitlistEntry.clinician),
            joinedload(WaitlistEntry.service).joinedload(Service.department),
        ],
    )
    return entry if entry is not None and entry.status is status else None


def _ended(offer_id: int, now: datetime) -> Callable[[Session, Consultation], None]:
    """The offer ended, its patient never told of it, in the transaction that records its mail's end."""

    def end(session: Session, _freed_by: Consultation) -> None:
        end_unmailed(session, offer_id, now)

    return end


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
        shared=settings.waitlist.per_time > 1,
    )
