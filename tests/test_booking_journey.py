"""The booking journey made easy: the date of birth in three boxes, a message per missing field,
times that cannot be changed online marked before booking, and a way on from every page of times."""

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import request
from sqlalchemy import select
from wtforms.widgets import Select

from clinic.booking.calendar import form_value
from clinic.booking.forms import ChoiceForm
from clinic.models import Consultation, utcnow
from clinic.scheduling.patients import DateParts, InvalidDetails, check_patient_details
from clinic.scheduling.timezones import clock_time, format_local, uses_12_hour_clock, utc_offset, zone_label

from . import factories
from .test_booking_pages import (  # noqa: F401 (clinic: a fixture)
    LONDON,
    booking_form,
    clinic,
    next_week_at,
    text,
    time_label,
)
from .test_manage_link import open_link

TODAY = date(2026, 12, 1)


def born(birth_date: object) -> date:
    """The date of birth the booking rules read from `birth_date`."""
    details = check_patient_details(
        name="Ada Lovelace",
        email="ada@example.org",
        phone="+44 7700 900123",
        birth_date=birth_date,
        time_zone="Europe/London",
        today=TODAY,
    )
    return details.birth_date


def birth_date_error(birth_date: object) -> str:
    with pytest.raises(InvalidDetails) as refused:
        born(birth_date)
    return refused.value.errors["birth_date"]


def test_a_date_of_birth_typed_as_day_month_year_is_read_in_that_order():
    assert born(DateParts("12", "03", "1945")) == date(1945, 3, 12)
    assert born(DateParts(" 3", "12", "1945 ")) == date(1945, 12, 3)


def test_a_date_of_birth_typed_in_another_scripts_digits_is_read_as_those_numbers():
    """As a phone's Arabic or Persian keyboard, or a Japanese one's full-width digits, type them."""
    assert born(DateParts("١٢", "٠٣", "١٩٤٥")) == date(1945, 3, 12)  # Arabic-Indic
    assert born(DateParts("۳", "۱۲", "۱۹۴۵")) == date(1945, 12, 3)  # Persian
    assert born(DateParts("１２", "３", "１９４５")) == date(1945, 3, 12)  # full-width


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (("", "", ""), "Enter your date of birth."),
        (("12", "", "1945"), "Date of birth must include a month."),
        (("", "", "1945"), "Date of birth must include a day and month."),
        (("31", "2", "1945"), "Date of birth must be a real date."),
        (("12", "13", "1945"), "Date of birth must be a real date."),
        (("0", "3", "1945"), "Date of birth must be a real date."),
        (("12", "3", "45"), "Year must include 4 numbers"),
        (("12", "March", "1945"), "Date of birth must be a real date, in numbers"),
        (("12", "3", "19⁴⁵"), "Date of birth must be a real date, in numbers"),  # superscripts: no
        (("12031945", "", ""), "Date of birth must include a month and year."),
        (("12031945", "3", "1945"), "Enter the day, the month and the year in their own boxes"),
        (("2", "12", "2026"), "Date of birth must be in the past."),
        (("1", "1", "1890"), "Date of birth must be after 1896"),
    ],
)
def test_a_wrong_date_of_birth_is_explained_in_plain_words(parts, message):
    assert birth_date_error(DateParts(*parts)).startswith(message)


@pytest.mark.parametrize("typed", ["12031945", "19451203", "1945-W48-1", "12/03/1945", 19451203])
def test_the_api_takes_a_date_of_birth_only_as_yyyy_mm_dd(typed):
    assert birth_date_error(typed) == "Enter the date of birth as YYYY-MM-DD."
    assert born("1945-12-03") == date(1945, 12, 3)


