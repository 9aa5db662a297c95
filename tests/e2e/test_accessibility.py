"""Every patient page and every staff page in Chromium, checked with axe-core at WCAG 2.2 AA; patient pages
also at AAA contrast, with 44 px tap targets and no sideways scrolling at 320 px; staff tables scroll
inside a focusable region of their own at 390 px.

A patient page is reached by a step of the patient's tour (one line each, below), a staff page by a
line of STAFF_PAGES: adding a page to the audit is adding a line."""

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page

from .accessibility import (
    NARROWEST_PX,
    PHONE_PX,
    sideways_scroll,
    small_targets,
    unscrollable_tables,
    violations,
)
from .conftest import DEMO_PASSWORD, LOGINS, ON_CALL_SERVICE, sign_in
from .patient import CHANGEABLE_TIME, book, enter_details, new_patient, open_manage_link, wait_for_mail

DESKTOP = {"width": 1280, "height": 900}


def patient_page_problems(page: Page) -> dict[str, object]:
    """Everything wrong with the patient page on screen: axe (AA and AAA contrast) and tap targets at
    desktop width, sideways scrolling at 320 px."""
    page.set_viewport_size(DESKTOP)
    problems: dict[str, object] = dict(violations(page, patient=True))
    if small := small_targets(page):
        problems["targets under 44 px"] = small
    if wider := sideways_scroll(page, NARROWEST_PX):
        problems[f"scrolls sideways at {NARROWEST_PX} px"] = f"{wider} px"
    page.set_viewport_size(DESKTOP)
    return problems


@dataclass
class Tour:
    """A walk through the patient's pages that notes each page's problems under the page's name."""

    page: Page
    problems: dict[str, dict]

    def check(self, name: str) -> None:
        self.page.wait_for_load_state("networkidle")  # scripts that change the page have run
        if found := patient_page_problems(self.page):
            self.problems[name] = found

    def step(self, name: str, act: Callable[[Page], object]) -> None:
        act(self.page)
        self.check(name)


def _press(name: str) -> Callable[[Page], object]:
    return lambda page: page.get_by_role("button", name=name, exact=True).click()


def _follow(name: str) -> Callable[[Page], object]:
    return lambda page: page.get_by_role("link", name=name, exact=True).click()


def _find_zone(search: str) -> Callable[[Page], object]:
    def find(page: Page) -> None:
        page.get_by_label("Not in the list? Find your time zone").fill(search)
        page.get_by_role("button", name="Find").click()

    return find


def _choose(label: str) -> Callable[[Page], object]:
    def choose(page: Page) -> None:
        page.get_by_label(label, exact=True).check()
        page.get_by_role("button", name="Continue").click()

    return choose


def _choose_a_time(page: Page) -> None:
    page.locator(CHANGEABLE_TIME).first.check()
    page.get_by_role("button", name="Continue").click()


def test_the_booking_pages_pass_axe_aaa_contrast_targets_and_reflow(live_app, page):
    patient = new_patient("Edith Example")
    tour = Tour(page, {})

    tour.step("choose a service", lambda page: page.goto("/book"))
    tour.step("choose a service: none chosen", _press("Continue"))
    tour.step("choose a clinician", _choose("Consultation"))
    tour.step("choose a time", _press("Continue"))
    tour.step("choose a time: none chosen", _press("Continue"))
    tour.step("choose a time: no zone found", _find_zone("Atlantis"))
    tour.step("choose a time: later days", _follow("Later days"))
    tour.step("your details", _choose_a_time)
    tour.step("your details: all missing", _press("Continue"))
    tour.step("check your booking", lambda page: enter_details(page, patient))
    tour.step("booked", _press("Confirm booking"))
    tour.step("privacy notice", lambda page: page.goto("/privacy"))
    tour.step("page not found", lambda page: page.goto("/no-such-page"))

    assert tour.problems == {}


def test_the_booking_link_pages_pass_axe_aaa_contrast_targets_and_reflow(live_app, new_page):
    booked = book(new_page(), new_patient("Mabel Example"), service="Consultation")
    without_js = Tour(new_page(javascript=False), {})
    tour = Tour(new_page(), {})

    without_js.step("open your booking: the link's form", lambda page: page.goto(booked.manage_url))
    without_js.step("open your booking: nothing pasted", _press("Open my booking"))
    tour.step("your booking", lambda page: open_manage_link(page, booked.manage_url))
    tour.step("choose another time", _follow("Choose another time"))
    tour.step("choose another time: none chosen", _press("Move my consultation to this time"))
    tour.step("cancel", lambda page: page.goto(booked.manage_url.split("#")[0] + "/cancel"))
    tour.step("cancelled", _press("Yes, cancel it"))

    assert without_js.problems | tour.problems == {}


def test_the_waiting_rooms_pass_axe_aaa_contrast_targets_and_reflow(live_app, new_page):
    patient = new_patient("Iris Example")
    companion = new_patient("Tom Example")
    page = new_page()
    page.goto("/book")
    _choose(ON_CALL_SERVICE)(page)
    _press("Continue")(page)
    page.locator("fieldset.day input[name=start]").first.check()  # within minutes: the room is open
    _press("Continue")(page)
    page.get_by_label("Their full name").fill(companion.name)
    page.get_by_label("Their e-mail address").fill(companion.email)
    page.get_by_label("Relative", exact=True).check()
    enter_details(page, patient)
    _press("Confirm booking")(page)
    manage_url = page.locator(".manage-link a").inner_text()
    invitation = wait_for_mail(live_app.mail, companion.email, "", "REQUEST")  # the meeting exists
    companion_url = re.search(r"http\S+/g/\S+", invitation.get_body(("plain",)).get_content()).group()
    tour = Tour(new_page(), {})

    tour.step("waiting room", lambda page: open_manage_link(page, manage_url))
    tour.step("waiting room: checked in", _press("I'm here"))
    tour.step("too late to change online", lambda page: page.goto(manage_url.split("#")[0] + "/cancel"))
    tour.step("companion's waiting room", lambda page: page.goto(companion_url))

    assert tour.problems == {}


