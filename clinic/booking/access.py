"""What a request's link opens: the patient's booking (manage token), a companion's invitation (join
token), a waitlist entry or offer, or a walk-in caller's place in a queue, each looked up with the token
of its own kind only."""

from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import TypeVar

from flask import current_app, request
from sqlalchemy import Select, bindparam, select

from ..audit import Actor
from ..extensions import db
from ..models import (
    Companion,
    Consultation,
    ConsultationStatus,
    WaitlistEntry,
    WaitlistOffer,
    WalkInEntry,
    utcnow,
)
from ..models.driver import driver_rows
from ..scheduling.companions import companion_for_token
from ..scheduling.errors import NotFound
from ..scheduling.lifecycle import Change, check_online_change, consultation_for_token
from ..scheduling.offered import OfferedService
from ..scheduling.offers import offer_for_token
from ..scheduling.tokens import LinkKeys, Proof
from ..scheduling.waiting_room import JoinWindow
from ..scheduling.waitlist import entry_for_token
from ..walkin.queue import entry_for_token as walk_in_entry_for_token
from .link_tokens import COMPANION, MANAGE, OFFER, WAITLIST, WALK_IN, TokenJar

Opened = TypeVar("Opened", Consultation, Companion, WalkInEntry)


class LinkClosed(NotFound):
    """No link's token, and no pass to the booking (invitation, offer, place) in this browser session: the
    link was never opened here, or the session that held its pass is gone (forgotten after
    PATIENT_SESSION_IDLE_MINUTES without a page, or the browser closed). Its pages lead to its link's page,
    the endpoint `room`, which asks for the link (views.link_closed)."""

    def __init__(self, room: str = "booking.manage") -> None:
        super().__init__("No booking matches this link.")
        self.room = room


def managed(reference: str, token: str | None = None) -> Consultation:
    """The booking the link's token (or the one this browser session remembers) opens; else NotFound,
    LinkClosed if this session holds no pass to it."""
    if token is None and not MANAGE.holds(reference):
        raise LinkClosed()
    return _opened(consultation_for_token, MANAGE, reference, token)


def booked_here(service: OfferedService, start: datetime) -> Consultation | None:
    """This browser session's own booking of `service` at `start`, still to come, if it holds its link."""
    held = MANAGE.held()
    if not held:
        return None
    parameters = {f"reference{n}": reference for n, reference in enumerate(held)}
    parameters |= {"service_id": service.id, "start": start, "now": utcnow()}
    for (reference,) in driver_rows(db.session, _own_booking(len(held)), parameters):
        try:
            return managed(reference)
        except NotFound:  # a pass its link no longer honours
            continue
    return None


@cache
def _own_booking(passes: int) -> Select:
    """`booked_here`'s query for a session holding `passes` passes (at most a few: link_tokens._KEPT), built
    once for each count: run on the DB-API cursor (`driver_rows`), where building it and running it through
    the ORM cost a booking POST more CPU than the rest of its journey's reads."""
    return select(Consultation.reference).where(
        Consultation.reference.in_([bindparam(f"reference{n}") for n in range(passes)]),
        Consultation.service_id == bindparam("service_id"),
        Consultation.starts_at == bindparam("start"),
        Consultation.starts_at > bindparam("now"),
        Consultation.status == ConsultationStatus.BOOKED,
    )


def changeable(reference: str, change: Change) -> Consultation:
    """The managed booking, if the patient may still make `change` online; else the ChangeNotAllowed that
    says why (cancelled, over, past the cut-off), for the cancel and reschedule pages alike."""
    consultation = managed(reference)
    check_online_change(consultation, change, utcnow())
    return consultation


def invited(reference: str, token: str | None = None) -> Companion:
    """The companion whose join link (or the one this browser session remembers) this is; else NotFound,
    LinkClosed if this session holds no pass to it."""
    if token is None and not COMPANION.holds(reference):
        raise LinkClosed("booking.companion_room")
    return _opened(companion_for_token, COMPANION, reference, token)


def waitlisted(reference: str, token: str | None = None) -> WaitlistEntry:
    """The waitlist entry its link (or this browser session) opens; else NotFound, LinkClosed if this
    session holds no pass to it."""
    if token is None and not WAITLIST.holds(reference):
        raise LinkClosed("booking.waitlist_entry")
    return entry_for_token(db.session, reference, _proof(WAITLIST, reference, token), keys=link_keys())


def offered(reference: str, token: str | None = None) -> WaitlistOffer:
    """The waitlist offer its link (or this browser session) opens; else NotFound, LinkClosed if this
    session holds no pass to it."""
    if token is None and not OFFER.holds(reference):
        raise LinkClosed("booking.offer")
    return offer_for_token(db.session, reference, _proof(OFFER, reference, token), keys=link_keys())


def link_keys() -> LinkKeys:
    return LinkKeys.from_config(current_app.config)


def walk_in_entry(reference: str, token: str | None = None) -> WalkInEntry:
    """The walk-in caller's place the link's token (or the one this browser session remembers) opens."""
    return _opened(walk_in_entry_for_token, WALK_IN, reference, token)


def join_window() -> JoinWindow:
    """The waiting room's hours, from CLINIC_JOIN_WINDOW_MINUTES and CLINIC_JOIN_GRACE_MINUTES."""
    return JoinWindow.from_config(current_app.config)


def patient_actor() -> Actor:
    """The patient, as the audit trail names them, with the address they came from."""
    return Actor("patient", request.remote_addr)


def companion_actor() -> Actor:
    """A companion invited to a patient's call (a third party), as the audit trail names them."""
    return Actor("companion", request.remote_addr)


def _opened(lookup: Callable[..., Opened], jar: TokenJar, reference: str, token: str | None) -> Opened:
    # Links work until MANAGE_LINK_GRACE_DAYS after the consultation; joining has its own, shorter window.
    return lookup(
        db.session,
        reference,
        _proof(jar, reference, token),
        keys=link_keys(),
        now=utcnow(),
        grace_days=current_app.config["MANAGE_LINK_GRACE_DAYS"],
    )


def _proof(jar: TokenJar, reference: str, token: str | None) -> Proof:
    """The link's token if given, else this browser session's pass for the link."""
    return jar.pass_for(reference) if token is None else token
