"""What a patient does in the browser, step by step, and what the mail sink then holds for them."""

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from icalendar import Calendar
from playwright.sync_api import Locator, Page

from tests.fakes.smtp import FakeSMTPServer

_numbers = itertools.count(1)
# A free time that can still be changed online (the others carry a note pointing at this id), among a
# day's times and among all days'.
CHANGEABLE = 'input[name=start]:not([aria-describedby~="unchangeable-times"])'
CHANGEABLE_TIME = f"fieldset.day {CHANGEABLE}"
ANY_TIME = "fieldset.day input[name=start]"


@dataclass(frozen=True)
class Patient:
    name: str
    email: str
    phone: str = "+1 212 555 0100"
    birth_date: tuple[str, str, str] = ("4", "2", "1943")  # day, month, year as typed


def new_patient(name: str) -> Patient:
    """A patient with an address of their own (each may hold only a few bookings at once), as long as many
    real ones and with no hyphen to break at: the pages must wrap it at a phone's width, not scroll
    sideways."""
    first, *_, last = name.lower().split()
    return Patient(name=name, email=f"{first}.{last}.{next(_numbers)}@patientsofstexample.example.org")


@dataclass(frozen=True)
class Booked:
    reference: str
    manage_url: str
    start: str  # the chosen time's value: an instant in UTC, as the form sends it ("2026-12-03T08:00Z")
    time_shown: str  # the time as the confirmation shows it, in the patient's zone


def book(page: Page, patient: Patient, **choices: Any) -> Booked:
    """Book from /book to the confirmation, with the `choices` of `send_booking`."""
    start = send_booking(page, patient, **choices)
    page.get_by_role("heading", name="Your consultation is booked").wait_for()
    return Booked(
        reference=page.locator(".reference").inner_text(),
        manage_url=page.locator(".manage-link a").inner_text(),
        start=start,
        time_shown=summary_value(page, "Time"),
    )


def send_booking(
    page: Page,
    patient: Patient,
    *,
    service: str,
    clinician: str = "First available",
    time_zone: str | None = None,
    choose: Callable[[Page], Locator] | None = None,
) -> str:
    """Go from /book to "Confirm booking" and press it; the chosen time's value. `time_zone`: pick it from
    the list (as a patient without JavaScript does); `choose`: the time's radio on the page of times, by
    default the first that can still be changed online."""
    page.goto("/book")
    page.get_by_label(service, exact=True).check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_label(clinician, exact=True).check()
    page.get_by_role("button", name="Continue").click()
    if time_zone:
        show_times_in(page, time_zone)
    choice = choose(page) if choose else page.locator(CHANGEABLE_TIME).first
    start = choice.get_attribute("value")
    choice.check()
    page.get_by_role("button", name="Continue").click()
    enter_details(page, patient)
    page.get_by_role("button", name="Confirm booking").click()
    return start


def first_soon_time(page: Page) -> Locator:
    """The first free time on the page two minutes or more from now: still free when the form is sent."""
    # Reading every value does not wait as a locator's action does: a click returns once the next page
    # has begun to load, when its list of times may be empty or cut short.
    page.wait_for_load_state()
    earliest = datetime.now(UTC) + timedelta(minutes=2)
    times = page.locator(ANY_TIME)
    starts = [datetime.fromisoformat(value.replace("Z", "+00:00")) for value in _values(times)]
    return times.nth(next(i for i, start in enumerate(starts) if start >= earliest))


def _values(inputs: Locator) -> list[str]:
    return inputs.evaluate_all("inputs => inputs.map(input => input.value)")


def show_times_in(page: Page, time_zone: str) -> None:
    """Choose the zone the times are shown in from the list (a plain GET form: no script needed)."""
    page.get_by_label("Show times in this time zone").select_option(time_zone)
    page.get_by_role("button", name="Show times in this time zone").click()


def enter_details(page: Page, patient: Patient) -> None:
    fill_details(page, patient)
    page.get_by_role("button", name="Continue").click()


def fill_details(page: Page, patient: Patient) -> None:
    """The patient's details and consent, as the booking and the waitlist forms ask for them."""
    page.get_by_label("Full name", exact=True).fill(patient.name)
    page.get_by_label("E-mail address", exact=True).fill(patient.email)
    page.get_by_label("Phone number").fill(patient.phone)
    for part, value in zip(("Day", "Month", "Year"), patient.birth_date, strict=True):
        page.get_by_label(part, exact=True).fill(value)
    page.get_by_label("I agree").check()


def summary_value(page: Page, term: str) -> str:
    """The value beside `term` in the page's first booking summary ("Time", "Clinician", …)."""
    return page.locator(f"dl.summary div:has(> dt:text-is('{term}')) dd").first.inner_text()


def open_manage_link(page: Page, link: str, *, paste: bool = False) -> None:
    """Open the booking page from the mail's link. With JavaScript the page takes the token from the
    address by itself; without (`paste`), the patient pastes the whole link into the form it shows
    (once: the browser keeps the booking open from then on)."""
    page.goto(link)
    if paste and page.get_by_label("Your link").count():
        page.get_by_label("Your link").fill(link)
        page.get_by_role("button", name="Open my booking").click()
    page.get_by_role("heading", name=re.compile(r"^Your booking ")).wait_for()
    page.wait_for_load_state()  # see join_walk_in_queue


def cancel(page: Page, link: str, *, paste: bool = False) -> None:
    """Cancel the booking from the mail's `link`, as its patient does."""
    open_manage_link(page, link, paste=paste)
    page.get_by_role("link", name="Cancel this consultation").click()
    page.get_by_role("button", name="Yes, cancel it").click()
    page.get_by_role("heading", name="This consultation is cancelled").wait_for()


def join_walk_in_queue(page: Page, slug: str, name: str, contact: str) -> None:
    """Join the walk-in queue `slug` as a caller does, up to the page of their place in it."""
    page.goto(f"/walk-in/{slug}")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Your e-mail address or phone number").fill(contact)
    page.get_by_label("I agree that the hospital may use these details").check()
    page.get_by_role("button", name="Join the queue").click()
    page.get_by_role("heading", name=re.compile(r"^You are number \d+ in the queue")).wait_for()
    # The heading shows before the page's deferred scripts set their timers (at DOMContentLoaded): a test
    # that moved the page's clock on earlier would move it past no timer, and wait for an update in vain.
    page.wait_for_load_state()


def wait_for_mail(mail: FakeSMTPServer, to: str, subject_contains: str, method: str | None) -> EmailMessage:
    """The mail to `to` whose subject holds `subject_contains` and whose invite has METHOD:`method`
    (None: a mail that carries no invite, such as a waitlist offer)."""

    def wanted(message: EmailMessage) -> bool:
        if to not in (message["To"] or "") or subject_contains not in (message["Subject"] or ""):
            return False
        return method is None or invite(message).get("METHOD") == method

    return mail.wait_for(wanted, timeout=60)  # the worker is another process, on a busy machine


def invite(message: EmailMessage) -> Calendar:
    """The invite attached as invite.ics (the same as the inline text/calendar part)."""
    attachment = next(part for part in message.iter_attachments() if part.get_filename() == "invite.ics")
    return Calendar.from_ical(attachment.get_content())


def mail_text(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()
