"""The booking journey made easy: the date of birth in three boxes, a message per missing field,
times that cannot be changed online marked before booking, and a way on from every page of times."""

import re
from datetime import date

import pytest
from sqlalchemy import select

from clinic.models import Consultation
from clinic.scheduling.patients import DateParts, InvalidDetails, check_patient_details

from .test_booking_pages import booking_form, clinic, next_week_at, text  # noqa: F401 (clinic: a fixture)

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
