"""A patient's journeys in a real browser: booking in their own time zone (with and without JavaScript),
the invite in their mail, changing and cancelling from the mail's link, checking in and joining."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page

from .conftest import ON_CALL_SERVICE, screenshot
from .patient import (
    book,
    cancel,
    first_soon_time,
    invite,
    mail_text,
    new_patient,
    open_manage_link,
    summary_value,
    wait_for_mail,
)

NEW_YORK = "America/New_York"
BOOKED = "is booked"


def _instant(start: str) -> datetime:
    return datetime.fromisoformat(start.replace("Z", "+00:00"))


def _new_york_time(start: str) -> str:
    """How the pages write a UTC instant in New York time: "03:00" on the right day."""
    local = _instant(start).astimezone(ZoneInfo(NEW_YORK))
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} (New York"


@pytest.mark.parametrize("javascript", [True, False], ids=["with-javascript", "without-javascript"])
def test_a_patient_books_in_their_own_time_zone_and_the_invite_arrives(live_app, new_page, javascript):
    page = new_page(javascript=javascript, timezone_id=NEW_YORK)
    patient = new_patient("Rosa Parks")

    # With JavaScript the browser's zone is taken up by itself; without, the patient picks it.
    booked = book(page, patient, service="Consultation", time_zone=None if javascript else NEW_YORK)

    assert booked.time_shown.startswith(_new_york_time(booked.start))
    screenshot(page, f"patient-booked-new-york-{'js' if javascript else 'no-js'}")
    mail = wait_for_mail(live_app.mail, patient.email, BOOKED, "REQUEST")
    event = invite(mail).walk("VEVENT")[0]
    assert event.decoded("DTSTART") == _instant(booked.start)
    assert str(event["ATTENDEE"]) == f"mailto:{patient.email}"
    assert booked.reference in mail_text(mail) and booked.manage_url in mail_text(mail)
    assert _new_york_time(booked.start) in mail_text(mail)


def test_back_from_the_confirmation_returns_to_the_details_of_the_same_time(live_app, page):
    """The review page answers a POST, and pages are never cached: Back from the confirmation showed
    Chromium's "Confirm Form Resubmission" error page. It now returns to the details step of the time
    booked, with nothing personal in its address, saying that it is booked: whether or not that booking took
    the time's last clinician (the suite's earlier bookings decide), it is not refused as taken."""
    patient = new_patient("Mary Seacole")
    booked = book(page, patient, service="Consultation")

    page.go_back()

    page.get_by_role("heading", name="Your details").wait_for()
    assert page.url.startswith(f"{live_app.url}/book/details?")
    assert "start=" in page.url and patient.email.split("@")[0] not in page.url
    assert page.locator(f'input[name="start"][value="{booked.start}"]').count() == 1
    assert (
        booked.reference
        in page.get_by_role("status").filter(has_text="You have booked this time").inner_text()
    )


@pytest.mark.parametrize("javascript", [True, False], ids=["with-javascript", "without-javascript"])
def test_a_patient_reschedules_and_cancels_from_the_link_in_their_mail(live_app, new_page, javascript):
    page = new_page(javascript=javascript)
    patient = new_patient("Ada Lovelace")
    booked = book(
        page, patient, service="Skin check review", time_zone=None if javascript else "Europe/London"
    )
    confirmation = wait_for_mail(live_app.mail, patient.email, BOOKED, "REQUEST")
    uid = invite(confirmation).walk("VEVENT")[0]["UID"]
    link = booked.manage_url
    assert link in mail_text(confirmation)
    browser = new_page(javascript=javascript)  # later, from the mail: a browser without the booking's cookie

    open_manage_link(browser, link, paste=not javascript)
    browser.get_by_role("link", name="Choose another time").click()
    later = browser.locator('fieldset.day input[name=start]:not([aria-describedby~="unchangeable-times"])')
    new_start = later.nth(3).get_attribute("value")
    assert new_start != booked.start
    later.nth(3).check()
    browser.get_by_role("button", name="Move my consultation to this time").click()

    told_moved = _told(browser, "Booking moved – Your booking")
    moved = wait_for_mail(live_app.mail, patient.email, "has moved", "REQUEST")
    event = invite(moved).walk("VEVENT")[0]
    assert event["UID"] == uid and event["SEQUENCE"] == 1
    assert event.decoded("DTSTART") == _instant(new_start)
    screenshot(browser, f"patient-rescheduled-{'js' if javascript else 'no-js'}")

    cancel(browser, link, paste=not javascript)
    told_cancelled = _told(browser, "Booking cancelled – Your booking")

    screenshot(browser, f"patient-cancelled-{'js' if javascript else 'no-js'}")
    cancelled = wait_for_mail(live_app.mail, patient.email, "is cancelled", "CANCEL")
    event = invite(cancelled).walk("VEVENT")[0]
    assert event["UID"] == uid and event["SEQUENCE"] > 1
    # What happened is in the title, and read out: the message has the focus as the page opens.
    assert told_moved.startswith("Your consultation has moved.")
    assert told_cancelled.startswith("Your consultation is cancelled.")


def _told(page: Page, title: str) -> str:
    """The text of what has the focus, once the page's title begins with `title`."""
    page.get_by_role("heading", name=re.compile(r"^Your booking ")).wait_for()
    assert page.title().startswith(title), page.title()
    page.wait_for_function("() => document.activeElement !== document.body", timeout=2000)
    return page.evaluate("document.activeElement.innerText").strip()


def test_a_patient_checks_in_from_the_waiting_room_and_sees_the_join_button(live_app, page):
    patient = new_patient("Grace Hopper")
    booked = book(page, patient, service=ON_CALL_SERVICE, clinician="Dr Ellen Brooks", choose=first_soon_time)
    confirmation = wait_for_mail(live_app.mail, patient.email, BOOKED, "REQUEST")  # the meeting exists

    open_manage_link(page, booked.manage_url)
    page.get_by_role("heading", name="Your waiting room is open").wait_for()
    page.get_by_role("button", name="I'm here").click()

    assert _told(page, "Checked in – Your booking") == "Thank you: you are checked in."
    page.get_by_role("status").filter(has_text="The clinician knows you are here.").wait_for()
    join = page.get_by_role("link", name="Join the video call")
    assert join.is_visible()
    assert summary_value(page, "Clinician").startswith("Dr Ellen Brooks")
    screenshot(page, "patient-waiting-room-checked-in")
    # It leads to the meeting the invite names. (Asked, not followed: a browser's route sees only the
    # first address of a redirect, and the video service is not on this machine.)
    answer = page.request.get(join.get_attribute("href"), max_redirects=0)
    assert answer.headers["location"] == str(invite(confirmation).walk("VEVENT")[0]["URL"])
