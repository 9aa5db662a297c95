"""The waitlist's races, each racer in a thread of its own against the real database (SQLite or PostgreSQL):
patients taking offers of one freed time at once get one booking, and the others hear it has gone; the join
form posted several times at once joins once and is confirmed once; workers offering one freed time at once
offer it to no more patients than one would, and to nobody twice."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import threading
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from clinic.audit import Actor
from clinic.models import (
    Consultation,
    OfferStatus,
    OutboxKind,
    OutboxMessage,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
)
from clinic.models.transactions import write_transaction
from clinic.scheduling.booking import Booked, Consent
from clinic.scheduling.errors import OfferGone
from clinic.scheduling.offers import FreedTime, offer_freed_time, take_offer
from clinic.scheduling.waitlist import WaitlistRequest, join_waitlist

from . import factories
from .conftest import TEST_KEYS, postgres_only
from .fakes.outbox import open_clinic, outbox  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .racing import race, racing_engine, wait_for_a_lock_wait
from .test_double_booking import race_engine
from .test_waitlist import RULES, TUESDAY, TUESDAY_10, freed, join, offers

RACERS = 5


def taking(offer_id: int, now) -> Callable[[Session], object]:
    """One patient's attempt: take offer `offer_id` in the session the race gives them."""
    return lambda session: take_offer(session, offer_id, now=now, keys=TEST_KEYS, actor=Actor())


def test_patients_racing_for_one_offered_time_get_one_booking_and_the_others_hear_it_has_gone(
    session, now, database_url, outbox, smtp_server
):
    service = open_clinic(session)
    outbox.configure(WAITLIST_OFFERS_PER_TIME=RACERS)
    entries = [join(session, service, now, n) for n in range(RACERS)]
    freed(session, service, now)
    outbox.drain()
    offer_ids = [offer.id for offer in offers(session)]
    assert len(offer_ids) == RACERS

    engine = race_engine(database_url)
    try:
        outcomes = race(engine, [taking(offer_id, now) for offer_id in offer_ids])
    finally:
        engine.dispose()

    winners = [o for o in outcomes if isinstance(o, Booked)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, OfferGone) for o in outcomes if o not in winners), outcomes
    session.rollback()
    booked = (
        select(func.count())
        .select_from(Consultation)
        .where(Consultation.starts_at == TUESDAY_10, Consultation.status == "booked")
    )
    assert session.scalar(booked) == 1
    statuses = sorted(offer.status for offer in offers(session))
    assert statuses == sorted([OfferStatus.TAKEN] + [OfferStatus.GONE] * (RACERS - 1))
    taken = session.scalar(select(WaitlistOffer).where(WaitlistOffer.status == OfferStatus.TAKEN))
    assert taken.consultation_id == winners[0].consultation.id

    outbox.drain()
    losers = [e for e in entries if e.id != taken.entry_id]
    for entry in losers:
        assert smtp_server.inbox(entry.email)[-1]["Subject"].startswith("The time we offered you has gone")


def test_the_join_form_posted_several_times_at_once_joins_once_and_is_confirmed_once(
    session, now, database_url
):
    service = open_clinic(session)
    request = WaitlistRequest(
        service_id=service.id,
        first_day=TUESDAY,
        last_day=TUESDAY,
        patient=factories.patient_details(1),
        consent=Consent("2026-12-01"),
        join_key="the-join-forms-key-0123456789",
    )

    def joining(session: Session) -> int:
        return join_waitlist(session, request, now=now, keys=TEST_KEYS, actor=Actor()).entry.id

    engine = race_engine(database_url)
    try:
        outcomes = race(engine, [joining] * RACERS)
    finally:
        engine.dispose()

    session.rollback()
    (entry_id,) = session.scalars(select(WaitlistEntry.id))
    assert outcomes == [entry_id] * RACERS
    mails = select(OutboxMessage.kind).where(OutboxMessage.waitlist_entry_id == entry_id)
    assert list(session.scalars(mails)) == [OutboxKind.WAITLIST_JOINED_MAIL]


def offering(freed_by_id: int, time: FreedTime, now) -> Callable[[Session], object]:
    """One worker's run of the offer job of a time freed by consultation `freed_by_id`, as the dispatcher
    runs it: in a write transaction, the freeing consultation locked."""

    def run(session: Session) -> int:
        with write_transaction(session):
            freed_by = session.get(Consultation, freed_by_id, with_for_update=True)
            return len(offer_freed_time(session, time, freed_by, now=now, rules=RULES))

    return run


