"""Housekeeping finds the open offers whose time is no longer free with a few reads per clinician and day,
however many offers are open: it read each offer's time apart, three statements an offer, so thousands of
open offers made every round thousands of round trips."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from clinic.models import ConsultationStatus, OfferStatus, WaitlistOffer
from clinic.scheduling.availability import find_starts
from clinic.scheduling.offers import end_offers_no_longer_free, still_free, time_of

from . import factories
from .fakes.outbox import open_clinic
from .test_waitlist import join
from .wire import statements_sent

DAYS = [datetime(2026, 3, day, tzinfo=UTC) for day in (3, 4, 5, 6)]  # Tuesday to Friday


def open_offers(session, service, clinicians, now, every: int) -> list[WaitlistOffer]:
    """An offer open at every `every`-th free start of each clinician on each day."""
    entry = join(session, service, now, 1)
    freed_by = factories.consultation(
        session, service, clinicians[0], DAYS[0] + timedelta(hours=9), status=ConsultationStatus.CANCELLED
    )
    made = []
    for clinician in clinicians:
        for day in DAYS:
            for start in find_starts(session, service, day, day + timedelta(days=1), now, clinician.id)[
                ::every
            ]:
                made.append(
                    WaitlistOffer(
                        reference=f"S{len(made):07d}",
                        entry_id=entry.id,
                        freed_by_id=freed_by.id,
                        service_id=service.id,
                        clinician_id=clinician.id,
                        starts_at=start,
                        status=OfferStatus.OFFERED,
                        expires_at=now + timedelta(days=1),
                        link_seed="seed",
                        created_at=now,
                    )
                )
    session.add_all(made)
    session.commit()
    return made


@pytest.fixture
def clinic(session):
    """A service of 30-minute times every 15 minutes, and two clinicians."""
    service = open_clinic(session, slot_interval_minutes=15)
    factories.clinician(session, [service])
    session.commit()
    return service, list(service.clinicians)


def gone(session) -> set[int]:
    return set(session.scalars(select(WaitlistOffer.id).where(WaitlistOffer.status == OfferStatus.GONE)))


@pytest.mark.parametrize("every", [4, 1])
def test_open_offers_are_checked_with_reads_per_clinician_and_day_not_per_offer(session, now, clinic, every):
    service, clinicians = clinic
    made = open_offers(session, service, clinicians, now, every)

    with statements_sent(session.get_bind()) as sent:
        ended = end_offers_no_longer_free(session, now=now)

    assert ended == 0 and gone(session) == set()
    # The candidates, the service, the calendars of each clinician's day: as many for 7 offers a day as 28.
    groups = len(clinicians) * len(DAYS)
    assert len(sent) <= 4 + 2 * groups, (len(made), len(sent))


def test_the_offers_ended_are_those_whose_time_is_no_longer_free(session, now, clinic):
    service, (first, second) = clinic
    made = open_offers(session, service, [first, second], now, 1)
    factories.consultation(session, service, first, DAYS[0] + timedelta(hours=10))  # booked on the pages
    factories.time_off(
        session, second, DAYS[1] + timedelta(hours=13, minutes=30), DAYS[1] + timedelta(hours=15)
    )
    factories.clinician(session, [service])  # a third, free at every time: an offer is of its clinician's
    session.commit()
    expected = {offer.id for offer in made if not still_free(session, time_of(offer), now)}
    session.commit()

    ended = end_offers_no_longer_free(session, now=now)

    assert gone(session) == expected and ended == len(expected)
    assert 0 < len(expected) < len(made)
