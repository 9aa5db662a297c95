"""The waitlist's pages: joining from the time page when no time suits, leaving from the entry's link, and
an offer's link that shows the time in the patient's zone and books it with one button."""

import re
from datetime import date, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from clinic.audit import Actor
from clinic.models import (
    OfferStatus,
    OutboxKind,
    OutboxMessage,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
    utcnow,
)
from clinic.models.transactions import write_transaction
from clinic.scheduling.lifecycle import cancel
from clinic.scheduling.offer_hold import OfferDay
from clinic.scheduling.offers import FreedTime, OfferRules, offer_freed_time
from clinic.scheduling.tokens import offer_link, waitlist_link
from clinic.scheduling.waitlist import close_unoffered_entries
from config import Config

from . import factories
from .conftest import TEST_KEYS
from .test_booking_pages import NEW_YORK, clinic, next_week_at, text
from .test_manage_link import follow
from .test_never_5xx import EXAMPLES_PAGES, hostile, never_5xx, odd_text, send

__all__ = ["clinic"]


def waitlist_form(service, **overrides) -> dict:
    """What the waitlist form posts: next week, any clinician, New York time."""
    first = next_week_at(12).astimezone(NEW_YORK).date()
    return {
        "service": str(service.id),
        "clinician": "any",
        "time_zone": "America/New_York",
        "first_day": first.isoformat(),
        "last_day": (first + timedelta(days=4)).isoformat(),
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "phone": "+44 7700 900123",
        "birth_date-day": "10",
        "birth_date-month": "12",
        "birth_date-year": "1985",
        "consent": "y",
        **overrides,
    }


def entries(session) -> list[WaitlistEntry]:
    session.expire_all()
    return list(session.scalars(select(WaitlistEntry)))


def offered(session, client, service, start, **form) -> WaitlistOffer:
    """Join through the page, then have `start` freed and offered (as the worker would, now)."""
    client.post("/book/waitlist", data=waitlist_form(service, **form))
    freed_by = factories.booking(session, service, start, now=utcnow()).consultation
    cancel(session, freed_by.id, now=utcnow(), actor=Actor())
    rules = OfferRules(
        per_time=3, lifetime=timedelta(hours=2), day=OfferDay(ZoneInfo("Europe/London"), 0, 24)
    )
    with write_transaction(session):
        made = offer_freed_time(
            session, FreedTime(service.id, freed_by.clinician_id, start), freed_by, now=utcnow(), rules=rules
        )
    return made[-1]


@pytest.mark.parametrize("time_zone", ["Mars/Olympus", ""])
def test_joining_in_a_zone_not_on_the_list_is_refused_beside_it_and_nobody_joins(
    client, session, clinic, time_zone
):
    service, _ = clinic

    refused = client.post("/book/waitlist", data=waitlist_form(service, time_zone=time_zone))

    assert refused.status_code == 422
    assert re.search(r'id="time_zone-error">.*We could not tell your time zone', text(refused), re.DOTALL)
    assert re.search(r'id="time_zone"\s+aria-describedby="time_zone-hint time_zone-error">', text(refused))
    assert entries(session) == []


def test_the_time_page_offers_the_waitlist_when_no_time_suits(client, clinic):
    service, _ = clinic
    page = text(client.get(f"/book/time?service={service.id}&clinician=any&time_zone=America/New_York"))

    assert "None of these times suit me – join the waitlist" in page
    form = text(client.get(f"/book/waitlist?service={service.id}&clinician=any&time_zone=America/New_York"))
    assert 'action="/book/waitlist"' in form and "Heart follow-up" in form
    assert '<label for="first_day">From</label>' in form and 'type="date"' in form


