"""The patient's booking pages, driven as a browser without JavaScript would: plain GET and POST forms."""

import logging
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select

from clinic.booking.calendar import form_value
from clinic.extensions import db
from clinic.models import AuditEvent, Consultation, utcnow
from clinic.scheduling.patients import language_tag
from clinic.scheduling.timezones import format_local

from . import factories
from .browser_forms import form_values
from .conftest import build_app, statements_run

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def next_week_at(hour: int, minute: int = 0, tz: ZoneInfo = LONDON) -> datetime:
    """A weekday at least a week ahead of the real clock (the pages use it), as a UTC instant."""
    today = utcnow().date()
    monday = today + timedelta(days=14 - today.weekday())
    return datetime.combine(monday, time(hour, minute), tzinfo=tz).astimezone(UTC)


def consultations(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Consultation.id)))


@pytest.fixture
def clinic(session):
    """A service with one clinician working 09:00-12:30 and 13:30-17:00 London time on weekdays."""
    service = factories.service(session, name="Heart follow-up")
    clinician = factories.clinician(session, [service], display_name="Dr Amara Okafor")
    session.commit()
    return service, clinician


def booking_form(
    service, start: datetime, *, clinician="any", time_zone="America/New_York", **overrides
) -> dict:
    """Everything the review page posts to /book/confirm."""
    return {
        "service": str(service.id),
        "clinician": str(clinician),
        "time_zone": time_zone,
        "start": form_value(start),
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "phone": "+44 7700 900123",
        "birth_date-day": "10",
        "birth_date-month": "12",
        "birth_date-year": "1980",
        "reason": "",
        "consent": "y",
        "idempotency_key": "key-" + "a" * 20,
        **overrides,
    }


def text(response) -> str:
    return response.get_data(as_text=True)


def time_label(start: datetime, tz: ZoneInfo, clock: str) -> str:
    """The label of the radio for `start` on a page of times in `tz`, which reads it as `clock` (14:30): its
    day leads the name, for screen readers only."""
    local = start.astimezone(tz)
    day = f'<span class="visually-hidden">{local:%A} {local.day} {local:%B}, </span>'
    return f'<label for="start-{form_value(start)}">{day}{clock}</label>'


def test_the_hospitals_address_alone_opens_the_booking_pages(client):
    response = client.get("/")

    assert response.status_code == 302 and response.location == "/book"


def test_a_patient_books_step_by_step_and_sees_times_in_their_own_zone(client, session, clinic):
    service, clinician = clinic
    start = next_week_at(10, 30)
    local = start.astimezone(NEW_YORK)

    services = text(client.get("/book"))
    assert "Heart follow-up" in services and 'action="/book/clinician"' in services

    who = client.get("/book/clinician", query_string={"service": service.id, "time_zone": "America/New_York"})
    assert "First available" in text(who) and "Dr Amara Okafor" in text(who)

    times = client.get(
        "/book/time",
        query_string={
            "service": service.id,
            "clinician": "any",
            "time_zone": "America/New_York",
            "day": local.date().isoformat(),
        },
    )
    value = form_value(start)
    assert time_label(start, NEW_YORK, f"{local:%H:%M}") in text(times)
    assert f"<legend><h2>{local:%A} {local.day} {local:%B}</h2></legend>" in text(times)

    details_query = {
        "service": service.id,
        "clinician": "any",
        "time_zone": "America/New_York",
        "start": value,
    }
    details = client.get("/book/details", query_string=details_query)
    assert details.status_code == 200 and format_local(start, NEW_YORK) in text(details)

    form = booking_form(service, start)
    del form["idempotency_key"]
    review = client.post("/book/details", data=form)
    assert review.status_code == 200 and "Check and confirm your booking" in text(review)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', text(review)).group(1)

    confirmed = client.post("/book/confirm", data={**form, "idempotency_key": key})
    assert confirmed.status_code == 303
    booked = session.scalar(select(Consultation))
    assert booked.starts_at == start and booked.clinician_id == clinician.id
    assert booked.patient_time_zone == "America/New_York"
    assert confirmed.location.endswith(f"/book/confirmed/{booked.reference}")

    page = text(client.get(confirmed.location))
    assert booked.reference in page
    assert format_local(start, NEW_YORK) in page  # e.g. "Monday 7 December 2026, 05:30 (New York, GMT-5)"
    assert "Dr Amara Okafor" in page and "What happens next" in page
    assert f"/c/{booked.reference}#t=" in page


