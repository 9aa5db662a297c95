"""The whole booking journey and the waiting room by keyboard alone (Tab, Shift+Tab, Space, Enter and the
arrows; no clicks), every focus stop visibly marked; on a desktop, at 200 % zoom and at 320 px."""

import re

import pytest
from playwright.sync_api import Page

from .accessibility import NARROWEST_PX, focus_problem
from .conftest import AUDIT_CHECK_IN, AUDIT_DEPARTMENT, screenshot
from .patient import first_soon_time, new_patient, wait_for_mail

# The focused element's accessible name, near enough for these pages: aria-label, its label, its text.
_FOCUSED_NAME = """() => {
  const element = document.activeElement;
  const label = element.labels && element.labels.length ? element.labels[0].innerText : '';
  return (element.getAttribute('aria-label') || label || element.innerText || '').trim();
}"""
TAB_LIMIT = 120  # more stops than any page has: a name never reached fails instead of looping

# Browser zoom shrinks the window in CSS px: 200 % of a 1280 x 900 window is 640 x 450 at scale 2.
WINDOWS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "zoom-200": {"viewport": {"width": 640, "height": 450}, "device_scale_factor": 2},
    "320px": {"viewport": {"width": NARROWEST_PX, "height": 640}},
}


def focused_name(page: Page) -> str:
    return page.evaluate(_FOCUSED_NAME)


def focused_is(page: Page, name: str | re.Pattern, selector: str) -> bool:
    """The focused element matches the CSS `selector`, if given, else is called `name` (a string, or a
    pattern to search for)."""
    if selector:
        return page.evaluate("selector => document.activeElement.matches(selector)", selector)
    return name == focused_name(page) if isinstance(name, str) else bool(name.search(focused_name(page)))


def press(page: Page, key: str) -> None:
    """Press `key`; whatever has focus then must show it."""
    page.keyboard.press(key)
    assert focus_problem(page) is None, focus_problem(page)


def tab_to(page: Page, name: str | re.Pattern = "", *, backwards: bool = False, selector: str = "") -> None:
    """Tab (or Shift+Tab) until the focused element is called `name` (a string, or a pattern to search
    for), or matches the CSS `selector`."""
    for _ in range(TAB_LIMIT):
        press(page, "Shift+Tab" if backwards else "Tab")
        if focused_is(page, name, selector):
            return
    raise AssertionError(f"{name or selector!r} is not reachable with the Tab key on {page.url}")


def arrow_to(page: Page, name: str = "", *, selector: str = "") -> None:
    """Inside a group of radios, ArrowDown until the one called `name`, or matching the CSS `selector`,
    is focused (and so chosen)."""
    for _ in range(TAB_LIMIT):
        if focused_is(page, name, selector):
            return
        press(page, "ArrowDown")
    raise AssertionError(f"no radio {name or selector!r} in the group on {page.url}")


def enter(page: Page, name: str | re.Pattern) -> None:
    """Tab to the button or link called `name`, press Enter, and wait for the next page."""
    tab_to(page, name)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert_fits(page)


def type_into(page: Page, label: str, text: str) -> None:
    tab_to(page, label)
    page.keyboard.type(text)


def assert_fits(page: Page) -> None:
    """The page does not scroll sideways in its window."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_a_patient_books_and_checks_in_by_keyboard_alone(live_app, new_page, window):
    page = new_page(**WINDOWS[window])
    patient = new_patient("Keyboard Example")
    page.goto("/book")
    assert_fits(page)

    tab_to(page, "Skip to main content")
    page.keyboard.press("Enter")  # focus moves to the main content, which shows no ring of its own
    tab_to(page, re.compile("."))  # the first service, the first stop inside the main content
    press(page, "Space")
    arrow_to(page, AUDIT_CHECK_IN)
    assert page.get_by_label(AUDIT_CHECK_IN, exact=True).is_checked()
    enter(page, "Continue")

    assert page.get_by_role("radio", name="First available").is_checked()
    enter(page, "Continue")

    soon = first_soon_time(page).get_attribute("value")  # within minutes: the room is open
    tab_to(page, selector="input[name=start]")  # the group of times, at its first
    press(page, "Space")
    arrow_to(page, selector=f"input[name=start][value='{soon}']")
    enter(page, "Continue")

    type_into(page, "Full name", patient.name)
    type_into(page, "E-mail address", patient.email)
    type_into(page, "Phone number", patient.phone)
    for part, value in zip(("Day", "Month", "Year"), patient.birth_date, strict=True):
        type_into(page, part, value)
    tab_to(page, re.compile("^I agree"))
    press(page, "Space")
    enter(page, "Continue")

    tab_to(page, "Change details")
    tab_to(page, "Confirm booking", backwards=True)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.get_by_role("heading", name="Your consultation is booked").wait_for()
    assert AUDIT_DEPARTMENT in page.locator("main").inner_text()
    wait_for_mail(live_app.mail, patient.email, "is booked", "REQUEST")  # the video meeting exists now

    enter(page, re.compile("^http.*/c/"))  # the booking's own link, as in the mail: the waiting room
    page.get_by_role("heading", name="Your waiting room is open").wait_for()
    enter(page, "I'm here")

    assert page.get_by_role("status").filter(has_text="The clinician knows you are here.").is_visible()
    tab_to(page, "Join the video call")
    assert page.evaluate("document.activeElement.href").endswith("/join")
    screenshot(page, f"keyboard-waiting-room-{window}")
