"""The whole booking journey and the waiting room by keyboard alone (Tab, Shift+Tab, Space, Enter and the
arrows; no clicks), every focus stop visibly marked; on a desktop, at 200 % zoom and at 320 px."""

import re

import pytest
from playwright.sync_api import Page

from .accessibility import NARROWEST_PX, focus_problem
from .conftest import AUDIT_CHECK_IN, AUDIT_CONSULTATION, AUDIT_DEPARTMENT, screenshot, sign_in
from .patient import ANY_TIME, first_soon_time, new_patient, wait_for_mail

# The focused element's accessible name, near enough for these pages: aria-label, its label, its text, its
# white space as a screen reader says it (innerText breaks the line before visually hidden text).
_FOCUSED_NAME = """() => {
  const element = document.activeElement;
  const label = element.labels && element.labels.length ? element.labels[0].innerText : '';
  const name = element.getAttribute('aria-label') || label || element.innerText || '';
  return name.replace(/\\s+/g, ' ').trim();
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


def tab_to(page: Page, name: str | re.Pattern = "", *, backwards: bool = False, selector: str = "") -> int:
    """Tab (or Shift+Tab) until the focused element is called `name` (a string, or a pattern to search
    for), or matches the CSS `selector`; how many presses that took."""
    for presses in range(1, TAB_LIMIT + 1):
        press(page, "Shift+Tab" if backwards else "Tab")
        if focused_is(page, name, selector):
            return presses
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
    # Past the walk-in lines open now (d14b760), when any are, to the first service.
    tab_to(page, selector='input[name="service"]')
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


def _open_the_times(page: Page) -> None:
    """The time step of the audit consultation: a week of round-the-clock times, a day's 24 in each."""
    page.goto("/book")
    page.get_by_label(AUDIT_CONSULTATION, exact=True).check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Continue").click()


def test_a_keyboard_user_goes_to_another_days_times_in_a_few_key_presses(new_page):
    """A week's times are one group of radios, one Tab stop, whose arrows choose each time in turn: the
    third day's first time was dozens of arrow presses away from the first day's."""
    page = new_page(**WINDOWS["desktop"])
    _open_the_times(page)
    third_day = page.locator("fieldset.day").nth(2)
    day, first_time = third_day.locator("legend").inner_text(), third_day.locator("input").first
    value = first_time.get_attribute("value")
    page.locator(ANY_TIME).first.focus()
    press(page, "Space")  # the first day's first time, chosen before looking further

    presses = tab_to(page, day, backwards=True)
    press(page, "Enter")
    presses += 1
    press(page, "Space")

    assert focused_is(page, "", f"input[name=start][value='{value}']") and first_time.is_checked()
    assert presses <= 6  # back over the links to the seven days from the last to the third, and Enter


@pytest.mark.parametrize("reader", ["patient", "receptionist"])
def test_every_times_name_says_its_day(new_page, reader):
    """In a screen reader's list of form fields a radio is its name alone, without the day's legend: seven
    radios read "08:00". The patient's time step and the booking desk draw the same times."""
    page = new_page(**WINDOWS["desktop"])
    if reader == "patient":
        _open_the_times(page)
    else:
        sign_in(page, "audit receptionist")
        page.goto("/schedule/book")
        service = page.locator("#service option", has_text=f": {AUDIT_CONSULTATION} (")
        page.get_by_label("Service").select_option(service.get_attribute("value"))
        page.get_by_role("button", name="Show free times").click()
    page.locator(ANY_TIME).first.wait_for()
    days = page.locator("fieldset.day").all()

    unnamed = {}
    for day in days:
        label = day.locator("legend").inner_text()
        names = re.findall(r'- radio "([^"]*)"', day.aria_snapshot())
        assert len(names) == day.locator("input").count()
        unnamed[label] = [name for name in names if not name.startswith(f"{label}, ")]

    assert len(days) == 7 and unnamed == {label: [] for label in unnamed}
