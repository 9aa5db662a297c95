"""Offers of freed times to the waitlist: made by the outbox worker when a cancellation or a move frees a
time, taken in one step through the booking transaction, ended when taken by another or not in time.

The first patient to take an offer books the time; the others' offers of it are gone, and they are told
so by mail, as they are when the time stops being free another way (booked on the pages, the clinician
away). Nobody is offered the same time twice (a unique constraint on entry, clinician and start; one
entry of a person who joined more than once).
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from ..audit import SYSTEM, Actor
from ..jobs import outbox
from ..models import (
    Consultation,
    OfferStatus,
    OutboxKind,
    Service,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
)
from ..models.transactions import end_transaction, lock_rule, write_transaction
from .availability import find_starts, is_free
from .booking import Booked, BookingRequest, Consent, book
from .errors import NotFound, OfferExpired, OfferGone, SlotUnavailable
from .offer_hold import OfferDay, offer_expiry
from .offered import active_service
from .patients import PatientDetails
from .tokens import LinkKeys, Proof, link_reference, new_link_seed, offer_link_opens, unused_reference
from .waitlist import end_waiting, offer_again, record_entry_event, record_offer_event


@dataclass(frozen=True)
class OfferRules:
    """How many waiting patients one freed time is offered to at once, and for how long: `lifetime` counted
    in the hours of `day` (see `offer_hold`)."""

    per_time: int
    lifetime: timedelta
    day: OfferDay


@dataclass(frozen=True)
class FreedTime:
    service_id: int
    clinician_id: int
    starts_at: datetime


def offer_freed_time(
    session: Session, freed: FreedTime, freed_by: Consultation, *, now: datetime, rules: OfferRules
) -> list[WaitlistOffer]:
    """In the caller's write transaction: offer the freed time, if it is still free, to the first waiting
    patients it suits who were not offered it before, up to `rules.per_time` offers open at once, and
    have each mailed; returns the new offers.

    Runs for one time are served one after the other (the time's lock): two workers offering it at once
    (freed twice, or freed while housekeeping handed an unanswered offer on) each counted no offer open
    and offered it to `per_time` more."""
    lock_rule(session, f"waitlist.time:{freed.clinician_id}:{int(freed.starts_at.timestamp())}")
    try:
        service = active_service(session, freed.service_id)
        if not is_free(session, service, freed.starts_at, now, freed.clinician_id):
            return []
    except NotFound:  # the service, or its clinician (NotOffered), no longer offered
        return []
    wanted = rules.per_time - _open_offers(session, freed, now)
    min_notice = timedelta(minutes=service.min_notice_minutes)
    expires_at = offer_expiry(
        now, freed.starts_at, lifetime=rules.lifetime, day=rules.day, min_notice=min_notice
    )
    made = []
    for entry in _waiting_for(session, freed, max(wanted, 0)):
        offer = _new_offer(session, entry, freed, freed_by, now, expires_at)
        if offer is not None:
            outbox.enqueue_offer_mail(session, offer, OutboxKind.WAITLIST_OFFER_MAIL, now)
            record_offer_event(session, offer, "waitlist.offered", now, SYSTEM, freed_by=freed_by.id)
            made.append(offer)
    return made


def offer_for_token(session: Session, reference: str, token: Proof, *, keys: LinkKeys) -> WaitlistOffer:
    """The offer a link names (whatever became of it), or NotFound for a wrong or unknown token."""
    ref = link_reference(reference)
    offer = ref and session.scalar(select(WaitlistOffer).where(WaitlistOffer.reference == ref))
    if not (offer and offer_link_opens(token, offer, keys=keys)):
        raise NotFound("No offer matches this link.")
    return offer


def take_offer(
    session: Session,
    offer_id: int,
    *,
    now: datetime,
    keys: LinkKeys,
    actor: Actor,
    max_per_email: int | None = None,
) -> Booked:
    """Book the offered time for its patient through the booking transaction (its lock and re-check),
    marking the offer taken and the other offers of the time gone in the same transaction.

    OfferGone if another patient took the time or it is no longer free (its service or clinician no longer
    offered among the reasons), OfferExpired if it ended
    unanswered; a second click on a taken offer returns its booking. The booking's own refusals
    (AlreadyBooked, TooManyBookings) pass through, leaving the offer open.
    """
    offer = session.get(WaitlistOffer, offer_id, populate_existing=True)
    if offer is None:
        raise NotFound("No offer matches this link.")
    _check_open(offer, now)
    offer_id, entry_id, service_id = offer.id, offer.entry_id, offer.service_id

    def mark_taken(session: Session, consultation: Consultation) -> None:
        # The entries' rows before their offers', in the order leave_waitlist takes them.
        _lock_places(session, entry_id)
        locked = session.get(WaitlistOffer, offer_id, with_for_update=True, populate_existing=True)
        _check_open(locked, now, taken_ok=False)
        _taken(session, locked, consultation, now, actor)

    try:
        return book(
            session,
            _booking_request(offer),
            now=now,
            keys=keys,
            actor=actor,
            max_per_email=max_per_email,
            on_booked=mark_taken,
        )
    except (SlotUnavailable, NotFound):  # NotFound: the service, or the clinician, is no longer offered
        _end_unavailable(session, offer_id, now)
        raise OfferGone("Sorry, that time has gone. Please choose another.", service_id=service_id) from None


def _check_open(offer: WaitlistOffer, now: datetime, *, taken_ok: bool = True) -> None:
    """Raise OfferGone or OfferExpired unless the offer may still be taken (or, `taken_ok`, was taken)."""
    if offer.status is OfferStatus.TAKEN and taken_ok:
        return
    if offer.status in (OfferStatus.GONE, OfferStatus.TAKEN):
        raise OfferGone("Sorry, that time has gone to someone else.", service_id=offer.service_id)
    if offer.status is OfferStatus.EXPIRED or now >= offer.expires_at:
        raise OfferExpired("Sorry, this offer has ended.", service_id=offer.service_id)


def expire_offers(session: Session, *, now: datetime, limit: int = 500) -> int:
    """End the offers nobody took in time, and offer each time still free to those next in line;
    returns how many ended."""
    with write_transaction(session):
        ended = session.scalars(
            select(WaitlistOffer)
            .where(WaitlistOffer.status == OfferStatus.OFFERED, WaitlistOffer.expires_at <= now)
            .order_by(WaitlistOffer.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for offer in ended:
            offer.status, offer.decided_at = OfferStatus.EXPIRED, now
            record_offer_event(session, offer, "waitlist.offer_expired", now, SYSTEM)
        offer_again(session, ended, now)
    return len(ended)


def end_offers_no_longer_free(session: Session, *, now: datetime) -> int:
    """End the open offers whose time is no longer free (booked on the pages, the clinician away or no longer
    offering it, the service withdrawn), telling each patient it has gone; returns how many ended. The
    times are checked unlocked, a slot search per clinician's day (`_not_free`), then only the offers found
    gone are locked, so a patient booking one meanwhile waits for nothing."""
    o = WaitlistOffer
    candidates = session.execute(
        select(o.id, o.service_id, o.clinician_id, o.starts_at)
        .where(o.status == OfferStatus.OFFERED, o.expires_at > now)
        .order_by(o.id)
    ).all()
    gone = _not_free(session, {offer_id: FreedTime(*time) for offer_id, *time in candidates}, now)
    end_transaction(session)  # the reads': none is left open while the worker waits for its next round
    if not gone:
        return 0
    with write_transaction(session):
        ended = session.scalars(
            select(WaitlistOffer)
            .where(WaitlistOffer.id.in_(gone), WaitlistOffer.status == OfferStatus.OFFERED)
            .order_by(WaitlistOffer.id)
            .with_for_update(skip_locked=True)
        ).all()
        for offer in ended:
            _gone(session, offer, now)
    return len(ended)


def end_unmailed(session: Session, offer_id: int, now: datetime) -> None:
    """In the caller's write transaction: end an open offer without mailing its patient, who was never told
    of it (its time stopped being free before its mail went) or is told by the page that refused it."""
    ended = session.execute(
        update(WaitlistOffer)
        .where(WaitlistOffer.id == offer_id, WaitlistOffer.status == OfferStatus.OFFERED)
        .values(status=OfferStatus.GONE, decided_at=now)
    ).rowcount
    if ended:
        record_offer_event(session, session.get(WaitlistOffer, offer_id), "waitlist.offer_gone", now, SYSTEM)


def time_of(offer: WaitlistOffer) -> FreedTime:
    """The time an offer offers."""
    return FreedTime(offer.service_id, offer.clinician_id, offer.starts_at)


def still_free(session: Session, time: FreedTime, now: datetime) -> bool:
    """Whether an offered time may still be booked: its service offered, and by its clinician (NotOffered,
    a NotFound, for one made inactive or taken off the service), the time free by the slot rules."""
    try:
        service = active_service(session, time.service_id)
        return is_free(session, service, time.starts_at, now, time.clinician_id)
    except NotFound:
        return False


def _not_free(session: Session, times: dict[int, FreedTime], now: datetime) -> list[int]:
    """The ids of the offers (of `times`, by id) whose time may no longer be booked, as `still_free` finds
    them, with one slot search for the offers of each service, clinician and day: a slot's start is free or
    not whatever window it is searched in, so thousands of open offers cost a read per clinician's day, not
    three each."""
    by_day: dict[tuple[int, int, date], dict[int, datetime]] = defaultdict(dict)
    for offer_id, time in times.items():
        by_day[time.service_id, time.clinician_id, time.starts_at.date()][offer_id] = time.starts_at
    services: dict[int, Service | None] = {}
    gone = []
    for (service_id, clinician_id, _day), starts in by_day.items():
        if service_id not in services:
            services[service_id] = _offered_or_none(session, service_id)
        free = _free_starts(session, services[service_id], clinician_id, starts.values(), now)
        gone += [offer_id for offer_id, start in starts.items() if start not in free]
    return sorted(gone)


def _offered_or_none(session: Session, service_id: int) -> Service | None:
    try:
        return active_service(session, service_id)
    except NotFound:
        return None


def _free_starts(
    session: Session, service: Service | None, clinician_id: int, starts: Iterable[datetime], now: datetime
) -> set[datetime]:
    """Which of `starts` (of one day) the clinician is free at for the service: none if either is no longer
    offered."""
    starts = sorted(starts)
    if service is None:
        return set()
    try:
        found = find_starts(session, service, starts[0], starts[-1] + timedelta(seconds=1), now, clinician_id)
    except NotFound:  # NotOffered: the clinician made inactive or taken off the service
        return set()
    return set(found) & set(starts)


def _open_offers(session: Session, freed: FreedTime, now: datetime) -> int:
    return session.scalar(
        select(func.count())
        .select_from(WaitlistOffer)
        .where(
            WaitlistOffer.clinician_id == freed.clinician_id,
            WaitlistOffer.starts_at == freed.starts_at,
            WaitlistOffer.status == OfferStatus.OFFERED,
            WaitlistOffer.expires_at > now,
        )
    )


def _waiting_for(session: Session, freed: FreedTime, limit: int) -> list[WaitlistEntry]:
    """The first `limit` entries, oldest first, waiting for this time and not offered it before: one per
    person (their e-mail address and date of birth), however often they joined, so nobody is offered a time
    twice and takes the place of the next in line."""
    if limit == 0:
        return []
    entry, offered_to, earlier = WaitlistEntry, aliased(WaitlistEntry), aliased(WaitlistEntry)
    offered_before = (
        select(WaitlistOffer.id)
        .join(offered_to, offered_to.id == WaitlistOffer.entry_id)
        .where(
            WaitlistOffer.clinician_id == freed.clinician_id,
            WaitlistOffer.starts_at == freed.starts_at,
            _same_person(offered_to, entry),
        )
        .exists()
    )
    earlier_place = (
        select(earlier.id)
        .where(
            _waits_for(earlier, freed),
            _same_person(earlier, entry),
            or_(
                earlier.created_at < entry.created_at,
                and_(earlier.created_at == entry.created_at, earlier.id < entry.id),
            ),
        )
        .exists()
    )
    query = (
        select(entry)
        .where(_waits_for(entry, freed), ~offered_before, ~earlier_place)
        .order_by(entry.created_at, entry.id)
        .limit(limit)
        # An entry being left or booked this moment is skipped: it would get an offer it no longer wants.
        .with_for_update(skip_locked=True, of=entry)
    )
    return list(session.scalars(query))


def _waits_for(entry: type[WaitlistEntry], freed: FreedTime) -> ColumnElement[bool]:
    """Whether a (possibly aliased) entry is waiting for the freed time: its service, clinician and days."""
    return and_(
        entry.service_id == freed.service_id,
        entry.status == WaitlistStatus.WAITING,
        or_(entry.clinician_id.is_(None), entry.clinician_id == freed.clinician_id),
        entry.window_starts_at <= freed.starts_at,
        entry.window_ends_at > freed.starts_at,
    )


def _same_person(one: type[WaitlistEntry], other: type[WaitlistEntry] | WaitlistEntry) -> ColumnElement[bool]:
    """Whether two entries (the second may be a loaded one) are one person's: the same address (in any
    case) and date of birth, as a subject access request tells a person's records apart
    (privacy.subject_lookup)."""
    return and_(func.lower(one.email) == func.lower(other.email), one.birth_date == other.birth_date)


def _new_offer(
    session: Session,
    entry: WaitlistEntry,
    freed: FreedTime,
    freed_by: Consultation,
    now: datetime,
    expires_at: datetime,
) -> WaitlistOffer | None:
    """The offer, or None if a run racing this one offered the patient this time a moment ago."""
    offer = WaitlistOffer(
        reference=unused_reference(session, WaitlistOffer.reference),
        entry_id=entry.id,
        freed_by_id=freed_by.id,
        service_id=freed.service_id,
        clinician_id=freed.clinician_id,
        starts_at=freed.starts_at,
        status=OfferStatus.OFFERED,
        expires_at=expires_at,
        link_seed=new_link_seed(),
        created_at=now,
    )
    try:
        with session.begin_nested():  # the unique constraint is the judge: only this insert is undone
            session.add(offer)
    except IntegrityError:
        return None
    return offer


def _taken(
    session: Session, offer: WaitlistOffer, consultation: Consultation, now: datetime, actor: Actor
) -> None:
    """Record the offer taken and its patient booked, in this place and in any other they hold for the
    service; the other open offers of the time are gone (and their patients told), and this patient's
    offers of other times are withdrawn, those times going to the next in line."""
    offer.status, offer.decided_at, offer.consultation_id = OfferStatus.TAKEN, now, consultation.id
    entry = offer.entry
    entry.status, entry.ended_at = WaitlistStatus.BOOKED, now
    _book_other_places(session, entry, consultation, now, actor)
    same_time = and_(
        WaitlistOffer.clinician_id == offer.clinician_id, WaitlistOffer.starts_at == offer.starts_at
    )
    others = session.scalars(
        select(WaitlistOffer)
        .where(
            WaitlistOffer.status == OfferStatus.OFFERED,
            WaitlistOffer.id != offer.id,
            or_(same_time, WaitlistOffer.entry_id == entry.id),
        )
        .with_for_update()
    ).all()
    withdrawn = []
    for other in others:
        if other.entry_id != entry.id:
            _gone(session, other, now)
        else:
            other.status, other.decided_at = OfferStatus.GONE, now
            record_offer_event(session, other, "waitlist.offer_gone", now, SYSTEM)
            withdrawn.append(other)
    offer_again(session, withdrawn, now)
    record_offer_event(session, offer, "waitlist.offer_taken", now, actor, consultation_id=consultation.id)


def _lock_places(session: Session, entry_id: int) -> None:
    """Lock the entry and its patient's other waiting places for its service, in id order, waiting for any
    held: an offer job choosing whom to offer a time (skipped, such a place went on waiting after the
    booking, and was offered more times of a service its patient had booked), a leave (which then ends
    it). In id order, so two of the patient's takes at once queue rather than deadlock."""
    entry, other = aliased(WaitlistEntry), aliased(WaitlistEntry)
    places = (
        select(other)
        .join(entry, entry.id == entry_id)
        .where(
            other.service_id == entry.service_id,
            or_(other.id == entry_id, other.status == WaitlistStatus.WAITING),
            _same_person(other, entry),
        )
        .order_by(other.id)
        .with_for_update(of=other)
        .execution_options(populate_existing=True)  # as they are now, once locked
    )
    session.scalars(places).all()


