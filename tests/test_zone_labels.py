"""A zone's label tells its offset truly: Etc/GMT+5 is five hours behind GMT (POSIX writes the sign the
other way round), so it reads GMT-5, on the page, in summaries and in mails."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from clinic.booking.calendar import zone_on
from clinic.scheduling import zone_picker
from clinic.scheduling.timezones import (
    clock_label,
    clocks_change,
    day_bounds,
    format_local,
    utc_offset,
    zone,
    zone_label,
    zone_names,
)
from clinic.scheduling.zone_names import friendly_name

from .test_booking_pages import clinic, text  # noqa: F401 (clinic: a fixture)

AT = datetime(2026, 12, 1, 12, tzinfo=UTC)
ETC = [name for name in zone_names() if name.startswith("Etc/")]
FIXED = [name for name in ETC if re.fullmatch(r"Etc/GMT[+-][1-9][0-9]*", name)]
OFFSET = re.compile(r"GMT[+-]\d+(?::\d\d)?")


def offsets_said(label: str) -> set[str]:
    return set(OFFSET.findall(label))


@pytest.mark.parametrize("name", [*ETC, "UTC"])
def test_every_etc_zone_and_utc_is_labelled_with_its_true_offset_only(name):
    true = utc_offset(zone(name), AT)
    labels = [
        zone_picker.offer([name], AT.date()).choices[0].label,
        zone_label(zone(name), AT),
        format_local(AT, zone(name)),
    ]

    assert all(offsets_said(label) == {true} for label in labels), labels
    assert not any("Etc" in label for label in labels), labels


def test_the_etc_zones_are_all_checked():
    assert len(ETC) > 30 and len(FIXED) == 26


@pytest.mark.parametrize("name", FIXED)
def test_a_fixed_offset_zones_label_says_its_offset_once(name):
    assert zone_label(zone(name), AT) == utc_offset(zone(name), AT)  # "GMT-5, GMT-5" before


@pytest.mark.parametrize("name", FIXED)
def test_a_fixed_offset_zone_is_named_by_its_offset_alone(name):
    true = utc_offset(zone(name), AT)

    assert friendly_name(name) == true
    assert zone_picker.offer([name], AT.date()).choices[0].label == true


@pytest.mark.parametrize(
    ("name", "friendly"),
    [
        ("UTC", "UTC"),
        ("Etc/UTC", "UTC"),
        ("Etc/UCT", "UTC"),
        ("Etc/Universal", "UTC"),
        ("Etc/Zulu", "UTC"),
        ("Etc/GMT", "GMT+0"),
        ("Etc/GMT0", "GMT+0"),
        ("Etc/GMT+0", "GMT+0"),
        ("Etc/GMT-0", "GMT+0"),
        ("Etc/Greenwich", "GMT+0"),
        ("Etc/GMT+5", "GMT-5"),
        ("Etc/GMT-3", "GMT+3"),
        ("Etc/GMT-14", "GMT+14"),
    ],
)
def test_the_etc_zones_read_as_people_write_them(name, friendly):
    assert friendly_name(name) == friendly


@pytest.mark.parametrize(("name", "label"), [("Etc/GMT+5", "GMT-5"), ("Etc/GMT-3", "GMT+3")])
def test_a_browser_in_a_fixed_offset_zone_sees_it_chosen_with_its_true_offset(client, clinic, name, label):  # noqa: F811
    service, _ = clinic
    query = {"service": service.id, "clinician": "any", "time_zone": name}

    page = text(client.get("/book/time", query_string=query))

    assert f'<option selected value="{name}">{label}</option>' in page
    assert f"Etc GMT{name[-2:]}" not in page


_CHANGING = (
    "Europe/London",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
)
# 2026's clock changes in those zones, and the days either side.
_CHANGE_DAYS = [
    date(2026, month, day) + timedelta(days=shift)
    for month, day in ((3, 8), (3, 29), (4, 5), (9, 6), (9, 27), (10, 4), (10, 25), (11, 1))
    for shift in (-1, 0, 1)
]


@given(
    name=st.sampled_from(_CHANGING),
    day=st.sampled_from(_CHANGE_DAYS),
    minutes=st.sets(st.integers(0, 25 * 60 - 1), min_size=2, max_size=2),
    twelve_hour=st.booleans(),
)
def test_two_instants_on_one_local_day_never_read_alike(name, day, minutes, twelve_hour):
    tz = zone(name)
    start, end = day_bounds(day, tz)
    first, second = (start + timedelta(minutes=n) for n in minutes)
    assume(second < end and first < end)

    assert clock_label(first, tz, twelve_hour) != clock_label(second, tz, twelve_hour)


def test_a_time_read_once_has_no_offset_and_the_repeated_hour_has_its_own():
    london = zone("Europe/London")
    times = [datetime(2026, 10, 25, hour, 30, tzinfo=UTC) for hour in (0, 1, 2)]

    assert [clock_label(t, london, False) for t in times] == ["01:30 (GMT+1)", "01:30 (GMT+0)", "02:30"]


@given(
    name=st.sampled_from(_CHANGING),
    day=st.sampled_from(_CHANGE_DAYS),
    start=st.integers(0, 25 * 60 - 1),
    length=st.integers(5, 180),
)
def test_a_span_reads_on_the_clock_of_each_of_its_ends(name, day, start, length):
    tz = zone(name)
    begin = day_bounds(day, tz)[0] + timedelta(minutes=start)
    end = begin + timedelta(minutes=length)

    said = format_local(begin, tz, until=end)

    if end.astimezone(tz).utcoffset() == begin.astimezone(tz).utcoffset():
        assert offsets_said(said) == {utc_offset(tz, begin)}
    else:  # each end with its own offset, in full
        assert said == f"{format_local(begin, tz)} to {format_local(end, tz)}"


def test_a_consultation_over_the_clocks_going_back_reads_its_true_length():
    london = zone("Europe/London")
    begin = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 GMT+1, ending at 01:00 GMT+0

    assert format_local(begin, london, until=begin + timedelta(minutes=30)) == (
        "Sunday 25 October 2026, 01:30 (UK time, GMT+1) to Sunday 25 October 2026, 01:00 (UK time, GMT+0)"
    )


@given(name=st.sampled_from(_CHANGING), day=st.sampled_from(_CHANGE_DAYS))
def test_the_clocks_change_at_the_first_second_of_another_offset_on_the_day_they_do(name, day):
    tz = zone(name)
    start, end = day_bounds(day, tz)
    change = clocks_change(day, tz)
    last = end - timedelta(seconds=1)

    if change is None:
        assert last.astimezone(tz).utcoffset() == start.astimezone(tz).utcoffset()
    else:
        assert start < change < end
        assert (change - timedelta(seconds=1)).astimezone(tz).utcoffset() == start.astimezone(tz).utcoffset()
        assert change.astimezone(tz).utcoffset() != start.astimezone(tz).utcoffset()


@given(name=st.sampled_from((*_CHANGING, "America/Havana")), day=st.sampled_from(_CHANGE_DAYS))
def test_a_weeks_zone_names_every_change_of_its_clocks_at_its_true_offsets(name, day):
    tz = zone(name)
    first, last = day - timedelta(days=3), day + timedelta(days=3)
    start, end = day_bounds(first, tz)[0], day_bounds(last, tz)[1]
    offsets = [
        utc_offset(tz, start + timedelta(minutes=n))
        for n in range(0, int((end - start).total_seconds()) // 60, 15)
    ]
    runs = [offset for n, offset in enumerate(offsets) if n == 0 or offsets[n - 1] != offset]

    said = zone_on(tz, first, last)

    assert said.count("then") == len(runs) - 1
    assert re.findall(r"GMT[+-]\d+(?::\d\d)?", said) == runs


def test_a_week_whose_last_day_begins_on_the_new_clock_says_the_change_at_the_midnight_before():
    # Havana's clocks go from 00:00 to 01:00 on Sunday 8 March 2026: that day is GMT-4 from its start.
    havana = zone("America/Havana")

    assert zone_on(havana, date(2026, 3, 2), date(2026, 3, 8)) == (
        "Havana, GMT-5 until midnight on Saturday 7 March, then GMT-4"
    )
    assert zone_on(havana, date(2026, 3, 8)) == "Havana, GMT-4"