def test_the_day_fields_hints_name_no_format_or_day_the_browsers_picker_contradicts(client, clinic):
    service, _ = clinic

    form = text(client.get(f"/book/waitlist?service={service.id}&clinician=any&time_zone=America/New_York"))

    # The days' own hint (their zone, how far ahead) is read with their group, as each day's with its box.
    assert re.search(r'<fieldset class="field" id="time_zone"\s+aria-describedby="time_zone-hint">', form)
    assert '<p class="hint" id="time_zone-hint">Days in your time zone (New York' in form
    hints = " ".join(re.findall(r'<p class="hint" id="(?:first|last)_day-hint">(.*?)</p>', form))
    assert hints and not re.search(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{1,2}/[0-9]{1,2}", hints)
    # A browser with no date picker shows a text box: the placeholder (which pickers never show) says how.
    assert re.search(r'<input[^>]*id="first_day"[^>]*placeholder="yyyy-mm-dd"', form)
    assert re.search(r'<input[^>]*id="first_day"[^>]*type="date"', form)


def test_a_day_typed_wrongly_is_explained_with_a_future_example_in_the_form_a_text_box_takes(
    client, session, clinic
):
    service, _ = clinic

    page = client.post("/book/waitlist", data=waitlist_form(service, first_day="14/3/2027"))

    body = text(page)
    example = re.search(
        r'id="first_day-error">.*Enter a real date as year-month-day, for example ([0-9-]+)\.', body
    )
    assert page.status_code == 422 and example, body[body.find("first_day-error") :][:300]
    assert date.fromisoformat(example.group(1)) > utcnow().date()
    assert entries(session) == []


def test_joining_records_the_days_in_the_patients_zone_and_shows_the_link_to_leave(client, session, clinic):
    service, clinician = clinic
    form = waitlist_form(service, clinician=str(clinician.id))

    joined = client.post("/book/waitlist", data=form)

    (entry,) = entries(session)
    assert joined.status_code == 303 and joined.location == f"/book/waitlist/joined/{entry.reference}"
    assert (entry.clinician_id, entry.status, entry.consent_notice_version) == (
        clinician.id,
        WaitlistStatus.WAITING,
        Config.PRIVACY_NOTICE_VERSION,
    )
    first = entry.window_starts_at.astimezone(NEW_YORK)
    assert (first.date().isoformat(), first.hour) == (form["first_day"], 0)  # midnight in New York
    assert entry.window_ends_at - entry.window_starts_at >= timedelta(days=5) - timedelta(hours=1)
    page = text(client.get(joined.location))
    assert "You are on the waitlist" in page
    assert waitlist_link(entry, base_url="http://127.0.0.1:5000", keys=TEST_KEYS) in page
    assert "We have e-mailed it to you" in page


def test_the_date_pickers_offer_only_the_days_the_waitlist_takes(client, clinic):
    """From today in the patient's zone to the service's last bookable day: the picker greyed out none of
    the days it would then refuse."""
    service, _ = clinic
    today = utcnow().astimezone(NEW_YORK).date()
    last = today + timedelta(days=service.horizon_days)

    page = text(client.get(f"/book/waitlist?service={service.id}&clinician=any&time_zone=America/New_York"))

    for day in ("first_day", "last_day"):
        picker = re.search(f'<input[^>]* id="{day}"[^>]*>', page)[0]
        assert f'min="{today.isoformat()}"' in picker and f'max="{last.isoformat()}"' in picker


def test_each_mistake_is_explained_beside_its_field_and_nobody_joins(client, session, clinic):
    service, _ = clinic
    yesterday = (utcnow().astimezone(NEW_YORK) - timedelta(days=1)).date().isoformat()  # in the form's zone
    form = waitlist_form(service, first_day=yesterday, last_day="2026-02-30", name="", consent="")
    del form["consent"]

    page = client.post("/book/waitlist", data=form)

    body = text(page)
    assert page.status_code == 422
    for field, message in [
        ("last_day", "Enter a real date"),
        ("name", "Enter your full name."),
        ("consent", "Tick the box to agree"),
    ]:
        assert re.search(f'id="{field}-error">.*{re.escape(message)}', body), field
    assert 'aria-describedby="last_day-hint last_day-error"' in body
    summary = body[body.index("There is a problem") : body.index("</ul>")]
    assert summary.index('href="#last_day"') < summary.index('href="#name"')  # in the page's order
    assert entries(session) == []

    past = client.post("/book/waitlist", data=waitlist_form(service, first_day=yesterday))
    assert past.status_code == 422 and "The first day must be today or later." in text(past)
    assert entries(session) == []


def test_a_phone_number_without_enough_digits_is_explained_beside_it_and_nobody_joins(
    client, session, clinic
):
    service, _ = clinic

    page = client.post("/book/waitlist", data=waitlist_form(service, phone="-----"))

    message = "Enter the whole phone number, with its area code: at least 7 digits."
    assert page.status_code == 422
    assert re.search(f'id="phone-error">.*{re.escape(message)}', text(page))
    assert entries(session) == []


def test_a_clinician_who_does_not_offer_the_service_is_asked_for_again_beside_the_field(
    client, session, clinic
):
    """A bookmarked or shared link naming a clinician who no longer offers the service (or another
    service's): the form, with the clinician asked for again, never a 500 (GET) or a 404 (POST)."""
    service, _ = clinic
    elsewhere = factories.clinician(session, [factories.service(session, name="Skin check")])
    session.commit()

    shown = client.get(f"/book/waitlist?service={service.id}&clinician={elsewhere.id}")  # 500 before
    posted = client.post("/book/waitlist", data=waitlist_form(service, clinician=str(elsewhere.id)))  # 404

    for page in (shown, posted):
        assert page.status_code == 422
        assert re.search('id="clinician-error">.*Choose a clinician from the list.', text(page))
        assert text(page).count("Choose a clinician from the list.") == 2  # the summary and the field
    assert entries(session) == []


def test_the_leave_link_takes_the_patient_off_the_list(client, session, clinic):
    service, _ = clinic
    client.post("/book/waitlist", data=waitlist_form(service))
    (entry,) = entries(session)
    other_browser = client.application.test_client()

    page = follow(other_browser, waitlist_link(entry, base_url="http://localhost", keys=TEST_KEYS))
    assert page.status_code == 303 and page.location == f"/w/{entry.reference}"
    place = text(other_browser.get(page.location))
    assert f'href="/w/{entry.reference}/leave"' in place  # a link to a question, not a button that leaves
    asked = other_browser.get(f"/w/{entry.reference}/leave")
    assert asked.status_code == 200 and "Leave the waitlist?" in text(asked)
    assert f'href="/w/{entry.reference}"' in text(asked)  # "No, stay on the waitlist"
    assert entries(session)[0].status is WaitlistStatus.WAITING

    left = other_browser.post(f"/w/{entry.reference}/leave")

    assert left.status_code == 303 and left.location == f"/w/{entry.reference}"  # Reload re-posts nothing
    assert "You have left the waitlist" in text(other_browser.get(left.location))
    assert entries(session)[0].status is WaitlistStatus.LEFT
    again = other_browser.get(f"/w/{entry.reference}/leave")  # the question once more, after leaving
    assert again.status_code == 303 and again.location == f"/w/{entry.reference}"


def test_a_wrong_token_opens_no_place_on_the_waitlist_and_no_offer(client, session, clinic):
    service, _ = clinic
    offer = offered(session, client, service, next_week_at(10))
    entry = offer.entry
    stranger = client.application.test_client()

    responses = [
        stranger.post(f"/w/{entry.reference}", data={"code": "not-the-token"}),
        stranger.post(f"/w/{entry.reference}", data={"code": offer_link(offer, base_url="", keys=TEST_KEYS)}),
        stranger.post(f"/o/{offer.reference}", data={"code": "not-the-token"}),
    ]
    # Led to the place's or the offer's page, which asks for its link, showing nothing of it.
    led = {
        f"/w/{entry.reference}": [
            stranger.get(f"/w/{entry.reference}/leave"),
            stranger.post(f"/w/{entry.reference}/leave"),
        ],
        f"/o/{offer.reference}": [stranger.post(f"/o/{offer.reference}/book")],
    }

    assert [r.status_code for r in responses] == [404] * 3
    for page, answers in led.items():
        assert [(r.status_code, r.location) for r in answers] == [(303, page)] * len(answers)
        asking = text(stranger.get(page))
        assert "Open your" in asking and entry.name not in asking
    assert entries(session)[0].status is WaitlistStatus.WAITING


def test_an_offer_shows_the_time_in_the_patients_zone_and_books_it_with_one_button(client, session, clinic):
    service, clinician = clinic
    start = next_week_at(10)  # 10:00 London
    offer = offered(session, client, service, start)
    patient = client.application.test_client()

    landing = follow(patient, offer_link(offer, base_url="http://localhost", keys=TEST_KEYS))
    page = text(patient.get(landing.location))
    local = start.astimezone(NEW_YORK)
    assert f"{local:%H:%M}" in page and "New York" in page
    assert "Book this time" in page and clinician.display_name in page

    booked = patient.post(f"/o/{offer.reference}/book")

    assert booked.status_code == 303 and booked.location.startswith("/book/confirmed/")
    assert "Your consultation is booked" in text(patient.get(booked.location))
    session.expire_all()
    assert session.get(WaitlistOffer, offer.id).status is OfferStatus.TAKEN


def test_a_gone_offer_says_so_and_leads_to_other_times(client, session, clinic):
    service, _ = clinic
    start = next_week_at(11)
    offer = offered(session, client, service, start)
    factories.booking(session, service, start, now=utcnow())  # someone else booked it meanwhile
    patient = client.application.test_client()
    landing = follow(patient, offer_link(offer, base_url="http://localhost", keys=TEST_KEYS))
    # Shown gone before the click, though housekeeping has not yet ended the offer.
    shown = text(patient.get(landing.location))

    gone = patient.post(f"/o/{offer.reference}/book")

    assert "Sorry, that time has gone" in shown and "Book this time" not in shown
    body = text(gone)
    assert gone.status_code == 409
    assert "Sorry, that time has gone" in body and "Choose another time" in body
    assert "Book this time" not in body
    assert session.scalar(select(func.count()).select_from(WaitlistOffer).filter_by(status="gone")) == 1


def test_the_waitlist_pages_never_answer_5xx(client, session, clinic):
    service, _ = clinic
    offer = offered(session, client, service, next_week_at(14))
    follow(client, offer_link(offer, base_url="http://localhost", keys=TEST_KEYS))
    pages = [
        ("get", "/book/waitlist"),
        ("post", "/book/waitlist"),
        ("post", f"/o/{offer.reference}/book"),
        ("post", f"/w/{offer.entry.reference}"),
    ]

    @EXAMPLES_PAGES
    @given(page=st.sampled_from(pages), fields=hostile(waitlist_form(service)), ref=odd_text)
    def run(page, fields, ref):
        never_5xx(send(client, page, fields))
        never_5xx(client.get(f"/w/{quote(ref, safe='', errors='surrogatepass')}"))
        never_5xx(client.get(f"/o/{quote(ref, safe='', errors='surrogatepass')}"))

    run()


def test_the_join_form_sent_twice_joins_once_and_is_confirmed_once(client, session, clinic):
    """A retried post (a double click, or Reload on a slow answer) put the patient on the list twice."""
    service, _ = clinic
    page = client.get(f"/book/waitlist?service={service.id}").get_data(as_text=True)
    key = re.search(r'<input[^>]*name="join_key"[^>]*value="([^"]+)"', page)
    form = waitlist_form(service, join_key=key.group(1) if key else "")

    first = client.post("/book/waitlist", data=form)
    again = client.post("/book/waitlist", data=form)

    (entry,) = entries(session)
    assert first.status_code == again.status_code == 303 and again.location == first.location
    kinds = session.scalars(select(OutboxMessage.kind).where(OutboxMessage.waitlist_entry_id == entry.id))
    assert list(kinds) == [OutboxKind.WAITLIST_JOINED_MAIL]


def test_the_join_forms_key_with_other_details_joins_nobody_else(client, session, clinic):
    service, _ = clinic
    page = client.get(f"/book/waitlist?service={service.id}").get_data(as_text=True)
    key = re.search(r'<input[^>]*name="join_key"[^>]*value="([^"]+)"', page).group(1)
    client.post("/book/waitlist", data=waitlist_form(service, join_key=key))

    refused = client.post("/book/waitlist", data=waitlist_form(service, join_key=key, name="Grace Hopper"))

    assert refused.status_code == 422 and "already been used" in text(refused)
    assert [e.name for e in entries(session)] == ["Ada Lovelace"]


def test_a_place_closed_with_its_service_says_why_and_leads_to_pages_that_open(client, session, clinic):
    service, _ = clinic
    offer = offered(session, client, service, next_week_at(10))
    entry = offer.entry
    service.active = False  # as the admin pages do
    session.commit()
    close_unoffered_entries(session, now=utcnow())
    patient = client.application.test_client()

    follow(patient, waitlist_link(entry, base_url="http://localhost", keys=TEST_KEYS))
    place = patient.get(f"/w/{entry.reference}")
    follow(patient, offer_link(offer, base_url="http://localhost", keys=TEST_KEYS))
    gone = patient.get(f"/o/{offer.reference}")

    assert "no longer offered" in text(place) and "Leave the waitlist" not in text(place)
    assert "Book this time" not in text(gone)
    for page in (place, gone):
        links = re.findall(r'href="(/book[^"]*)"', page.get_data(as_text=True))
        assert links and all(client.get(link.replace("&amp;", "&")).status_code == 200 for link in links)


PHRASES = ("few people", "first person", "first to book")


def test_with_one_patient_offered_each_time_the_pages_say_nobody_races_for_it(client, session, clinic):
    """CLINIC_WAITLIST_OFFERS_PER_TIME=1: the joined page and the offer's page said the time went to "a few
    people at once", the first to book it."""
    service, _ = clinic
    client.application.config["WAITLIST_OFFERS_PER_TIME"] = 1
    form = text(client.get(f"/book/waitlist?service={service.id}&clinician=any"))
    offer = offered(session, client, service, next_week_at(10))
    joined = text(client.get(f"/book/waitlist/joined/{offer.entry.reference}"))
    patient = client.application.test_client()
    landing = follow(patient, offer_link(offer, base_url="http://localhost", keys=TEST_KEYS))
    page = text(patient.get(landing.location))

    for shown in (form, joined, page):
        assert [phrase for phrase in PHRASES if phrase in shown] == []
    assert "offered this time to you alone" in page
