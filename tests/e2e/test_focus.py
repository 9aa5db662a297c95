"""Where the focus goes, and what is read out, when a page changes under a keyboard or screen-reader user:
the camera check's buttons, the waiting room opening, a time-zone search. The focus is never left on
<body> (WCAG 2.4.3), a page never reloads itself (3.2.5), and wherever the focus is, it shows."""

from datetime import datetime, timedelta

from playwright.sync_api import Locator, Page
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from clinic.models import Consultation, utcnow

from .conftest import AUDIT_CHECK_IN, AUDIT_CONSULTATION
from .patient import CHANGEABLE_TIME, book, new_patient, open_manage_link, wait_for_mail
from .test_keyboard import focused_name, press, tab_to


def test_the_camera_check_keeps_the_focus_on_its_buttons(live_app, new_page):
    """Each of its two buttons hides itself when pressed: the focus goes to the other, not to <body>."""
    page = new_page()
    booked = book(page, new_patient("Camera Example"), service=AUDIT_CONSULTATION)
    open_manage_link(page, booked.manage_url)

    tab_to(page, "Check my camera and microphone")
    press(page, "Enter")
    page.get_by_role("button", name="Stop the check").wait_for()
    assert focused_name(page) == "Stop the check"
    press(page, "Enter")
    page.get_by_role("button", name="Check my camera and microphone").wait_for()
    assert focused_name(page) == "Check my camera and microphone"


def _open_the_room_now(database_url: str, reference: str) -> None:
    """Move the consultation to start in ten minutes, inside the time its waiting room is open, as if the
    page had been left open until then."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            consultation = session.scalar(select(Consultation).where(Consultation.reference == reference))
            shift = utcnow() + timedelta(minutes=10) - consultation.starts_at
            for instant in ("starts_at", "ends_at", "blocked_from", "blocked_until"):
                setattr(consultation, instant, getattr(consultation, instant) + shift)
            session.commit()
    finally:
        engine.dispose()


def test_the_waiting_room_opens_in_place_without_a_reload_or_stopping_the_camera_check(live_app, new_page):
    """The room's opening is read out (a live region) and its buttons added where the countdown was; the
    page reloaded itself, which ended a running camera check and left the focus on <body>."""
    page = new_page()
    patient = new_patient("Opening Example")
    latest = lambda page: page.locator(CHANGEABLE_TIME).last  # noqa: E731  days away: the room is shut
    booked = book(page, patient, service=AUDIT_CHECK_IN, choose=latest)
    wait_for_mail(live_app.mail, patient.email, "is booked", "REQUEST")  # the meeting exists
    page.clock.install()  # before the page loads: its countdown then runs on the test's clock
    open_manage_link(page, booked.manage_url)
    countdown = page.locator("[data-countdown]")
    opens_in = _instant(countdown, "data-opens-at") - _instant(countdown, "data-now")
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    tab_to(page, "Check my camera and microphone")
    press(page, "Enter")
    page.get_by_role("button", name="Stop the check").wait_for()

    _open_the_room_now(live_app.database_url, booked.reference)
    page.clock.fast_forward(int(opens_in.total_seconds() * 1000) + 2000)

    opened = page.get_by_role("heading", name="Your waiting room is open")
    opened.wait_for()
    assert opened.evaluate("heading => heading.closest('[aria-live]') !== null")  # read out as it comes
    assert page.get_by_role("link", name="Join the video call").is_visible()
    assert not countdown.count()
    assert page.evaluate("window.loadedOnce") is True
    assert focused_name(page) == "Stop the check"  # the check runs on, where the patient left it


def _instant(element: Locator, attribute: str) -> datetime:
    return datetime.fromisoformat(element.get_attribute(attribute))


def _open_the_times(page: Page) -> None:
    """The time step of the audit consultation, for the first available clinician."""
    page.goto("/book")
    page.get_by_label(AUDIT_CONSULTATION, exact=True).check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Continue").click()


# The text of the elements that describe the focused element (its aria-describedby).
_FOCUSED_DESCRIPTION = """() => (document.activeElement.getAttribute('aria-describedby') || '').split(' ')
  .map(id => document.getElementById(id)).filter(Boolean).map(element => element.textContent).join(' ')
  .replace(/\\s+/g, ' ')"""


def test_a_time_zone_search_lands_on_the_list_it_narrowed_or_on_its_error(live_app, page):
    """After "Find" the page showed the narrowed list above the search box, with what was found printed
    below it and the focus on <body>; a search that found nothing was no error at all."""
    _open_the_times(page)
    search = page.get_by_label("Not in the list? Find your time zone")

    for typed in ("Madrid", "Atlantis"):
        search.fill(typed)
        with page.expect_navigation():
            search.press("Enter")
        page.wait_for_function("() => document.activeElement !== document.body", timeout=2000)
        if typed == "Madrid":
            assert focused_name(page) == "Show times in this time zone"  # the list, narrowed
            assert "1 time zone matches “Madrid”." in page.evaluate(_FOCUSED_DESCRIPTION)
        else:
            assert page.title().startswith("Error: ")
            assert focused_name(page) == "Not in the list? Find your time zone"
            assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"
            assert "Error: No time zone matches “Atlantis”." in page.evaluate(_FOCUSED_DESCRIPTION)


def test_every_stop_of_a_date_box_shows_the_focus(live_app, page):
    """A date box is three stops (day, month, year) and its calendar button, a fourth; Chromium drew only
    its own thin ring on the button, the box not matching :focus-visible while it has the focus."""
    _open_the_times(page)
    page.get_by_role("link", name="None of these times suit me – join the waitlist").click()
    # A Tab pressed while the waitlist page is still loading lands nowhere ("nothing has focus": failed once
    # in a fresh-clone `make test`); the first Tab is for the loaded page.
    page.wait_for_load_state("load")

    tab_to(page, "From")
    tab_to(page, "Until")  # every press on the way checks that the focus shows