@pytest.mark.parametrize(
    ("accept_language", "kept"),
    [("en-US,en;q=0.8", "en-US"), ("en-GB", "en-GB"), (None, "en"), ("x" * 40, "en"), ("*", "en")],
)
def test_a_booking_keeps_the_patients_language_for_the_clock_of_their_mails(
    client, session, clinic, accept_language, kept
):
    service, _ = clinic
    headers = {"Accept-Language": accept_language} if accept_language else {}

    client.post("/book/confirm", data=booking_form(service, next_week_at(11)), headers=headers)

    assert session.scalar(select(Consultation)).patient.language == kept


@given(st.text(max_size=40) | st.from_regex(r"\A[a-z]{2}(-[A-Z]{2})?\n?\Z"))
@example("en-US\n")  # a tag and a line break: `$` matches before it
def test_whatever_the_browser_sends_the_language_kept_is_a_tag_that_fits_or_english(sent):
    kept = language_tag(sent)

    assert kept in (sent, "en") and len(kept) <= 16
    assert re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*", kept)


def test_a_booking_records_the_privacy_notice_version_the_patient_agreed_to_and_when(
    app, client, session, clinic
):
    service, _ = clinic
    app.config["PRIVACY_NOTICE_VERSION"] = "2027-01-v2"
    before = utcnow()

    client.post("/book/confirm", data=booking_form(service, next_week_at(11)))

    booked = session.scalar(select(Consultation))
    assert booked.consent_notice_version == "2027-01-v2" and booked.consent_method == "online"
    assert before <= booked.consent_given_at <= utcnow()
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "consultation.booked"))
    assert event.details["privacy_notice"] == "2027-01-v2" and event.details["consent"] == "online"
    assert "Version 2027-01-v2" in text(client.get("/privacy"))


def test_refreshing_the_confirmation_shows_it_again_and_books_nothing_more(client, session, clinic):
    service, _ = clinic
    done = client.post("/book/confirm", data=booking_form(service, next_week_at(11)))

    assert client.get(done.location).status_code == 200
    assert client.get(done.location).status_code == 200
    assert consultations(session) == 1


@pytest.mark.parametrize("how", ["reloading the confirmation", "sending the reviewed form again"])
def test_the_confirmation_of_a_booking_cancelled_since_says_it_is_cancelled_not_booked(
    client, session, clinic, how
):
    """A patient books, cancels from their link, then goes Back: reloading the confirmation, or pressing
    "Confirm" again on the review page (its idempotency key finds the cancelled booking), said "Your
    consultation is booked", though they hold no booking and no mail comes."""
    service, _ = clinic
    form = booking_form(service, next_week_at(11))
    done = client.post("/book/confirm", data=form)
    booked = session.scalars(select(Consultation)).one()
    client.post(f"/c/{booked.reference}/cancel", data={"reason": ""})

    if how == "reloading the confirmation":
        again = client.get(done.location, follow_redirects=True)
    else:
        again = client.post("/book/confirm", data=form, follow_redirects=True)
    page = text(again)

    assert "Your consultation is booked" not in page
    assert "This consultation is cancelled" in page and "Book another consultation" in page
    assert consultations(session) == 1


def test_back_from_the_confirmation_to_a_time_now_fully_taken_shows_the_patients_own_booking(
    client, app, session, clinic
):
    """Back from the confirmation asks for the booked time's details again. With its last clinician taken by
    this very booking, the page said "That time is no longer available", as if the booking had failed."""
    service, _ = clinic
    start = next_week_at(11)
    client.post("/book/confirm", data=booking_form(service, start))
    booked = session.scalars(select(Consultation)).one()
    details = (
        f"/book/details?service={service.id}&clinician=any&time_zone=Europe/London&start={form_value(start)}"
    )

    back = client.get(details)
    elsewhere = app.test_client().get(details)

    assert back.status_code == 200 and "You have booked this time" in text(back)
    assert booked.reference in text(back) and f'href="/c/{booked.reference}"' in text(back)
    assert "<h1>Your details</h1>" in text(back) and f'value="{form_value(start)}"' in text(back)
    assert elsewhere.status_code == 422 and "That time is no longer available" in text(elsewhere)
    assert booked.reference not in text(elsewhere)


