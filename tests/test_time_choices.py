"""The free times of the time step, grouped by the patient's day and labelled on their clock, against a
plain reference that converts each start on its own: every zone's odd offsets and clock changes."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from clinic.booking.calendar import Day, TimeChoice, day_label, form_value, group_by_day
from clinic.scheduling.timezones import clock_label

# Hour changes each way in both hemispheres; Santiago's autumn change repeats the hour before midnight, so
# that hour belongs to the day before; Lord Howe changes by half an hour; Kathmandu and Chatham sit at
# odd offsets.
ZONES = (
    "Europe/London",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "America/St_Johns",
    "UTC",
)
# The day before each of 2026's clock changes in those zones.
FIRST_DAYS = tuple(
    date(2026, month, day) - timedelta(days=1)
    for month, day in ((3, 8), (3, 29), (4, 5), (9, 6), (9, 27), (10, 4), (10, 25), (11, 1))
)
FIVE_MINUTES = timedelta(minutes=5)


def reference(starts, tz, days, changeable_from, twelve_hour):
    times = {day: [] for day in days}
    for start in starts:
        local = start.astimezone(tz)
        value = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
        changeable = changeable_from is None or start >= changeable_from
        choice = TimeChoice(value, clock_label(start, tz, twelve_hour), changeable)
        times.setdefault(local.date(), []).append(choice)
    return [Day(day, day_label(day), choices) for day, choices in sorted(times.items())]


@settings(max_examples=300)
@given(
    zone_name=st.sampled_from(ZONES),
    first_day=st.sampled_from(FIRST_DAYS),
    steps=st.sets(st.integers(0, 3 * 24 * 12), max_size=120),
    cut=st.none() | st.integers(0, 3 * 24 * 12),
    listed=st.integers(0, 4),
    twelve_hour=st.booleans(),
)
def test_free_times_fall_on_the_patients_day_and_clock(zone_name, first_day, steps, cut, listed, twelve_hour):
    tz = ZoneInfo(zone_name)
    begin = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    starts = [begin + step * FIVE_MINUTES for step in sorted(steps)]
    changeable_from = None if cut is None else begin + cut * FIVE_MINUTES
    days = [first_day + timedelta(days=n) for n in range(listed)]

    grouped = group_by_day(starts, tz, days, changeable_from=changeable_from, twelve_hour=twelve_hour)

    assert grouped == reference(starts, tz, days, changeable_from, twelve_hour)
    assert grouped == group_by_day(starts, tz, days, changeable_from=changeable_from, twelve_hour=twelve_hour)


def test_the_hour_santiago_repeats_before_midnight_stays_on_the_day_before_each_time_with_its_offset():
    tz = ZoneInfo("America/Santiago")
    repeated = datetime(2026, 4, 5, 3, 30, tzinfo=UTC)  # 23:30 for the second time on Saturday 4 April
    hour = timedelta(hours=1)

    [saturday, sunday] = group_by_day([repeated - hour, repeated, repeated + hour], tz)

    assert (saturday.date, [time.label for time in saturday.times]) == (
        date(2026, 4, 4),
        ["23:30 (GMT-3)", "23:30 (GMT-4)"],
    )
    assert (sunday.date, [time.label for time in sunday.times]) == (date(2026, 4, 5), ["00:30"])


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2),
        max_value=datetime(9998, 12, 30),
        timezones=st.sampled_from(ZONES).map(ZoneInfo),
    )
)
def test_a_form_carries_any_instant_as_its_utc_minute(instant):
    assert form_value(instant) == instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