def test_the_details_page_asks_for_the_date_of_birth_in_three_labelled_boxes(client, clinic):  # noqa: F811
    service, _ = clinic
    form = booking_form(service, next_week_at(11))
    query = {name: form[name] for name in ("service", "clinician", "time_zone", "start")}

    page = text(client.get("/book/details", query_string=query))

    group = re.search(r'<fieldset id="birth_date"[^>]*>(.*?)</fieldset>', page, re.S)
    assert (
        group and 'role="group"' in group.group(0) and 'aria-describedby="birth_date-hint"' in group.group(0)
    )
    assert "<legend>Date of birth</legend>" in group.group(1)
    for part, label in (("day", "Day"), ("month", "Month"), ("year", "Year")):
        assert f'<label for="birth_date-{part}">{label}</label>' in group.group(1)
        box = re.search(rf'<input type="text" id="birth_date-{part}"[^>]*>', group.group(1)).group(0)
        assert 'inputmode="numeric"' in box and f'autocomplete="bday-{part}"' in box
    assert 'type="date"' not in page


def test_a_wrong_date_of_birth_shows_one_error_for_the_group_and_keeps_what_was_typed(client, clinic):  # noqa: F811
    service, _ = clinic
    form = booking_form(service, next_week_at(11), **{"birth_date-day": "31", "birth_date-month": "2"})

    response = client.post("/book/details", data=form)

    page = text(response)
    assert response.status_code == 422
    assert page.count("Date of birth must be a real date.") == 2  # the summary and beside the group
    assert re.search(
        r'<fieldset id="birth_date"[^>]*aria-describedby="birth_date-hint birth_date-error"', page
    )
    assert '<a href="#birth_date">' in page
    assert 'id="birth_date-day" name="birth_date-day" value="31"' in page


def test_the_review_page_shows_the_date_of_birth_in_words_and_books_it(client, session, clinic):  # noqa: F811
    service, _ = clinic
    form = booking_form(
        service,
        next_week_at(11),
        **{"birth_date-day": "12", "birth_date-month": "03", "birth_date-year": "1945"},
    )

    review = text(client.post("/book/details", data=form))
    client.post("/book/confirm", data=form)

    assert "<dd>12 March 1945</dd>" in review
    for part, value in (("day", "12"), ("month", "03"), ("year", "1945")):
        assert f'name="birth_date-{part}" value="{value}"' in review
    booked = session.scalar(select(Consultation))
    assert booked.patient.birth_date == date(1945, 3, 12)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("name", "Enter your full name."),
        ("email", "Enter your e-mail address."),
        ("phone", "Enter a phone number."),
        ("birth_date", "Enter your date of birth."),
    ],
)
def test_each_missing_detail_has_its_own_message_beside_it(client, clinic, field, message):  # noqa: F811
    service, _ = clinic
    blank = [name for name in booking_form(service, next_week_at(11)) if name.startswith(field)]
    form = booking_form(service, next_week_at(11), **dict.fromkeys(blank, ""))

    page = text(client.post("/book/details", data=form))

    assert re.search(rf'<p class="error-message" id="{field}-error">.*{re.escape(message)}</p>', page)
    assert f'<a href="#{field}">{message}</a>' in page


def test_a_missing_companion_detail_is_asked_for_in_their_words(client, clinic):  # noqa: F811
    service, _ = clinic
    form = booking_form(service, next_week_at(11), companion_role="relative")

    page = text(client.post("/book/details", data=form))

    assert "Enter their full name." in page and "Enter their e-mail address." in page


PHONE = "+44 20 7946 0000"  # the factories' department
THREE_DAYS = 3 * 24 * 60


def offered_times(page: str) -> dict[datetime, str]:
    """Each time offered on a page, and its radio with its label."""
    found = re.findall(r'(<input type="radio" id="start-([^"]+)".*?</label>)', page, re.S)
    return {datetime.strptime(value, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC): radio for radio, value in found}


def assert_marked_inside_the_cut_off(page: str, cutoff: timedelta) -> None:
    times = offered_times(page)
    changeable_from = utcnow() + cutoff
    marked = {start for start, radio in times.items() if UNCHANGEABLE in radio}
    assert marked and marked != set(times)
    for start in times:
        if abs(start - changeable_from) > timedelta(minutes=5):  # the clock moves during the request
            assert (start in marked) == (start < changeable_from), start
    for start in marked:
        assert re.search(r'aria-describedby="[^"]*\bunchangeable-times\b', times[start])
    note = re.search(r'<div class="notice notice-warning" id="unchangeable-times">(.*?)</div>', page, re.S)
    assert note and "3 days" in note.group(1) and PHONE in note.group(1)