def test_workers_offering_one_freed_time_at_once_offer_it_to_three_patients_once_each(
    session, now, database_url
):
    """A time freed twice (cancelled, booked again, cancelled: two offer jobs), or freed while housekeeping
    handed an unanswered offer of it to the next in line, ran its offer jobs in two workers at once on
    PostgreSQL: each counted no offer open and offered it to three more, six people racing for one time
    where the hospital allowed three."""
    service = open_clinic(session)
    patients = [join(session, service, now, n) for n in range(RACERS * RULES.per_time)]
    join(session, service, now, 0, email="PATIENT0@example.org")  # the first, again: offered it once only
    freeings = [freed(session, service, now) for _ in range(RACERS)]  # one time, freed again and again
    time = FreedTime(service.id, freeings[0].clinician_id, TUESDAY_10)

    # Each run pauses after counting the offers open, where a second run would count them too.
    engine = racing_engine(database_url, RACERS, lambda sql: "count(" in sql and "waitlist_offer" in sql)
    try:
        outcomes = race(engine, [offering(c.id, time, now) for c in freeings])
    finally:
        engine.dispose()

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    made = offers(session)
    assert len(made) == RULES.per_time, [o.entry_id for o in made]
    assert sorted(o.entry_id for o in made) == [p.id for p in patients[: RULES.per_time]]  # first in line


@postgres_only
def test_booking_from_one_place_ends_the_patients_other_place_while_an_offer_job_holds_it(
    session, now, database_url, outbox
):
    """A patient on the list twice who booked from one place while a worker's offer job had their other
    place locked (choosing whom to offer another time) went on waiting in it: the booking skipped the
    locked place, and the job then offered them more times of a service they had booked."""
    service = open_clinic(session)
    first = join(session, service, now, 1)
    again = join(session, service, now, 1, email="PATIENT1@example.org", last=date(2026, 3, 5))
    freed(session, service, now)
    outbox.drain()
    offer_id = offers(session, entry_id=first.id)[0].id

    engine = create_engine(database_url)
    outcome: list[object] = []

    def take() -> None:
        with Session(engine) as racer:
            try:
                outcome.append(taking(offer_id, now)(racer))
            except Exception as raised:  # the outcome is what the test asserts on
                outcome.append(raised)

    with engine.connect() as offer_job:
        offer_job.execute(text("SELECT id FROM waitlist_entry WHERE id = :id FOR UPDATE"), {"id": again.id})
        booking = threading.Thread(target=take)
        booking.start()
        wait_for_a_lock_wait(offer_job)
        offer_job.commit()
        booking.join(30)
    engine.dispose()

    assert len(outcome) == 1 and isinstance(outcome[0], Booked), outcome
    session.rollback()
    statuses = {entry.id: entry.status for entry in session.scalars(select(WaitlistEntry))}
    assert statuses == {first.id: WaitlistStatus.BOOKED, again.id: WaitlistStatus.BOOKED}


def test_a_patient_taking_offers_from_two_places_at_once_books_one(session, now, database_url, outbox):
    """Their two clicks (two mails, two tabs) lock their places in one order: one books, the other hears
    the offer has gone, and neither waits on the other for ever."""
    service = open_clinic(session)
    first = join(session, service, now, 1)
    again = join(session, service, now, 1, email="PATIENT1@example.org", last=date(2026, 3, 5))
    freed(session, service, now)
    outbox.drain()
    with write_transaction(session):  # another time, offered to the second place only (the first has one)
        session.execute(text("UPDATE waitlist_entry SET status = 'left' WHERE id = :id"), {"id": first.id})
    freed(session, service, now, start=TUESDAY_10 + timedelta(hours=1))
    outbox.drain()
    with write_transaction(session):
        session.execute(text("UPDATE waitlist_entry SET status = 'waiting' WHERE id = :id"), {"id": first.id})
    offer_ids = [offers(session, entry_id=first.id)[0].id, offers(session, entry_id=again.id)[0].id]

    engine = race_engine(database_url)
    try:
        outcomes = race(engine, [taking(offer_id, now) for offer_id in offer_ids])
    finally:
        engine.dispose()

    assert sorted(type(o).__name__ for o in outcomes) == ["Booked", "OfferGone"], outcomes
    session.rollback()
    assert {e.status for e in session.scalars(select(WaitlistEntry))} == {WaitlistStatus.BOOKED}
