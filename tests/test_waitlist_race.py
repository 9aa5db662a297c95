"""The waitlist's offer race: patients taking offers of one freed time at once, each in a thread of their
own against the real database (SQLite or PostgreSQL), get one booking; the others hear it has gone."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinic.audit import Actor
from clinic.models import Consultation, OfferStatus, WaitlistOffer
from clinic.scheduling.booking import Booked
from clinic.scheduling.errors import OfferGone
from clinic.scheduling.offers import take_offer

from .conftest import TEST_KEYS
from .fakes.outbox import open_clinic, outbox  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .test_double_booking import race_engine
from .test_waitlist import TUESDAY_10, freed, join, offers

RACERS = 5


def race(engine, offer_ids: list[int], now) -> list[object]:
    """Take every offer at once, one thread and connection each; return each outcome."""
    barrier = threading.Barrier(len(offer_ids))
    outcomes: list[object] = [None] * len(offer_ids)

    def run(i: int) -> None:
        with Session(engine) as session:
            barrier.wait()
            try:
                outcomes[i] = take_offer(session, offer_ids[i], now=now, keys=TEST_KEYS, actor=Actor())
            except Exception as exc:  # the outcome is what we assert on
                outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(offer_ids))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


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
        outcomes = race(engine, offer_ids, now)
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