def test_without_javascript_the_review_sent_again_after_booking_shows_the_patients_own_booking(
    client, app, session, clinic
):
    """Without the script that gives the review page its step's address, Back from the confirmation sends the
    details form again: its review asked to confirm the time just booked, then said "You already have a
    booking at that time" and offered only to mail the link that this browser holds."""
    service, _ = clinic
    start = next_week_at(11)
    client.post("/book/confirm", data=booking_form(service, start))
    booked = session.scalars(select(Consultation)).one()
    details = {
        name: value for name, value in booking_form(service, start).items() if name != "idempotency_key"
    }

    review = client.post("/book/details", data=details)
    confirmed = client.post("/book/confirm", data=form_values(text(review), "/book/confirm"))
    elsewhere = app.test_client().post("/book/confirm", data=booking_form(service, start, idempotency_key=""))

    for page in (text(review), text(confirmed)):
        assert "You have booked this time" in page
        assert booked.reference in page and f'href="/c/{booked.reference}"' in page
    assert "E-mail me the link again" not in text(confirmed)
    assert elsewhere.status_code == 409 and "E-mail me the link again" in text(elsewhere)
    assert booked.reference not in text(elsewhere)
    assert consultations(session) == 1


def test_a_time_booked_by_this_browser_and_then_cancelled_is_offered_as_free_again(client, session, clinic):
    service, _ = clinic
    start = next_week_at(11)
    client.post("/book/confirm", data=booking_form(service, start))
    booked = session.scalars(select(Consultation)).one()
    client.post(f"/c/{booked.reference}/cancel", data={"confirm": "y"})
    details = (
        f"/book/details?service={service.id}&clinician=any&time_zone=Europe/London&start={form_value(start)}"
    )

    again = client.get(details)

    assert again.status_code == 200 and "You have booked this time" not in text(again)


def test_the_confirmation_page_needs_the_browser_that_booked(client, app, session, clinic):
    service, _ = clinic
    done = client.post("/book/confirm", data=booking_form(service, next_week_at(11)))
    reference = done.location.rsplit("/", 1)[1]

    elsewhere = app.test_client().get(done.location)

    assert (elsewhere.status_code, elsewhere.location) == (303, f"/c/{reference}")  # asked for its link


def test_a_double_submitted_confirmation_books_once_and_shows_the_same_booking(client, session, clinic):
    service, _ = clinic
    form = booking_form(service, next_week_at(11))

    first = client.post("/book/confirm", data=form)
    second = client.post("/book/confirm", data=form)

    assert first.status_code == second.status_code == 303
    assert first.location == second.location
    assert consultations(session) == 1


def test_each_review_page_carries_a_fresh_idempotency_key(client, clinic):
    service, _ = clinic
    form = booking_form(service, next_week_at(11))
    del form["idempotency_key"]

    keys = {
        re.search(
            r'name="idempotency_key" value="([^"]+)"', text(client.post("/book/details", data=form))
        ).group(1)
        for _ in range(2)
    }

    assert len(keys) == 2


@pytest.mark.parametrize(
    ("field", "change", "message"),
    [
        ("email", {"email": "ada-at-example"}, "Enter an e-mail address like name@example.org."),
        ("birth_date", {"birth_date-year": "2999"}, "Date of birth must be in the past."),
        (
            "birth_date",
            {"birth_date-day": "31", "birth_date-month": "2"},
            "Date of birth must be a real date.",
        ),
        ("name", {"name": "A" * 10_000}, "Keep this under 200 characters."),
        ("name", {"name": ""}, "Enter your full name."),
        ("phone", {"phone": "call me"}, "Enter a phone number using digits"),
        ("phone", {"phone": "-----"}, "Enter the whole phone number, with its area code: at least 7 digits."),
        ("reason", {"reason": "x" * 3000}, "Keep the reason under 2000 characters."),
        ("consent", {"consent": None}, "Tick the box to agree, or we cannot book the consultation."),
        ("time_zone", {"time_zone": "Mars/Olympus_Mons"}, "Choose a time zone from the list."),
        ("service", {"service": "999999"}, "No such service is offered."),
        ("service", {"service": "1 OR 1=1"}, "Choose a service from the list."),
        ("service", {"service": "99999999999999999999"}, "Choose a service from the list."),
        ("service", {"service": "9" * 5000}, "Choose a service from the list."),
        ("clinician", {"clinician": "999999"}, "That clinician does not offer this service."),
        ("clinician", {"clinician": "abc"}, "Choose a clinician from the list."),
        ("start", {"start": "next tuesday"}, "Choose a time from the list."),
        ("start", {"start": "9999-12-31T23:59:59Z"}, "Choose a time from the list."),
        ("start", {"start": "2020-01-06T10:00Z"}, "That time is not available for booking."),
    ],
)
def test_bad_input_is_explained_beside_its_field_and_books_nothing(
    client, session, clinic, field, change, message
):
    service, _ = clinic
    form = {
        name: value
        for name, value in {**booking_form(service, next_week_at(11)), **change}.items()
        if value is not None
    }

    response = client.post("/book/confirm", data=form)

    assert response.status_code == 422
    page = text(response)
    assert message in page
    assert f'id="{field}-error"' in page
    assert re.search(rf'aria-describedby="[^"]*\b{field}-error\b[^"]*"', page)
    assert 'aria-invalid="true"' in page
    assert consultations(session) == 0