@dataclass(frozen=True)
class StaffPage:
    """A staff page: who opens it ("" for anyone), where, then the first link matching each of `follow`
    in turn, and the button named `press` (to see the page's errors)."""

    role: str
    path: str
    follow: tuple[str, ...] = ()
    press: str = ""

    def open(self, page: Page) -> None:
        page.goto(self.path)
        for link in self.follow:
            page.locator(link).first.click()
        if self.press:
            page.get_by_role("button", name=self.press, exact=True).click()
        page.wait_for_load_state("networkidle")

    def __str__(self) -> str:
        return " > ".join([self.role or "anyone", self.path, *self.follow, *filter(None, [self.press])])


CONSULTATION = "main a[href^='/schedule/consultations/']"
NOTES = "main a[href$='/notes']"
DETAIL = "main table a[href^='{}/']"
STAFF_PAGES = [
    StaffPage("", "/login"),
    StaffPage("", "/login", press="Sign in"),
    StaffPage("clinician", "/schedule/"),
    StaffPage("clinician", "/schedule/week"),
    StaffPage("clinician", "/schedule/week", follow=(CONSULTATION,)),
    StaffPage("clinician", "/schedule/week", follow=(CONSULTATION, NOTES)),
    StaffPage("clinician", "/schedule/week", follow=(CONSULTATION, "text=Move to another time")),
    StaffPage("clinician", "/schedule/week", follow=(CONSULTATION, "text=Print a confirmation letter")),
    StaffPage("clinician", "/schedule/hours"),
    StaffPage("clinician", "/schedule/hours", press="Add this time off"),
    StaffPage("clinician", "/account"),
    StaffPage("clinician", "/account/two-factor"),
    StaffPage("clinician", "/account/two-factor", press="Confirm"),
    StaffPage("receptionist", "/schedule/"),
    StaffPage("receptionist", "/schedule/book"),
    StaffPage("receptionist", "/schedule/book", press="Show free times"),
    StaffPage("receptionist", "/admin/"),  # not theirs: the refusal page
    StaffPage("admin", "/admin/"),
    StaffPage("admin", "/admin/outbox"),
    StaffPage("admin", "/admin/staff"),
    StaffPage("admin", "/admin/staff", follow=(DETAIL.format("/admin/staff"),)),
    StaffPage("admin", "/admin/staff/new"),
    StaffPage("admin", "/admin/staff/new", press="Add the account"),
    StaffPage("admin", "/admin/departments"),
    StaffPage("admin", "/admin/departments", follow=(DETAIL.format("/admin/departments"),)),
    StaffPage("admin", "/admin/departments/new", press="Save"),
    StaffPage("admin", "/admin/services"),
    StaffPage("admin", "/admin/services", follow=(DETAIL.format("/admin/services"),)),
    StaffPage("admin", "/admin/services/new", press="Save"),
    StaffPage("admin", "/admin/clinicians"),
    StaffPage("admin", "/admin/clinicians", follow=(DETAIL.format("/admin/clinicians"),)),
    StaffPage("admin", "/admin/clinicians/new", press="Save"),
    StaffPage("admin", "/admin/clinicians/1/hours"),
    StaffPage("admin", "/admin/closures"),
    StaffPage("admin", "/admin/closures", press="Close these days"),
    StaffPage("admin", "/admin/settings"),
    StaffPage("admin", "/admin/audit"),
    StaffPage("admin", "/admin/reports"),
    StaffPage("admin", "/admin/patients/export"),
]


@pytest.fixture(scope="module")
def signed_in(browser, live_app) -> Callable[[str], dict]:
    """`signed_in(role)`: the cookies of one sign-in per role, shared by this module's staff pages (a
    sign-in per page would wait for a fresh second-factor code each time)."""
    states: dict[str, dict] = {}

    def state(role: str) -> dict:
        if role not in states:
            context = browser.new_context(base_url=live_app.url)
            sign_in(context.new_page(), role)
            states[role] = context.storage_state()
            context.close()
        return states[role]

    return state


@pytest.mark.parametrize("staff_page", STAFF_PAGES, ids=str)
def test_staff_pages_pass_axe_and_their_tables_scroll_in_a_focusable_region(new_page, signed_in, staff_page):
    page = new_page(viewport=DESKTOP, storage_state=signed_in(staff_page.role) if staff_page.role else None)
    staff_page.open(page)
    desktop = violations(page, patient=False)

    sideways = sideways_scroll(page, PHONE_PX)
    phone = violations(page, patient=False)

    assert (desktop, phone, sideways, unscrollable_tables(page)) == ({}, {}, 0, [])


@pytest.mark.parametrize("press", ["", "Sign in"], ids=["code", "code-missing"])
def test_the_second_factor_page_passes_axe(new_page, signed_in, press):
    signed_in("admin")  # the admin has a second factor from here on
    page = new_page(viewport=DESKTOP)
    page.goto("/login")
    page.get_by_label("E-mail address").fill(LOGINS["admin"])
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login/code")
    StaffPage("", "/login/code", press=press).open(page)
    desktop = violations(page, patient=False)

    assert (desktop, sideways_scroll(page, PHONE_PX), violations(page, patient=False)) == ({}, 0, {})