UNCHANGEABLE = "cannot be changed online"


@pytest.fixture
def short_notice(session):
    """A service whose bookings can be changed online until three days before they start."""
    service = factories.service(session, name="Wound check", cancel_cutoff_minutes=THREE_DAYS)
    factories.clinician(session, [service])
    session.commit()
    return service


def test_times_inside_the_change_cut_off_are_marked_before_booking(client, short_notice):
    query = {"service": short_notice.id, "clinician": "any", "time_zone": "Europe/London"}

    page = text(client.get("/book/time", query_string=query))

    assert_marked_inside_the_cut_off(page, timedelta(minutes=THREE_DAYS))


def test_the_reschedule_picker_marks_them_too(client, session, short_notice):
    booked = factories.booking(session, short_notice, next_week_at(10), now=utcnow())
    open_link(client, booked)

    page = text(client.get(f"/c/{booked.consultation.reference}/reschedule"))

    assert_marked_inside_the_cut_off(page, timedelta(minutes=THREE_DAYS))


def soonest_and_latest(client, service) -> tuple[datetime, datetime]:
    query = {"service": service.id, "clinician": "any", "time_zone": "Europe/London"}
    times = sorted(offered_times(text(client.get("/book/time", query_string=query))))
    return times[0], times[-1]


def test_the_review_and_confirmation_say_a_time_inside_the_cut_off_cannot_be_changed_online(
    client, session, short_notice
):
    soonest, _ = soonest_and_latest(client, short_notice)
    form = booking_form(short_notice, soonest, time_zone="Europe/London")

    review = text(client.post("/book/details", data=form))
    confirmed = text(client.get(client.post("/book/confirm", data=form).location))

    for page in (review, confirmed):
        notice = re.search(r'<div class="notice notice-warning" id="changes-online">(.*?)</div>', page, re.S)
        assert notice and "You will not be able to change this booking online" in notice.group(1)
        assert f'href="tel:{PHONE.replace(" ", "")}"' in notice.group(1)
    assert "lets you change or cancel the booking" not in confirmed


def test_the_review_and_confirmation_say_until_when_a_later_time_can_be_changed_online(
    client, session, short_notice
):
    _, latest = soonest_and_latest(client, short_notice)
    form = booking_form(short_notice, latest, time_zone="Europe/London")
    until = format_local(latest - timedelta(minutes=THREE_DAYS), ZoneInfo("Europe/London"))

    review = text(client.post("/book/details", data=form))
    confirmed = text(client.get(client.post("/book/confirm", data=form).location))

    for page in (review, confirmed):
        assert f"You can change or cancel this booking online until {until}." in page
        assert UNCHANGEABLE not in page and "You will not be able to change" not in page
    assert "lets you change or cancel the booking" in confirmed


def way_on(page: str) -> str:
    """The link a page without free times offers instead."""
    return (
        re.search(r'<a href="(/book/time\?[^"]*)">Show times from that day</a>', page)
        .group(1)
        .replace("&amp;", "&")
    )


def test_a_day_past_the_booking_horizon_links_to_the_first_free_time(client, session):
    service = factories.service(session, horizon_days=5)
    in_two_days = utcnow().astimezone(ZoneInfo("Europe/London")).date() + timedelta(days=2)
    factories.clinician(session, [service], weekdays=[in_two_days.weekday()])  # the one day with times
    session.commit()
    query = {"service": service.id, "clinician": "any", "time_zone": "Europe/London"}

    past = text(client.get("/book/time", query_string={**query, "day": in_two_days + timedelta(days=40)}))
    followed = text(client.get(way_on(past)))

    assert "Try the later days" not in past and 'rel="next"' not in past
    assert "There are no free times on these days or later. The first free time is on" in past
    assert f"day={in_two_days}" in way_on(past) and offered_times(followed)


