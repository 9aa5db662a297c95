"""The slot engine as a pure function: rules, zones, DST, buffers, notice and horizon."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from clinic.scheduling.slots import ClinicianCalendar, SlotRules, WeeklyHours, available_slots, open_time

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def weekly(start: time, end: time, days=range(7)) -> list[WeeklyHours]:
    return [WeeklyHours(day, start, end) for day in days]


def slots_on(day: date, tz: ZoneInfo, calendar: ClinicianCalendar, rules: SlotRules, now=None):
    """The slots starting on local `day`, asked for the day before unless `now` is given."""
    start = datetime.combine(day, time(), tzinfo=tz)
    end = start + timedelta(days=1, hours=3)
    now = now or start - timedelta(days=1)
    found = available_slots(rules, [calendar], start.astimezone(UTC), end.astimezone(UTC), now)
    return [s for s in found if s.start.astimezone(tz).date() == day]


def local_times(slots, tz) -> list[str]:
    return [s.start.astimezone(tz).strftime("%H:%M") for s in slots]


def test_a_nine_oclock_clinic_stays_at_nine_local_across_both_london_changes():
    calendar = ClinicianCalendar(1, "Europe/London", weekly(time(9), time(10)))
    rules = SlotRules(duration=30, interval=30)
    for day, utc_hour in [(date(2026, 3, 28), 9), (date(2026, 3, 29), 8), (date(2026, 10, 25), 9)]:
        found = slots_on(day, LONDON, calendar, rules)
        assert local_times(found, LONDON) == ["09:00", "09:30"]
        assert found[0].start.hour == utc_hour


def test_a_nine_oclock_clinic_stays_at_nine_local_across_both_new_york_changes():
    calendar = ClinicianCalendar(1, "America/New_York", weekly(time(9), time(10)))
    rules = SlotRules(duration=30, interval=30)
    assert slots_on(date(2026, 3, 7), NEW_YORK, calendar, rules)[0].start.hour == 14  # EST
    assert slots_on(date(2026, 3, 8), NEW_YORK, calendar, rules)[0].start.hour == 13  # EDT
    assert slots_on(date(2026, 11, 1), NEW_YORK, calendar, rules)[0].start.hour == 14  # EST again


def test_the_lost_hour_offers_no_slots_in_new_york():
    calendar = ClinicianCalendar(1, "America/New_York", weekly(time(0), time(5)))
    found = slots_on(date(2026, 3, 8), NEW_YORK, calendar, SlotRules(duration=30, interval=30))
    times = local_times(found, NEW_YORK)
    assert "02:00" not in times and "02:30" not in times
    assert times == ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30", "04:00", "04:30"]
    # Only four real hours passed, so four hours of 30-minute slots.
    assert len(found) == 8


def test_the_lost_hour_offers_no_slots_in_london():
    calendar = ClinicianCalendar(1, "Europe/London", weekly(time(0), time(3)))
    found = slots_on(date(2026, 3, 29), LONDON, calendar, SlotRules(duration=30, interval=30))
    assert local_times(found, LONDON) == ["00:00", "00:30", "02:00", "02:30"]


def test_the_repeated_hour_is_offered_once_at_its_first_occurrence():
    calendar = ClinicianCalendar(1, "America/New_York", weekly(time(0), time(3)))
    found = slots_on(date(2026, 11, 1), NEW_YORK, calendar, SlotRules(duration=30, interval=30))
    assert local_times(found, NEW_YORK) == ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30"]
    one_am = found[2].start
    assert one_am.astimezone(NEW_YORK).utcoffset() == timedelta(hours=-4)  # EDT: the first 01:00
    # A 30-minute slot at the first 01:30 ends 30 real minutes later, at the second 01:00.
    assert found[3].end - found[3].start == timedelta(minutes=30)
    assert len({s.start for s in found}) == len(found)


def test_a_rule_that_crosses_midnight_gives_slots_on_both_days():
    calendar = ClinicianCalendar(1, "Europe/London", [WeeklyHours(4, time(22), time(2))])  # Friday night
    rules = SlotRules(duration=60, interval=60)
    start = datetime(2026, 6, 5, 0, tzinfo=LONDON).astimezone(UTC)
    found = available_slots(rules, [calendar], start, start + timedelta(days=3), start - timedelta(days=1))
    local = [s.start.astimezone(LONDON).strftime("%a %H:%M") for s in found]
    assert local == ["Fri 22:00", "Fri 23:00", "Sat 00:00", "Sat 01:00"]


def test_a_slot_must_fit_inside_the_working_period():
    calendar = ClinicianCalendar(1, "Europe/London", weekly(time(9), time(10, 15)))
    found = slots_on(date(2026, 6, 1), LONDON, calendar, SlotRules(duration=45, interval=15))
    assert local_times(found, LONDON) == ["09:00", "09:15", "09:30"]


def test_buffers_may_run_into_a_break_but_not_into_another_booking():
    hours = [WeeklyHours(0, time(9), time(12)), WeeklyHours(0, time(13), time(17))]
    rules = SlotRules(duration=30, buffer_before=10, buffer_after=15, interval=30)
    monday = date(2026, 6, 1)
    free = slots_on(monday, LONDON, ClinicianCalendar(1, "Europe/London", hours), rules)
    times = local_times(free, LONDON)
    assert "11:30" in times  # its after-buffer runs into lunch: allowed
    assert "13:00" in times  # its before-buffer lies in lunch: allowed

    booked = (datetime(2026, 6, 1, 13, 0, tzinfo=LONDON), datetime(2026, 6, 1, 13, 45, tzinfo=LONDON))
    calendar = ClinicianCalendar(1, "Europe/London", hours, busy=[booked])
    times = local_times(slots_on(monday, LONDON, calendar, rules), LONDON)
    # 13:45 + our 10-minute before-buffer would touch the booking: the next start is 14:00.
    assert "13:30" not in times and "13:00" not in times
    assert "14:00" in times


def test_a_booking_blocks_only_its_own_time_with_buffers():
    booked = (datetime(2026, 6, 1, 10, 0, tzinfo=LONDON), datetime(2026, 6, 1, 10, 30, tzinfo=LONDON))
    calendar = ClinicianCalendar(1, "Europe/London", weekly(time(9), time(12)), busy=[booked])
    rules = SlotRules(duration=30, interval=30, buffer_after=15)
    times = local_times(slots_on(date(2026, 6, 1), LONDON, calendar, rules), LONDON)
    # 09:30 + 30 min + 15 min after-buffer runs into the 10:00 booking.
    assert times == ["09:00", "10:30", "11:00", "11:30"]


def test_time_off_removes_the_slots_it_covers():
    off = (datetime(2026, 6, 1, 10, 0, tzinfo=LONDON), datetime(2026, 6, 1, 11, 0, tzinfo=LONDON))
    calendar = ClinicianCalendar(1, "Europe/London", weekly(time(9), time(12)), time_off=[off])
    times = local_times(slots_on(date(2026, 6, 1), LONDON, calendar, SlotRules(30, interval=30)), LONDON)
    assert times == ["09:00", "09:30", "11:00", "11:30"]


def test_minimum_notice_boundary_is_inclusive():
    calendar = ClinicianCalendar(1, "Europe/London", weekly(time(9), time(12)))
    rules = SlotRules(duration=30, interval=30, min_notice=120)
    now = datetime(2026, 6, 1, 8, 0, tzinfo=LONDON)  # 09:00 is 60 minutes away, 10:00 exactly 120
    assert local_times(slots_on(date(2026, 6, 1), LONDON, calendar, rules, now), LONDON)[0] == "10:00"
    just_after = now + timedelta(seconds=1)
    assert local_times(slots_on(date(2026, 6, 1), LONDON, calendar, rules, just_after), LONDON)[0] == "10:30"


def test_booking_horizon_boundary_is_inclusive():
    calendar = ClinicianCalendar(1, "Europe/London", weekly(time(9), time(10)))
    rules = SlotRules(duration=30, interval=30, horizon_days=7)
    now = datetime(2026, 6, 1, 9, 30, tzinfo=LONDON)
    window = (now, now + timedelta(days=30))
    found = available_slots(rules, [calendar], *window, now)
    assert found[-1].start == datetime(2026, 6, 8, 9, 30, tzinfo=LONDON)


def test_slots_in_the_past_are_never_offered():
    calendar = ClinicianCalendar(1, "Europe/London", weekly(time(9), time(12)))
    now = datetime(2026, 6, 1, 10, 10, tzinfo=LONDON)
    times = local_times(slots_on(date(2026, 6, 1), LONDON, calendar, SlotRules(30, interval=30), now), LONDON)
    assert times == ["10:30", "11:00", "11:30"]


def test_a_time_that_began_a_fraction_of_a_second_ago_is_not_offered():
    """Reception was offered 23:00 when a CI run met the hour: `now` was cut to whole seconds, so a start
    that had passed less than a second before still counted as to come."""
    calendar = ClinicianCalendar(1, "Europe/London", weekly(time(9), time(12)))
    just_after = datetime(2026, 6, 1, 10, 0, 0, 400_000, tzinfo=LONDON)

    def first_offered(now: datetime) -> str:
        return local_times(slots_on(now.date(), LONDON, calendar, SlotRules(30, interval=30), now), LONDON)[0]

    assert first_offered(just_after) == "10:30"
    assert first_offered(just_after - timedelta(seconds=1)) == "10:00"


def test_first_available_lists_every_free_clinician_sorted_by_time():
    london = ClinicianCalendar(1, "Europe/London", weekly(time(9), time(10)))
    amsterdam = ClinicianCalendar(2, "Europe/Amsterdam", weekly(time(9), time(10)))
    start = datetime(2026, 6, 1, tzinfo=UTC)
    window = (start, start + timedelta(days=1))
    found = available_slots(
        SlotRules(30, interval=30), [london, amsterdam], *window, start - timedelta(days=1)
    )
    # 09:00 in Amsterdam is 07:00 UTC in summer, 09:00 in London is 08:00 UTC.
    assert [(s.start.strftime("%H:%M"), s.clinician_id) for s in found] == [
        ("07:00", 2),
        ("07:30", 2),
        ("08:00", 1),
        ("08:30", 1),
    ]


def test_rules_apply_only_within_their_validity_dates():
    hours = [WeeklyHours(0, time(9), time(10), valid_from=date(2026, 6, 8), valid_until=date(2026, 6, 15))]
    calendar = ClinicianCalendar(1, "Europe/London", hours)
    rules = SlotRules(30, interval=30)
    assert slots_on(date(2026, 6, 1), LONDON, calendar, rules) == []
    assert len(slots_on(date(2026, 6, 8), LONDON, calendar, rules)) == 2
    assert len(slots_on(date(2026, 6, 15), LONDON, calendar, rules)) == 2
    assert slots_on(date(2026, 6, 22), LONDON, calendar, rules) == []


# --- open time: what a clinician offers, booked or not (the reports' offered hours) ------------


def seconds(instant: datetime) -> int:
    return int(instant.timestamp())


def test_open_time_is_the_working_periods_less_time_off_ignoring_bookings():
    week = ClinicianCalendar(
        1,
        "Europe/London",
        [WeeklyHours(d, time(9), time(12)) for d in range(5)],
        time_off=[(datetime(2026, 3, 3, 10, tzinfo=UTC), datetime(2026, 3, 3, 11, tzinfo=UTC))],
        busy=[(datetime(2026, 3, 4, 9, tzinfo=UTC), datetime(2026, 3, 4, 12, tzinfo=UTC))],
    )

    spans = open_time(
        week, seconds(datetime(2026, 3, 2, tzinfo=UTC)), seconds(datetime(2026, 3, 4, tzinfo=UTC))
    )

    assert spans == [
        (seconds(datetime(2026, 3, 2, 9, tzinfo=UTC)), seconds(datetime(2026, 3, 2, 12, tzinfo=UTC))),
        (seconds(datetime(2026, 3, 3, 9, tzinfo=UTC)), seconds(datetime(2026, 3, 3, 10, tzinfo=UTC))),
        (seconds(datetime(2026, 3, 3, 11, tzinfo=UTC)), seconds(datetime(2026, 3, 3, 12, tzinfo=UTC))),
    ]


def test_open_time_loses_the_hour_the_clocks_skip_and_is_cut_at_the_window():
    night = ClinicianCalendar(1, "Europe/London", [WeeklyHours(6, time(0), time(3))])  # Sundays 00:00-03:00

    spring = open_time(
        night, seconds(datetime(2026, 3, 29, tzinfo=UTC)), seconds(datetime(2026, 3, 30, tzinfo=UTC))
    )
    cut = open_time(
        night, seconds(datetime(2026, 3, 22, 1, tzinfo=UTC)), seconds(datetime(2026, 3, 23, tzinfo=UTC))
    )

    assert sum(end - start for start, end in spring) == 2 * 3600  # 01:00-02:00 never happened
    assert cut == [
        (seconds(datetime(2026, 3, 22, 1, tzinfo=UTC)), seconds(datetime(2026, 3, 22, 3, tzinfo=UTC)))
    ]


def test_hours_that_begin_or_end_at_a_time_the_clocks_skip_begin_or_end_at_the_jump():
    # London, 29 March 2026: 01:00 GMT is followed by 02:00 BST, so 01:30 never shows on the clock.
    ending = ClinicianCalendar(1, "Europe/London", [WeeklyHours(6, time(0), time(1, 30))])
    beginning = ClinicianCalendar(1, "Europe/London", [WeeklyHours(6, time(1, 30), time(3))])
    night = seconds(datetime(2026, 3, 29, tzinfo=UTC)), seconds(datetime(2026, 3, 30, tzinfo=UTC))
    jump = seconds(datetime(2026, 3, 29, 1, tzinfo=UTC))

    assert open_time(ending, *night) == [(night[0], jump)]
    assert open_time(beginning, *night) == [(jump, seconds(datetime(2026, 3, 29, 2, tzinfo=UTC)))]
    rules = SlotRules(duration=30, interval=30, horizon_days=60)
    assert local_times(slots_on(date(2026, 3, 29), LONDON, ending, rules), LONDON) == ["00:00", "00:30"]
    assert local_times(slots_on(date(2026, 3, 29), LONDON, beginning, rules), LONDON) == ["02:00", "02:30"]


def test_time_off_covering_a_whole_period_leaves_nothing_open():
    day = ClinicianCalendar(
        1,
        "UTC",
        [WeeklyHours(0, time(9), time(12)), WeeklyHours(0, time(13), time(17))],
        time_off=[(datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 2, 14, tzinfo=UTC))],
    )

    spans = open_time(
        day, seconds(datetime(2026, 3, 2, tzinfo=UTC)), seconds(datetime(2026, 3, 3, tzinfo=UTC))
    )

    assert spans == [
        (seconds(datetime(2026, 3, 2, 14, tzinfo=UTC)), seconds(datetime(2026, 3, 2, 17, tzinfo=UTC)))
    ]


def test_clinicians_sharing_hours_are_offered_by_their_own_hours_and_zone_whatever_list_holds_them():
    shared = weekly(time(9), time(10))
    start = datetime(2026, 3, 3, tzinfo=UTC)
    calendars = [
        ClinicianCalendar(1, "Europe/London", shared),
        ClinicianCalendar(2, "Europe/London", weekly(time(9), time(10))),  # equal hours, a list of its own
        ClinicianCalendar(3, "America/New_York", shared),  # the same list, another zone
        ClinicianCalendar(
            4, "Europe/London", shared, busy=[(start + timedelta(hours=9), start + timedelta(hours=9.5))]
        ),
        ClinicianCalendar(5, "Europe/London", weekly(time(9, 30), time(10))),
    ]

    found = available_slots(
        SlotRules(duration=30, interval=30), calendars, start, start + timedelta(1), start
    )

    starts = {
        c: sorted(s.start.astimezone(UTC).strftime("%H:%M") for s in found if s.clinician_id == c)
        for c in range(1, 6)
    }
    assert starts == {
        1: ["09:00", "09:30"],
        2: ["09:00", "09:30"],
        3: ["14:00", "14:30"],
        4: ["09:30"],
        5: ["09:30"],
    }
