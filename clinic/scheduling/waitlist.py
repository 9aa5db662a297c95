"""The waitlist: joining it for a range of dates when no time suits, leaving it from its link, and
entries ending when their dates have gone by, or closing (their patient told) when what they wait for is
no longer offered. Offers of freed times are in `offers`."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit
from ..audit import SYSTEM, Actor
from ..jobs import outbox
from ..models import (
    Clinician,
    Consultation,
    Department,
    OfferStatus,
    OutboxKind,
    Service,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
    clinician_service,
)
from ..models.transactions import write_transaction
from .availability import service_clinicians
from .booking import Consent
from .errors import IdempotencyConflict, NotFound
from .idempotency import Fingerprint, fingerprint
from .offered import active_service
from .patients import InvalidDetails, PatientDetails
from .timezones import day_bounds, zone
from .tokens import (
    LinkKeys,
    Proof,
    link_reference,
    new_link_seed,
    unused_reference,
    waitlist_link_opens,
    waitlist_token,
)


@dataclass(frozen=True)
class WaitlistRequest:
    """A patient's wish to be offered a time of a service (with a clinician, or any) on these days,
    which are dates in the patient's own zone."""

    service_id: int
    first_day: date
    last_day: date
    patient: PatientDetails
    consent: Consent
    clinician_id: int | None = None
    join_key: str | None = None  # the join form's, so the form sent twice joins once


@dataclass(frozen=True)
class Joined:
    entry: WaitlistEntry
    token: str  # of the entry's link, to leave the list


FORM_USED = "This form has already been used to join the waitlist. Check the details and send it again."


def join_waitlist(
    session: Session, request: WaitlistRequest, *, now: datetime, keys: LinkKeys, actor: Actor
) -> Joined:
    """Put the patient on the service's waitlist and mail them so, with the link to leave it; NotFound for
    a service or clinician not offered, InvalidDetails (naming first_day or last_day) for dates that are
    past, reversed or too far ahead.

    The form sent again with its `join_key` (a double click, a Reload) gives back the place it made, mailed
    once; the key with other details is IdempotencyConflict, which hands over nothing of that place."""
    asked = fingerprint(vars(request), keys)
    try:
        return _join(session, request, asked, now=now, keys=keys, actor=actor)
    except IntegrityError:
        # The form's other post wrote its place first (join_key is unique): that place is this one's.
        made = _made_with(session, request.join_key) if request.join_key else None
        if made is None:
            raise
        return Joined(_same_join(made, asked), waitlist_token(keys, made))


def _join(
    session: Session,
    request: WaitlistRequest,
    asked: Fingerprint,
    *,
    now: datetime,
    keys: LinkKeys,
    actor: Actor,
) -> Joined:
    with write_transaction(session):
        if request.join_key and (made := _made_with(session, request.join_key)) is not None:
            return Joined(_same_join(made, asked), waitlist_token(keys, made))
        service = active_service(session, request.service_id)
        if request.clinician_id is not None:
            service_clinicians(session, service, request.clinician_id)
        tz = zone(request.patient.time_zone)
        days, today = waitlist_days(service, now, tz), now.astimezone(tz).date()
        _check_days(request.first_day, request.last_day, today, days, service.horizon_days)
        details = request.patient
        entry = WaitlistEntry(
            reference=unused_reference(session, WaitlistEntry.reference),
            service_id=service.id,
            clinician_id=request.clinician_id,
            window_starts_at=day_bounds(request.first_day, tz)[0],
            window_ends_at=day_bounds(request.last_day, tz)[1],
            name=details.name,
            email=details.email,
            phone=details.phone,
            birth_date=details.birth_date,
            time_zone=details.time_zone,
            language=details.language,
            consent_notice_version=request.consent.notice_version,
            consent_method=request.consent.method,
            consent_given_at=now,
            link_seed=new_link_seed(),
            status=WaitlistStatus.WAITING,
            created_at=now,
            join_key=request.join_key,
            join_hash=asked.stored if request.join_key else None,
        )
        session.add(entry)
        session.flush()
        outbox.enqueue_entry_mail(session, entry, OutboxKind.WAITLIST_JOINED_MAIL, now)
        record_entry_event(
            session,
            entry,
            "waitlist.joined",
            now,
            actor,
            service_id=service.id,
            privacy_notice=request.consent.notice_version,
            consent=request.consent.method.value,
        )
        token = waitlist_token(keys, entry)
    return Joined(entry, token)