def test_a_week_without_free_times_links_to_the_next_day_with_one(client, session):
    service = factories.service(session, min_notice_minutes=9 * 24 * 60)
    factories.clinician(session, [service])
    session.commit()
    query = {"service": service.id, "clinician": "any", "time_zone": "Europe/London"}

    empty = text(client.get("/book/time", query_string=query))
    followed = text(client.get(way_on(empty)))

    assert not offered_times(empty) and "The next free time is on" in empty
    first = min(offered_times(followed))
    assert first >= utcnow() + timedelta(days=9)
    assert f"{first.astimezone(ZoneInfo('Europe/London')).date()}" in way_on(empty)


def test_no_free_times_before_the_horizon_says_whom_to_call(client, session):
    service = factories.service(session, horizon_days=10, min_notice_minutes=20 * 24 * 60)
    factories.clinician(session, [service])
    session.commit()
    query = {"service": service.id, "clinician": "any", "time_zone": "Europe/London"}

    page = text(client.get("/book/time", query_string=query))

    assert "There are no free times in the next 10 days that can be booked online." in page
    assert f'<a href="tel:{PHONE.replace(" ", "")}">{PHONE}</a>' in page


def zone_options(page: str) -> list[tuple[str, str]]:
    """The time zone select's options: (IANA name, label)."""
    select = re.search(r'<select[^>]*name="time_zone"[^>]*>(.*?)</select>', page, re.S).group(1)
    return re.findall(r'<option[^>]*value="([^"]+)"[^>]*>([^<]*)</option>', select)


def label_now(name: str, friendly: str) -> str:
    return f"{friendly} ({utc_offset(ZoneInfo(name), utcnow())})"


def times_page(client, service, **query) -> str:
    base = {"service": service.id, "clinician": "any", "time_zone": "America/New_York"}
    return text(client.get("/book/time", query_string={**base, **query}))


def test_time_zones_are_a_short_list_of_friendly_names_with_the_patients_and_the_hospitals_first(
    client,
    clinic,  # noqa: F811
):
    service, _ = clinic

    page = times_page(client, service)

    options = zone_options(page)
    assert options[:2] == [
        ("America/New_York", label_now("America/New_York", "New York")),
        ("Europe/London", label_now("Europe/London", "UK time")),
    ]
    assert ("Asia/Kolkata", label_now("Asia/Kolkata", "India")) in options
    assert len(options) < 60 and len({name for name, _ in options}) == len(options)
    assert '<option selected value="America/New_York">' in page


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("india", "Asia/Kolkata"),
        ("Sao  PAULO", "America/Sao_Paulo"),
        ("new york", "America/New_York"),
        ("usa", None),
    ],
)
def test_a_search_by_city_or_country_narrows_the_list_without_script(client, clinic, search, found):  # noqa: F811
    service, _ = clinic

    page = times_page(client, service, time_zone_search=search)

    names = [name for name, _ in zone_options(page)]
    if found is not None:  # the one zone found is chosen, and listed with the hospital's
        assert names == [found, "Europe/London"]
    else:  # the patient's zone, the hospital's, and those found
        assert names[:2] == ["America/New_York", "Europe/London"]
        assert {"America/Chicago", "America/Los_Angeles", "Pacific/Honolulu"} <= set(names)
    assert re.search(r'<label for="time_zone_search">[^<]+</label>', page)
    # What it found is said beside the list it narrowed, which has the focus as the page opens.
    assert re.search(r'<select [^>]*aria-describedby="time_zone-hint"[^>]* autofocus', page)
    assert re.search(r'<p class="hint" id="time_zone-hint">\d+ time zones? match', page)