def _book_other_places(
    session: Session, entry: WaitlistEntry, consultation: Consultation, now: datetime, actor: Actor
) -> None:
    """End the patient's other waiting places for the entry's service as booked (locked by
    `_lock_places`), withdrawing their open offers: they wanted one consultation of it."""
    other = aliased(WaitlistEntry)
    places = session.scalars(
        select(other)
        .where(
            other.service_id == entry.service_id,
            other.status == WaitlistStatus.WAITING,
            other.id != entry.id,
            _same_person(other, entry),
        )
        .order_by(other.id)
        .execution_options(populate_existing=True)
    ).all()
    for place in places:
        end_waiting(session, place, WaitlistStatus.BOOKED, now)
        record_entry_event(session, place, "waitlist.booked", now, actor, consultation_id=consultation.id)


def _gone(session: Session, offer: WaitlistOffer, now: datetime) -> None:
    """An open offer (locked) whose time has gone to someone else: ended, and its patient told by mail."""
    offer.status, offer.decided_at = OfferStatus.GONE, now
    outbox.enqueue_offer_mail(session, offer, OutboxKind.WAITLIST_GONE_MAIL, now)
    record_offer_event(session, offer, "waitlist.offer_gone", now, SYSTEM)


def _end_unavailable(session: Session, offer_id: int, now: datetime) -> None:
    """The offer's time was not free when its patient took it: the offer is gone (the page tells them)."""
    with write_transaction(session):
        end_unmailed(session, offer_id, now)


def _booking_request(offer: WaitlistOffer) -> BookingRequest:
    """The booking an offer makes: its time, for the details the patient gave when joining the list.

    Its idempotency key is the offer's, so a second click returns the booking the first one made.
    """
    entry = offer.entry
    return BookingRequest(
        service_id=offer.service_id,
        start=offer.starts_at,
        clinician_id=offer.clinician_id,
        patient=PatientDetails(
            entry.name, entry.email, entry.phone, entry.birth_date, entry.time_zone, entry.language
        ),
        idempotency_key=f"waitlist-offer:{offer.reference}",
        consent=Consent(entry.consent_notice_version, entry.consent_method),
    )