def test_a_time_outside_working_hours_is_refused_with_other_times_offered(client, session, clinic):
    service, _ = clinic
    at_night = next_week_at(3)

    response = client.post("/book/confirm", data=booking_form(service, at_night))

    assert response.status_code == 422
    assert "That time is not available for booking." in text(response)
    assert 'name="start" value="' in text(response)  # the next free times, as choices
    assert consultations(session) == 0


def test_the_details_step_refuses_a_time_in_the_past_before_asking_for_details(client, clinic):
    service, _ = clinic
    query = {
        "service": service.id,
        "clinician": "any",
        "time_zone": "Europe/London",
        "start": "2020-01-06T10:00Z",
    }

    response = client.get("/book/details", query_string=query)

    assert response.status_code == 422
    assert "That time is no longer available. Please choose another." in text(response)
    assert "Choose a day and time" in text(response)


def test_the_details_step_explains_a_bad_email_beside_the_field(client, clinic):
    service, _ = clinic
    form = booking_form(service, next_week_at(11), email="nope")

    response = client.post("/book/details", data=form)

    assert response.status_code == 422
    assert re.search(
        r'<input[^>]*aria-describedby="email-hint email-error"[^>]*aria-invalid="true"', text(response)
    )
    assert 'value="nope"' in text(response)  # what was typed is kept


def test_a_step_asked_for_with_a_wrong_earlier_choice_shows_that_choice_again(client, clinic):
    response = client.get("/book/time", query_string={"service": "abc", "clinician": "any"})

    assert response.status_code == 422
    assert "Which service do you need?" in text(response)
    assert "Choose a service from the list." in text(response)


def test_an_unknown_zone_on_the_times_page_is_explained_and_times_shown_in_the_default_zone(client, clinic):
    service, _ = clinic
    query = {"service": service.id, "clinician": "any", "time_zone": "Nowhere/Special"}

    response = client.get("/book/time", query_string=query)

    assert response.status_code == 422
    assert "Choose a time zone from the list." in text(response)
    assert '<option selected value="Europe/London">' in text(response)


def test_losing_the_race_for_a_time_offers_the_next_free_times(client, session, clinic):
    service, clinician = clinic
    start = next_week_at(11)
    factories.booking(session, service, start, now=utcnow(), clinician_id=clinician.id)

    response = client.post("/book/confirm", data=booking_form(service, start, clinician=clinician.id))

    assert response.status_code == 409
    assert "That time was just taken" in text(response)
    assert f'value="{form_value(start + timedelta(minutes=30))}"' in text(response)
    assert consultations(session) == 1