def _made_with(session: Session, join_key: str) -> WaitlistEntry | None:
    """The place the join form with `join_key` made, if it made one."""
    return session.scalar(select(WaitlistEntry).where(WaitlistEntry.join_key == join_key))


def _same_join(made: WaitlistEntry, asked: Fingerprint) -> WaitlistEntry:
    """The place the form's key made, if the request that `asked` is the one that made it."""
    if not asked.matches(made.join_hash):
        raise IdempotencyConflict(FORM_USED)
    return made


def entry_for_token(session: Session, reference: str, token: Proof, *, keys: LinkKeys) -> WaitlistEntry:
    """The waitlist entry a link names, or NotFound for a wrong or unknown token."""
    ref = link_reference(reference)
    entry = ref and session.scalar(select(WaitlistEntry).where(WaitlistEntry.reference == ref))
    if not (entry and waitlist_link_opens(token, entry, keys=keys)):
        raise NotFound("No place on a waitlist matches this link.")
    return entry


def leave_waitlist(session: Session, entry_id: int, *, now: datetime, actor: Actor) -> WaitlistEntry:
    """Take a waiting patient off the list, withdrawing the offers they have not answered; an entry
    that ended already is left as it is."""
    with write_transaction(session):
        entry = session.get(WaitlistEntry, entry_id, with_for_update=True, populate_existing=True)
        if entry is None:
            raise NotFound("No place on a waitlist matches this link.")
        if entry.status is WaitlistStatus.WAITING:
            end_waiting(session, entry, WaitlistStatus.LEFT, now)
            record_entry_event(session, entry, "waitlist.left", now, actor)
    return entry


