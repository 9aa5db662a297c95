"""How long a waitlist offer is held: its lifetime runs only in the hospital's day, across DST changes too,
and never past the last moment its time may be booked."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from clinic.scheduling.offer_hold import OfferDay, offer_expiry

LONDON = ZoneInfo("Europe/London")
# The weeks around London's changes of clock in 2026: forwards on 29 March, back on 25 October.
DST_WEEKS = (datetime(2026, 3, 26, tzinfo=UTC), datetime(2026, 10, 22, tzinfo=UTC))


def waking_time(start: datetime, end: datetime, day: OfferDay) -> timedelta:
    """The time between `start` and `end` that London's clocks show inside the day's hours, read off the
    clock hour by hour (London's offsets are whole hours, so its clock hour changes only on UTC's)."""
    counted, moment = timedelta(), start
    while moment < end:
        next_hour = moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        step = min(next_hour, end) - moment
        if day.starts <= moment.astimezone(day.tz).hour < day.ends:
            counted += step
        moment += step
    return counted


@st.composite
def offers(draw):
    """An offer made at a minute of a DST week, of a time later that week or the next."""
    starts = draw(st.integers(0, 23))
    day = OfferDay(LONDON, starts, draw(st.integers(starts + 1, 24)))
    now = draw(st.sampled_from(DST_WEEKS)) + timedelta(minutes=draw(st.integers(0, 7 * 24 * 60)))
    min_notice = timedelta(minutes=draw(st.integers(0, 240)))
    starts_at = now + min_notice + timedelta(minutes=draw(st.integers(0, 10 * 24 * 60)))
    lifetime = timedelta(minutes=draw(st.integers(1, 12 * 60)))
    return now, starts_at, lifetime, day, min_notice


@given(offers())
@example(  # freed at 01:00 GMT as the clocks go forward: held until 10:00 BST
    (
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 31, 9, tzinfo=UTC),
        timedelta(hours=2),
        OfferDay(LONDON, 8, 21),
        timedelta(hours=2),
    )
)
@example(  # freed in the hour that happens twice as they go back: held until 10:00 GMT
    (
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 27, 9, tzinfo=UTC),
        timedelta(hours=2),
        OfferDay(LONDON, 8, 21),
        timedelta(hours=2),
    )
)
def test_an_offer_is_held_its_lifetime_in_waking_hours_and_never_past_its_last_bookable_moment(offer):
    now, starts_at, lifetime, day, min_notice = offer

    expires_at = offer_expiry(now, starts_at, lifetime=lifetime, day=day, min_notice=min_notice)

    last_bookable = starts_at - min_notice
    assert now <= expires_at <= last_bookable
    if expires_at < last_bookable:
        assert waking_time(now, expires_at, day) == lifetime  # never shorter, and not held for nothing
    else:
        assert waking_time(now, expires_at, day) <= lifetime


@pytest.mark.parametrize(
    ("freed_at", "held_until"),
    [
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), datetime(2026, 3, 29, 9, 0, tzinfo=UTC)),  # 10:00 BST
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 10, 0, tzinfo=UTC)),  # 10:00 GMT
        (datetime(2026, 10, 24, 19, 0, tzinfo=UTC), datetime(2026, 10, 25, 9, 0, tzinfo=UTC)),  # 1 h + 1 h
    ],
)
def test_a_night_offer_of_two_hours_ends_at_ten_in_the_morning(freed_at, held_until):
    day = OfferDay(LONDON, 8, 21)
    far = freed_at + timedelta(days=5)

    assert (
        offer_expiry(freed_at, far, lifetime=timedelta(hours=2), day=day, min_notice=timedelta())
        == held_until
    )


@pytest.mark.parametrize(("starts", "ends"), [(8, 8), (21, 8), (-1, 8), (8, 25)])
def test_an_offer_day_must_run_forwards_within_the_day(starts, ends):
    with pytest.raises(ValueError, match="offer day"):
        OfferDay(LONDON, starts, ends)