@pytest.mark.parametrize("button", ["Confirm booking", "Change details"])
def test_sending_the_other_times_without_choosing_one_asks_beside_them_and_keeps_the_details(
    client, session, clinic, button
):
    """A patient who lost the race and pressed a button before choosing one of the times offered was taken
    back to step 3, "Choose a time." over a week of times, with their name, e-mail, phone, date of birth and
    reason gone: the page of other times carried no time for the steps to go on from."""
    service, clinician = clinic
    start = next_week_at(11)
    factories.booking(session, service, start, now=utcnow(), clinician_id=clinician.id)
    lost = client.post("/book/confirm", data=booking_form(service, start, reason="Chest pains"))
    sent = form_values(text(lost), "/book/confirm")
    action, pressed = {
        "Confirm booking": ("/book/confirm", {}),
        "Change details": ("/book/details", {"change": "details"}),
    }[button]

    again = client.post(action, data={**sent, **pressed})

    page = text(again)
    assert again.status_code == 422
    assert "Choose another time" in page and "Step 3 of 5" not in page
    assert 'id="start-error"><span class="visually-hidden">Error:</span> Choose a time.</p>' in page
    assert f'value="{form_value(start + timedelta(minutes=30))}"' in page  # the same times offered
    assert form_values(page, "/book/confirm") == sent
    assert consultations(session) == 1


def test_the_lost_time_sent_again_after_booking_another_leads_to_the_booking_made(
    client, app, session, clinic
):
    """Without script, Back from the confirmation of a time chosen among the others offered sends again the
    form that lost the race, with the key that has booked since: the patient was shown "Sorry, something
    went wrong: This idempotency key was already used for a different booking request."."""
    service, clinician = clinic
    start = next_week_at(11)
    factories.booking(session, service, start, now=utcnow(), clinician_id=clinician.id)
    lost_form = booking_form(service, start)
    lost = client.post("/book/confirm", data=lost_form)
    other = form_values(text(lost), "/book/confirm") | {"start": form_value(start + timedelta(minutes=30))}
    booked = client.post("/book/confirm", data=other)

    again = client.post("/book/confirm", data=lost_form)
    elsewhere = app.test_client().post("/book/confirm", data=lost_form)

    assert again.status_code == 303 and again.location == booked.location
    assert "Your consultation is booked" in text(client.get(again.location))
    assert elsewhere.status_code == 422 and booked.location.rsplit("/")[-1] not in text(elsewhere)
    assert 'id="start-error"><span class="visually-hidden">Error:</span> This form has booked' in text(
        elsewhere
    )
    assert form_values(text(elsewhere), "/book/confirm")["idempotency_key"] != lost_form["idempotency_key"]
    assert consultations(session) == 2


def test_first_available_shows_each_start_time_once(client, session, clinic):
    service, _ = clinic
    factories.clinician(session, [service])
    session.commit()
    start = next_week_at(9)
    query = {"service": service.id, "clinician": "any", "time_zone": "Europe/London", "day": start.date()}

    page = text(client.get("/book/time", query_string=query))

    assert page.count(f'value="{form_value(start)}"') == 1


@pytest.mark.parametrize("page", ["/book/clinician", "/book/time", "/book/details"])
def test_a_step_loads_no_weekly_hours_of_the_clinicians_it_names(client, clinic, page):
    """The slot search reads the hours inside its own statement: a step naming a clinician, or listing
    them, only asks which offer the service, one statement whether one is named or not."""
    service, clinician = clinic
    start = next_week_at(9)
    query = {
        "service": service.id,
        "time_zone": "Europe/London",
        "day": start.date(),
        "start": form_value(start),
    }
    run = {}
    for who in ("any", clinician.id):
        with statements_run(db.engine) as run[who]:
            assert client.get(page, query_string={**query, "clinician": who}).status_code == 200

    sent = run["any"] + run[clinician.id]
    assert not any(statement.lstrip().startswith("SELECT availability_rule") for statement in sent)
    assert len(run[clinician.id]) <= len(run["any"]) + 1


@pytest.mark.parametrize("page", ["/book/time", "/book/details"])
def test_first_availables_steps_run_every_statement_past_sqlalchemys_execution(client, clinic, page):
    """The service, its department and the free times are read on the driver's path (models.driver):
    each part of SQLAlchemy a page touches costs it most when its worker idled since the last request."""
    service, _ = clinic
    start = next_week_at(9)
    query = {"service": service.id, "clinician": "any", "time_zone": "Europe/London"}
    query |= {"day": start.date(), "start": form_value(start)}

    with statements_run(db.engine) as run:
        response = client.get(page, query_string=query)

    assert response.status_code == 200 and service.name in text(response)
    assert run == []