def close_unoffered_entries(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Close the waiting entries whose service, or the clinician they chose, is no longer offered (made
    inactive, or the clinician no longer offering the service): no time of it can be offered to them, so
    each patient is told at once rather than left waiting until their last day. Returns how many."""
    with write_transaction(session):
        closed = session.scalars(
            select(WaitlistEntry)
            .where(WaitlistEntry.status == WaitlistStatus.WAITING, _not_offered())
            .order_by(WaitlistEntry.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=WaitlistEntry)
        ).all()
        for entry in closed:
            end_waiting(session, entry, WaitlistStatus.CLOSED, now)
            outbox.enqueue_entry_mail(session, entry, OutboxKind.WAITLIST_CLOSED_MAIL, now)
            record_entry_event(session, entry, "waitlist.closed", now, SYSTEM)
    return len(closed)


def _not_offered():
    """Whether a waitlist entry's service, or its chosen clinician, is no longer offered to book (the rule
    `offered.active_service` and `availability.service_clinicians` apply to a booking)."""
    offered_services = select(Service.id).join(Department).where(Service.active, Department.active)
    clinician_offers = exists().where(
        clinician_service.c.service_id == WaitlistEntry.service_id,
        clinician_service.c.clinician_id == WaitlistEntry.clinician_id,
        Clinician.id == WaitlistEntry.clinician_id,
        Clinician.active,
    )
    return or_(
        WaitlistEntry.service_id.not_in(offered_services),
        WaitlistEntry.clinician_id.is_not(None) & ~clinician_offers,
    )


def end_waiting(session: Session, entry: WaitlistEntry, status: WaitlistStatus, now: datetime) -> None:
    """End a waiting entry (locked by the caller) with `status`, withdrawing its offers not yet answered
    (unmailed: the entry's own end tells its patient, if anything does); each time withdrawn goes to those
    next in line."""
    entry.status, entry.ended_at = status, now
    withdrawn = session.scalars(
        update(WaitlistOffer)
        .where(WaitlistOffer.entry_id == entry.id, WaitlistOffer.status == OfferStatus.OFFERED)
        .values(status=OfferStatus.GONE, decided_at=now)
        .returning(WaitlistOffer)
    ).all()
    for offer in withdrawn:
        record_offer_event(session, offer, "waitlist.offer_gone", now, SYSTEM)
    offer_again(session, withdrawn, now)


def offer_again(session: Session, ended: Sequence[WaitlistOffer], now: datetime) -> None:
    """In the caller's write transaction: offer each time of the `ended` offers (unanswered, or withdrawn
    from a patient no longer waiting) to those next in line, once a time, if it is yet to come (the offer
    job checks that it is still free)."""
    last_of_time = {(offer.clinician_id, offer.starts_at): offer for offer in ended if offer.starts_at > now}
    for offer in last_of_time.values():
        freed_by = session.get(Consultation, offer.freed_by_id)
        outbox.enqueue_time_freed(
            session, freed_by, now, offer.clinician_id, offer.starts_at, again_after=offer.id
        )


def expire_entries(session: Session, *, now: datetime, limit: int = 500) -> int:
    """End the waiting entries whose last day is over, each patient told so by mail; returns how many."""
    with write_transaction(session):
        ended = session.scalars(
            select(WaitlistEntry)
            .where(WaitlistEntry.status == WaitlistStatus.WAITING, WaitlistEntry.window_ends_at <= now)
            .order_by(WaitlistEntry.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for entry in ended:
            entry.status, entry.ended_at = WaitlistStatus.EXPIRED, now
            # In the same transaction, keyed by the entry: told once, however often housekeeping runs.
            outbox.enqueue_entry_mail(session, entry, OutboxKind.WAITLIST_EXPIRED_MAIL, now)
            record_entry_event(session, entry, "waitlist.expired", now, SYSTEM)
    return len(ended)


def record_entry_event(
    session: Session, entry: WaitlistEntry, action: str, now: datetime, actor: Actor, **ids: int | str
) -> None:
    """Audit a change to a waitlist entry, naming it by reference (and other records by id only)."""
    details = {"reference": entry.reference, **ids}
    audit.record(
        session, actor, action, entity_type="waitlist_entry", entity_id=entry.id, now=now, details=details
    )


def record_offer_event(
    session: Session, offer: WaitlistOffer, action: str, now: datetime, actor: Actor, **ids: int
) -> None:
    """Audit a change to a waitlist offer, naming it by reference (and other records by id only)."""
    details = {"reference": offer.reference, "entry_id": offer.entry_id, "clinician_id": offer.clinician_id}
    audit.record(
        session,
        actor,
        action,
        entity_type="waitlist_offer",
        entity_id=offer.id,
        now=now,
        details={**details, **ids},
    )


def waitlist_days(service: Service, now: datetime, tz: tzinfo) -> tuple[date, date]:
    """The first and last days (in `tz`) a place on the waitlist may cover: the first day with a time still
    outside the service's minimum notice (today, unless the notice reaches past its end), to the
    service's last bookable day."""
    first = (now + timedelta(minutes=service.min_notice_minutes)).astimezone(tz).date()
    return first, now.astimezone(tz).date() + timedelta(days=service.horizon_days)


def _check_days(
    first_day: date, last_day: date, today: date, days: tuple[date, date], horizon_days: int
) -> None:
    errors = {}
    first, last = days
    if first_day < first:
        errors["first_day"] = (
            "The first day must be today or later."
            if first == today
            else f"Times of this service are booked further ahead, so the first day must be {_day(first)} "
            "or later."
        )
    elif first_day > last:
        errors["first_day"] = f"The first day must be within {horizon_days} days from today."
    if last_day < first_day:
        errors["last_day"] = "The last day must be the same as or after the first day."
    elif last_day > last:
        errors["last_day"] = f"The last day must be within {horizon_days} days from today."
    if errors:
        raise InvalidDetails(errors)


def _day(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"