def test_a_search_that_finds_nothing_says_so_and_every_zone_can_still_be_listed(client, clinic):  # noqa: F811
    service, _ = clinic

    nothing = times_page(client, service, time_zone_search="Atlantis")
    everything = times_page(client, service, time_zone_list="all")

    assert "No time zone matches “Atlantis”." in nothing
    # An error beside the search box, which has the focus as the page opens, and in the title.
    assert "<title>Error: " in nothing
    described = 'aria-describedby="time_zone_search-hint time_zone_search-error"'
    assert f'{described} aria-invalid="true" autofocus' in nothing
    assert "time_zone_list=all" in nothing
    assert len(zone_options(everything)) > 400
    assert not any(name.startswith("Etc/") for name, _ in zone_options(everything))  # Etc/GMT+5 is GMT-5


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"time_zone": "Asia/Kolkata"},
        {"time_zone": "Nowhere/Else"},
        {"time_zone": "Asia/Kolkata", "time_zone_search": "new"},
        {"time_zone_list": "all"},
    ],
)
def test_the_zone_list_drawn_once_per_list_is_the_select_wtforms_draws(app, query):
    with app.test_request_context("/book/time", query_string=query):
        form = ChoiceForm(request.args)
        form.time_zone.chosen(form, "Europe/London")

        for _ in range(2):  # drawn, then taken from the cache
            drawn = form.time_zone(**{"aria-describedby": "time_zone-hint"})
            assert drawn == Select()(form.time_zone, **{"aria-describedby": "time_zone-hint"})


def test_each_page_marks_its_own_zone_chosen_though_the_list_is_drawn_once(client, clinic):  # noqa: F811
    service, _ = clinic

    pages = [
        times_page(client, service, time_zone=name) for name in ("Europe/Paris", "Asia/Tokyo", "Europe/Paris")
    ]

    assert [re.findall(r'<option selected value="([^"]+)"', page) for page in pages] == [
        ["Europe/Paris"],
        ["Asia/Tokyo"],
        ["Europe/Paris"],
    ]


def test_a_zone_found_by_search_is_chosen_and_stored_by_its_iana_name(client, session, clinic):  # noqa: F811
    service, _ = clinic
    form = booking_form(service, next_week_at(11), time_zone="Asia/Kolkata")

    client.post("/book/confirm", data=form)

    assert session.scalar(select(Consultation)).patient_time_zone == "Asia/Kolkata"


@pytest.mark.parametrize(
    ("language", "twelve_hour"),
    [
        ("en-US,en;q=0.9", True),
        ("en-GB,en;q=0.9", False),
        ("de-DE", False),
        ("fr", False),
        ("en", False),
        ("hi", True),
        ("en-AU", True),
        ("", False),
        ("zh-Hant-TW", False),
    ],
)
def test_the_readers_language_chooses_a_12_or_24_hour_clock(language, twelve_hour):
    assert uses_12_hour_clock(language.split(",")[0]) is twelve_hour


@pytest.mark.parametrize(
    ("hour", "minute", "twelve", "twenty_four"),
    [
        (0, 30, "12:30 am", "00:30"),
        (9, 0, "9:00 am", "09:00"),
        (12, 0, "12:00 pm", "12:00"),
        (14, 30, "2:30 pm", "14:30"),
    ],
)
def test_a_time_reads_on_either_clock(hour, minute, twelve, twenty_four):
    local = datetime(2026, 3, 9, hour, minute)

    assert (clock_time(local, True), clock_time(local, False)) == (twelve, twenty_four)


def test_times_on_the_pages_follow_the_readers_clock(client, clinic):  # noqa: F811
    service, _ = clinic
    start = next_week_at(14, 30)  # London
    query = {"service": service.id, "clinician": "any", "time_zone": "Europe/London", "day": start.date()}

    american = client.get("/book/time", query_string=query, headers={"Accept-Language": "en-US,en;q=0.9"})
    british = client.get("/book/time", query_string=query, headers={"Accept-Language": "en-GB"})
    details = client.get(
        "/book/details",
        query_string={**query, "start": form_value(start)},
        headers={"Accept-Language": "en-US"},
    )

    assert time_label(start, LONDON, "2:30 pm") in text(american)
    assert time_label(start, LONDON, "14:30") in text(british)
    assert f"{start.day} {start:%B %Y}, 2:30 pm ({zone_label(ZoneInfo('Europe/London'), start)})" in text(
        details
    )