def test_days_are_shown_a_page_at_a_time(app, client, clinic):
    service, _ = clinic
    today = utcnow().astimezone(LONDON).date()
    shown = app.config["BOOKING_DAYS_SHOWN"]
    query = {"service": service.id, "clinician": "any", "time_zone": "Europe/London"}

    first = text(client.get("/book/time", query_string=query))
    later = text(client.get("/book/time", query_string={**query, "day": today + timedelta(days=shown)}))

    assert first.count('<fieldset class="day">') == shown
    assert 'rel="prev"' not in first
    assert f"day={today + timedelta(days=shown)}" in first
    assert f"day={today}" in later and 'rel="prev"' in later


def test_the_pages_are_plain_html_forms_that_need_no_script(client, clinic):
    service, _ = clinic
    start = next_week_at(11)
    query = {
        "service": service.id,
        "clinician": "any",
        "time_zone": "Europe/London",
        "start": form_value(start),
    }
    pages = [
        client.get("/book"),
        client.get("/book/clinician", query_string=query),
        client.get("/book/time", query_string=query),
        client.get("/book/details", query_string=query),
        client.get("/privacy"),
    ]

    for response in pages:
        html = text(response)
        assert response.status_code == 200
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/timezone.js" defer>']
        assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
        assert 'href="#content"' in html and '<main id="content"' in html


def test_the_consent_box_links_to_a_plain_privacy_notice(client, clinic):
    service, _ = clinic
    query = {"service": service.id, "clinician": "any", "time_zone": "Europe/London"}
    details = text(client.get("/book/details", query_string={**query, "start": form_value(next_week_at(11))}))

    assert 'href="/privacy"' in details and '<label for="consent">' in details
    assert "How we use your information" in text(client.get("/privacy"))


def test_the_reason_for_the_visit_stays_out_of_the_confirmation_and_the_logs(client, session, clinic, caplog):
    service, _ = clinic
    reason = "Recurring chest pain after the new tablets"
    caplog.set_level(logging.DEBUG)

    done = client.post("/book/confirm", data=booking_form(service, next_week_at(11), reason=reason))
    page = text(client.get(done.location))

    assert session.scalar(select(Consultation)).reason_text == reason  # as the patient typed it
    manage_link = re.search(r'class="manage-link"><a class="standalone-link" href="([^"]+)"', page).group(1)
    assert "chest" not in manage_link
    assert reason not in page
    assert all(reason not in record.getMessage() for record in caplog.records)


def test_with_csrf_on_a_post_without_its_token_is_refused_and_books_nothing(database_url, tmp_path):
    app = build_app(database_url, str(tmp_path / "instance"), WTF_CSRF_ENABLED=True)
    with app.app_context():
        service = factories.service(db.session)
        factories.clinician(db.session, [service])
        db.session.commit()
        client = app.test_client()
        form = booking_form(service, next_week_at(11))

        refused = client.post("/book/confirm", data=form)
        choices = {name: form[name] for name in ("service", "clinician", "time_zone", "start")}
        details_page = client.get("/book/details", query_string=choices)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text(details_page)).group(1)
        accepted = client.post("/book/details", data={**form, "csrf_token": token})

        assert refused.status_code == 400
        assert consultations(db.session) == 0
        assert accepted.status_code == 200 and "Check and confirm your booking" in text(accepted)
        db.session.remove()
        db.engine.dispose()


def test_an_address_the_relay_cannot_deliver_to_is_explained_beside_its_field(app, client, session, clinic):
    app.config["MAIL_SMTPUTF8"] = False
    service, _ = clinic
    form = booking_form(
        service,
        next_week_at(11),
        email="évè@example.org",
        companion_name="Grace Hopper",
        companion_email="grâce@example.net",
        companion_role="interpreter",
    )

    response = client.post("/book/confirm", data=form)

    assert response.status_code == 422
    page = text(response)
    for field in ("email", "companion_email"):
        error = re.search(rf'id="{field}-error"[^>]*>(.*?)</p>', page, re.S)
        assert error and "accented or non-Latin letters before the @" in error.group(1)
    assert consultations(session) == 0


def test_a_name_with_a_bidi_override_is_explained_beside_its_field(client, session, clinic):
    service, _ = clinic

    response = client.post(
        "/book/confirm", data=booking_form(service, next_week_at(11), name="Ada\u202eecalevoL")
    )

    assert response.status_code == 422
    assert 'id="name-error"' in text(response)
    assert "hidden formatting or control characters" in text(response)
    assert consultations(session) == 0
