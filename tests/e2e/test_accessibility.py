"""Every patient page and every staff page in Chromium, checked with axe-core at WCAG 2.2 AA; patient pages
also at AAA contrast, with 44 px tap targets and no sideways scrolling at 320 px, with text at its usual
size and at 200 % (as Android's text scaling sets it); staff tables scroll inside a focusable region of
their own at 390 px.

A patient page is reached by a step of a patient's tour (one line each, below), a staff page by a
line of STAFF_PAGES: adding a page to the audit is adding a line. A page that takes more than links and
a button to reach (a second factor's code, a one-time link, a limit reached) has a test of its own. The
last test fails when a page template was left unrendered by all of them: a new page is not forgotten."""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask import Response, template_rendered
from playwright.sync_api import Locator, Page
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

import clinic
from clinic.extensions import db
from clinic.models import Clinician, Consultation, ConsultationStatus, Service, utcnow
from clinic.notify.mail import FileBackend, mail_folder
from tests import factories
from tests.conftest import build_app

from .accessibility import (
    LARGE_TEXT,
    NARROWEST_PX,
    PHONE_PX,
    focused_contrast_problems,
    opening_focus_problems,
    refuse_scripts,
    sideways_scroll,
    small_targets,
    unscrollable_tables,
    violations,
)
from .clinician import open_notes, send_note_when_idle, warned_before_the_idle_sign_out
from .conftest import (
    AUDIT_CHECK_IN,
    AUDIT_CLINICIANS,
    AUDIT_CONSULTATION,
    DEMO_PASSWORD,
    LOGINS,
    MIDDAY_ZONE,
    WALK_IN_SLUG,
    confirm_second_factor,
    sign_in,
)
from .patient import (
    CHANGEABLE,
    CHANGEABLE_TIME,
    book,
    cancel,
    enter_details,
    fill_details,
    first_soon_time,
    join_walk_in_queue,
    mail_text,
    new_patient,
    open_manage_link,
    send_booking,
    wait_for_mail,
)

DESKTOP = {"width": 1280, "height": 900}
HOSPITAL_ZONE = ZoneInfo("Europe/London")  # DEFAULT_TIME_ZONE: a department's schedule is in it
WAITLIST_PLACE = "Your place on the waitlist"
ALREADY_BOOKED = "You already have a booking at that time"


def patient_page_problems(page: Page) -> dict[str, object]:
    """Everything wrong with the patient page on screen: where the focus is as it opens, axe (AA and AAA
    contrast), focused text's contrast and tap targets at desktop width, sideways scrolling at 320 px (with
    text at its usual size, and at 200 %)."""
    page.set_viewport_size(DESKTOP)
    problems: dict[str, object] = {}
    if focus := opening_focus_problems(page):
        problems["focus"] = focus
    problems |= violations(page, patient=True)
    if focused := focused_contrast_problems(page, patient=True):
        problems["focused text under 7:1"] = focused
    if small := small_targets(page):
        problems["targets under 44 px"] = small
    if wider := sideways_scroll(page, NARROWEST_PX):
        problems[f"scrolls sideways at {NARROWEST_PX} px"] = f"{wider} px"
    if wider := sideways_scroll(page, NARROWEST_PX, LARGE_TEXT):
        problems[f"scrolls sideways at {NARROWEST_PX} px with {LARGE_TEXT} text"] = f"{wider} px"
    page.set_viewport_size(DESKTOP)
    return problems


TEMPLATES = Path(clinic.__file__).parent / "templates"
# Every template that is a page: not a part of pages (named "_…"), nor the layout they all extend.
PAGE_TEMPLATES = {
    path.relative_to(TEMPLATES).as_posix()
    for path in TEMPLATES.rglob("*.html")
    if not path.name.startswith("_") and path.name != "base.html"
}


@pytest.fixture(scope="module", autouse=True)
def rendered(live_app) -> Iterator[Callable[[], set[str]]]:
    """`rendered()`: the templates rendered since this module began, by the live app (see noted_wsgi) and
    by the apps this process serves pages from (those the live app cannot show)."""
    notes = live_app.template_notes
    start = notes.stat().st_size if notes.exists() else 0
    here: set[str] = set()

    def note(sender, template, context, **extra) -> None:
        here.add(template.name)

    def names() -> set[str]:
        with notes.open() as lines:
            lines.seek(start)
            return here | {line.strip() for line in lines}

    with template_rendered.connected_to(note):
        yield names


# Grey hint text (4.5:1: AA, not AAA), an image without a text alternative, a 28 px radio, a table wider
# than a phone, outside any scrolling region, and a link white on yellow when focused.
FLAWED_PAGE = """<!doctype html><html lang="en"><title>Flawed</title>
<style>a:focus { background: #ffdd00 } .bar a { color: #fff }</style><main><h1>Flawed</h1>
<p style="color: #767676">A grey hint</p><img src="/photo.png">
<p style="background: #004b93; color: #fff" class="bar">A <a href="#">link</a> in a dark bar.</p>
<input type="radio" id="yes" style="width: 28px; height: 28px"><label for="yes">Yes</label>
<table><tr><th>Wide</th><td style="min-width: 800px">table</td></tr></table></main></html>"""


def test_the_checks_find_the_flaws_they_look_for(browser):
    page = browser.new_page(viewport=DESKTOP)
    page.set_content(FLAWED_PAGE)

    assert violations(page, patient=False).keys() == {"image-alt"}
    assert violations(page, patient=True).keys() == {"image-alt", "color-contrast-enhanced"}
    assert [target.split(" is ")[1] for target in small_targets(page)] == ["28x28 px"]
    assert unscrollable_tables(page) != [] and sideways_scroll(page, PHONE_PX) > 0
    assert focused_contrast_problems(page, patient=False) == [
        '<a href="#">link</a>: rgb(255, 255, 255) on rgb(255,221,0), 1.35:1'
    ]
    page.set_content('<div style="width: 16rem">Fits at 320 px until the text is twice as large</div>')
    assert sideways_scroll(page, NARROWEST_PX) == 0 < sideways_scroll(page, NARROWEST_PX, LARGE_TEXT)
    assert sideways_scroll(page, NARROWEST_PX) == 0  # the text size set back
    page.close()


@dataclass
class Tour:
    """A walk through the patient's pages that notes each page's problems under the page's name."""

    page: Page
    problems: dict[str, dict]

    def check(self, name: str) -> None:
        self.page.wait_for_load_state()  # the page's scripts (all deferred) have run
        if found := patient_page_problems(self.page):
            self.problems[name] = found

    def step(self, name: str, act: Callable[[Page], object]) -> None:
        act(self.page)
        self.check(name)


def _press(name: str) -> Callable[[Page], object]:
    return lambda page: page.get_by_role("button", name=name, exact=True).click()


def _follow(name: str) -> Callable[[Page], object]:
    return lambda page: page.get_by_role("link", name=name, exact=True).click()


def _go(address: str) -> Callable[[Page], object]:
    return lambda page: page.goto(address)


def _go_back_to(act: Callable[[Page], object]) -> Callable[[Page], object]:
    """Back to the page before, then `act` on it."""
    return lambda page: (page.go_back(), act(page))


def _shows(act: Callable[[Page], object], heading: str) -> Callable[[Page], object]:
    """`act`, then wait for the page to show `heading`: a link's page once its script has sent the token
    after "#", or the page a form's answer leads to."""

    def act_and_wait(page: Page) -> None:
        act(page)
        page.get_by_role("heading", name=heading).wait_for()

    return act_and_wait


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


def _open_the_waitlist(page: Page) -> None:
    """From the times of the audit consultation, as a patient whom none of them suit."""
    page.goto("/book")
    _choose(AUDIT_CONSULTATION)(page)
    _press("Continue")(page)
    _follow("None of these times suit me – join the waitlist")(page)


def test_the_booking_pages_pass_axe_aaa_contrast_targets_and_reflow(live_app, page):
    patient = new_patient("Edith Example")
    tour = Tour(page, {})

    tour.step("choose a service", _go("/book"))
    tour.step("choose a service: none chosen", _press("Continue"))
    tour.step("choose a clinician", _choose(AUDIT_CONSULTATION))
    tour.step("choose a time", _press("Continue"))
    tour.step("choose a time: none chosen", _press("Continue"))
    tour.step("choose a time: no zone found", _find_zone("Atlantis"))
    tour.step("choose a time: later days", _follow("Later days"))
    tour.step("your details", _choose_a_time)
    tour.step("your details: all missing", _press("Continue"))
    tour.step("check your booking", lambda page: enter_details(page, patient))
    tour.step("booked", _press("Confirm booking"))
    tour.step("privacy notice", _go("/privacy"))
    tour.step("page not found", _go("/no-such-page"))
    tour.step("join the waitlist", _open_the_waitlist)
    tour.step("join the waitlist: all missing", _press("Join the waitlist"))
    tour.step("walk-in queue", _go("/walk-in/mental-health"))  # the demo's, open all day
    tour.step("walk-in queue: all missing", _press("Join the queue"))

    assert tour.problems == {}


def test_the_booking_link_pages_pass_axe_aaa_contrast_targets_and_reflow(live_app, new_page):
    booked = book(new_page(), new_patient("Mabel Example"), service=AUDIT_CONSULTATION)
    without_js = Tour(refuse_scripts(new_page()), {})
    tour = Tour(new_page(), {})

    without_js.step("open your booking: the link's form", _go(booked.manage_url))
    without_js.step("open your booking: nothing pasted", _press("Open my booking"))
    tour.step("your booking", lambda page: open_manage_link(page, booked.manage_url))
    tour.step("choose another time", _follow("Choose another time"))
    tour.step("choose another time: none chosen", _press("Move my consultation to this time"))
    tour.step("cancel", _go(booked.manage_url.split("#")[0] + "/cancel"))
    tour.step("cancelled", _press("Yes, cancel it"))

    assert without_js.problems | tour.problems == {}


def test_the_waiting_rooms_pass_axe_aaa_contrast_targets_and_reflow(live_app, new_page):
    patient = new_patient("Iris Example")
    companion = new_patient("Tom Example")
    page = new_page()
    page.goto("/book")
    _choose(AUDIT_CHECK_IN)(page)
    _press("Continue")(page)
    first_soon_time(page).check()  # within minutes: the room is open
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
    tour.step("too late to change online", _go(manage_url.split("#")[0] + "/cancel"))
    tour.step("companion's waiting room", _shows(_go(companion_url), "The waiting room is open"))

    assert tour.problems == {}


def test_the_waitlist_pages_pass_axe_aaa_contrast_targets_and_reflow(live_app, new_page):
    """Joining, the entry's link, a freed time offered from it, and leaving."""
    clinician = AUDIT_CLINICIANS[3]
    freed = book(new_page(), new_patient("Nora Example"), service=AUDIT_CONSULTATION, clinician=clinician)
    waiting = new_patient("Wendy Example")
    tour = Tour(new_page(), {})

    def join(page: Page) -> None:
        _open_the_waitlist(page)
        day = _local_day(freed.start, page.locator("input[name=time_zone]").get_attribute("value"))
        page.get_by_label(clinician, exact=True).check()
        page.get_by_label("From", exact=True).fill(day)
        page.get_by_label("Until", exact=True).fill(day)
        fill_details(page, waiting)
        _press("Join the waitlist")(page)

    tour.step("joined the waitlist", join)
    entry_link = tour.page.locator(".manage-link a").inner_text()
    tour.step("your place on the waitlist", _shows(_go(entry_link), WAITLIST_PLACE))
    cancel(new_page(), freed.manage_url)  # the worker offers the freed time to the waitlist
    offer = wait_for_mail(live_app.mail, waiting.email, "A video consultation time is free for you", None)
    offer_link = re.search(r"http\S+/o/\S+", mail_text(offer)).group()
    tour.step("a time offered from the waitlist", _shows(_go(offer_link), "A time is free for you"))
    tour.step("leave the waitlist?", lambda page: _ask_to_leave_the_waitlist(page, entry_link))
    tour.step(
        "your place on the waitlist: left",
        _shows(_press("Yes, leave the waitlist"), "You have left the waitlist"),
    )

    assert tour.problems == {}


def _local_day(start: str, time_zone: str) -> str:
    """The day of `start` (a form's instant in UTC, "2026-12-03T08:00Z") in `time_zone`, as ISO."""
    instant = datetime.fromisoformat(start.replace("Z", "+00:00"))
    return instant.astimezone(ZoneInfo(time_zone)).date().isoformat()


def _ask_to_leave_the_waitlist(page: Page, link: str) -> None:
    _shows(_go(link), WAITLIST_PLACE)(page)
    _shows(_follow("Leave the waitlist"), "Leave the waitlist?")(page)


def test_the_walk_in_callers_pages_pass_axe_aaa_contrast_targets_and_reflow(live_app, new_page):
    """A caller's place in the queue, the form to join for someone else, the question before leaving it,
    and the page once left: the caller leaves, so the queue is as empty afterwards as before
    (test_walk_in.py counts on being first)."""
    tour = Tour(new_page(), {})

    caller = (WALK_IN_SLUG, "Rose Example", "rose.walk-in@example.org")
    tour.step("walk-in: your place in the queue", lambda page: join_walk_in_queue(page, *caller))
    tour.step(
        "walk-in: join for someone else",
        _shows(_follow("Join the queue for someone else"), "Joining for someone else"),
    )
    tour.step(
        "walk-in: leave the queue?", _shows(_go_back_to(_follow("Leave the queue")), "Leave the queue?")
    )
    tour.step("walk-in: left the queue", _press("Yes, leave the queue"))

    assert tour.page.get_by_role("link", name="Join the queue again").is_visible()
    assert tour.problems == {}


def _last_changeable_time(days_before_last: int = 0) -> Callable[[Page], Locator]:
    """The last time that can be changed online on a day of the first page of times, counted back from its
    last day: far from the other tests' bookings, so every clinician is free at it."""
    return lambda page: page.locator("fieldset.day").nth(-1 - days_before_last).locator(CHANGEABLE).last


def test_the_refusals_pass_axe_aaa_contrast_targets_and_reflow(live_app, new_page):
    """A second booking at the time the patient already holds, from another device (this browser would be
    shown its own booking), the link mailed again instead, and the waiting room's refusal to let them join
    before it opens."""
    patient = new_patient("Vera Example")
    tour = Tour(new_page(), {})

    held = book(new_page(), patient, service=AUDIT_CONSULTATION, choose=_last_changeable_time())

    def book_it_again(page: Page) -> None:
        held_time = page.locator(f"input[name=start][value='{held.start}']")
        send_booking(page, patient, service=AUDIT_CONSULTATION, choose=lambda _: held_time)

    tour.step("already booked at that time", _shows(book_it_again, ALREADY_BOOKED))
    tour.step("the link mailed again", _shows(_press("E-mail me the link again"), "Check your e-mail"))

    def join_too_early(page: Page) -> None:
        open_manage_link(page, held.manage_url)  # this device holds the booking's link from now on
        page.goto(held.manage_url.split("#")[0] + "/join")

    tour.step("waiting room not open yet", join_too_early)

    assert tour.page.get_by_role("link", name="Back to the waiting room").is_visible()
    assert tour.problems == {}


def test_the_too_many_bookings_page_passes_axe_aaa_contrast_targets_and_reflow(live_app, new_page):
    """What a patient reads who holds as many upcoming bookings as are taken online (production's 3, which
    the live app keeps) and books one more."""
    patient = new_patient("Ruth Example")
    tour = Tour(new_page(), {})
    for day in (1, 2, 3):
        book(tour.page, patient, service=AUDIT_CONSULTATION, choose=_last_changeable_time(day))

    def book_a_fourth(page: Page) -> None:
        send_booking(page, patient, service=AUDIT_CONSULTATION, choose=_last_changeable_time(4))

    tour.step("too many bookings", _shows(book_a_fourth, "You have as many bookings as we take online"))

    assert tour.page.locator("main a[href^='tel:']").is_visible()  # to book by phone instead
    assert tour.problems == {}


def test_the_rate_limited_page_passes_axe_aaa_contrast_targets_and_reflow(live_app, new_page, tmp_path):
    """What a patient who asked too often reads. The live app runs with the limits off (every test comes
    from 127.0.0.1), so the same app in this process writes the page, on the live app's database with
    the free times' limit at one a minute; the browser gets it at the live app's address, where its style
    sheet and scripts load from."""
    app = build_app(
        live_app.database_url, str(tmp_path), RATELIMIT_ENABLED=True, RATELIMIT_SLOT_SEARCH="1 per minute"
    )
    with app.app_context():
        client = app.test_client()
        client.get("/book/time")
        refused = client.get("/book/time")
        db.engine.dispose()
    assert refused.status_code == 429
    page = new_page()
    _answer_at(page, f"{live_app.url}/book/time", refused)
    tour = Tour(page, {})

    tour.step("too many requests", _go("/book/time"))

    assert page.get_by_role("heading", name="If you would rather not wait").is_visible()  # and whom to call
    assert tour.problems == {}


def test_the_development_mail_pages_pass_axe(live_app, new_page, tmp_path):
    """/dev/mail and a mail's page, where the README sends whoever tries Clinic with `make run`. They exist
    only where mail goes to files, outside production, so the same app in this process serves them, with a
    mail the live app sent (with its invite) written to its folder; the browser gets them at the live
    app's address."""
    app = build_app(live_app.database_url, str(tmp_path), MAIL_BACKEND="file")
    folder = mail_folder(app.instance_path)
    invites = (received.message for received in live_app.mail.received)
    mail = next(mail for mail in invites if mail.get_body(("calendar",)))
    FileBackend(folder).send(mail)
    [name] = [path.name for path in folder.glob("*.eml")]
    page = new_page(viewport=DESKTOP)
    problems = {}
    with app.app_context():
        for path in ("/dev/mail", f"/dev/mail/{name}"):
            _answer_at(page, f"{live_app.url}{path}", app.test_client().get(path))
            page.goto(path)
            assert mail["Subject"] in page.locator("main").inner_text()
            axe = violations(page, patient=False)
            found = (axe, sideways_scroll(page, PHONE_PX), unscrollable_tables(page))
            if found != ({}, 0, []):
                problems[path] = found
            page.set_viewport_size(DESKTOP)
        db.engine.dispose()

    assert problems == {}


def _answer_at(page: Page, url: str, answer: Response) -> None:
    """Give the browser `answer`, from an app in this process, for `url` at the live app, where the page's
    style sheet and scripts load from."""
    page.route(
        url,
        lambda route: route.fulfill(
            status=answer.status_code, content_type=answer.content_type, body=answer.get_data()
        ),
    )


@dataclass(frozen=True)
class StaffPage:
    """A staff page: who opens it ("" for anyone), where ("{consultation}" is the audit consultation's
    page, "{day}" its day in its clinician's zone, "{hospital_day}" in the hospital's), then the first
    link matching each of `follow` in turn, the fields labelled as in `fill` typed in (values as paths,
    "{patient_email}" the audit consultation's patient's), and the button named `press` (to see the
    page's errors, or what it answers); `shows`: text the page must show (the audit consultation's
    patient, where it is about them)."""

    role: str
    path: str
    follow: tuple[str, ...] = ()
    press: str = ""
    shows: str = ""
    fill: tuple[tuple[str, str], ...] = ()

    def open(self, page: Page, days: dict[str, str]) -> None:
        page.goto(self.path.format(**days))
        for link in self.follow:
            page.locator(link).first.click()
        for label, value in self.fill:
            page.get_by_label(label, exact=True).fill(value.format(**days))
        if self.press:
            page.get_by_role("button", name=self.press, exact=True).click()
        page.wait_for_load_state()

    def __str__(self) -> str:
        typed = [label for label, _ in self.fill]
        return " > ".join(
            [self.role or "anyone", self.path, *self.follow, *typed, *filter(None, [self.press])]
        )


AUDITED_PATIENT = "Olive Example"  # the audit consultation's, whose note is signed
NOTE_PLAN = "Refer to occupational therapy."
CONSULTATION = f"main a[href^='/schedule/consultations/']:has-text('{AUDITED_PATIENT}')"
NOTES = "main a[href$='/notes']"
PRINT = "main a[href$='/print']"
DETAIL = "main table a[href^='{}/']"
CLINICIAN, RECEPTION = "audit clinician", "audit receptionist"
WEEK = "/schedule/week?date={day}"
MOVE, LETTER = "text=Move to another time", "text=Print a confirmation letter"
AUDIT_CLINICIAN_LINK = f"main table a:has-text('{AUDIT_CLINICIANS[0]}')"
ASK_TO_CANCEL = f"main tr:has-text('{AUDITED_PATIENT}') a[href$='/cancel']"
# A staff member's one-time password link, made by an admin (it changes nothing until it is used).
PASSWORD_LINK_MADE = StaffPage(
    "admin", "/admin/staff", follow=(DETAIL.format("/admin/staff"),), press="Make a password link"
)
STAFF_PAGES = [
    StaffPage("", "/login"),
    StaffPage("", "/login", press="Sign in"),
    StaffPage(CLINICIAN, "/schedule/?date={day}", shows=AUDITED_PATIENT),
    StaffPage(CLINICIAN, WEEK, shows=AUDITED_PATIENT),
    StaffPage(CLINICIAN, WEEK, follow=(CONSULTATION,), shows=AUDITED_PATIENT),
    StaffPage(CLINICIAN, "{consultation}", follow=(NOTES,), shows=NOTE_PLAN),
    StaffPage(CLINICIAN, "{consultation}", follow=(NOTES, PRINT), shows=NOTE_PLAN),
    StaffPage(CLINICIAN, "{consultation}", follow=(MOVE,), shows=AUDITED_PATIENT),
    StaffPage(CLINICIAN, "{consultation}", follow=(LETTER,), shows=AUDITED_PATIENT),
    StaffPage(CLINICIAN, "/schedule/hours"),
    StaffPage(CLINICIAN, "/schedule/hours", press="Add this time off"),
    StaffPage(CLINICIAN, "/account"),
    StaffPage(CLINICIAN, "/account/two-factor"),
    StaffPage(CLINICIAN, "/account/two-factor", press="Confirm"),
    StaffPage(RECEPTION, "/schedule/?date={hospital_day}", shows=AUDITED_PATIENT),
    StaffPage(RECEPTION, "/schedule/book"),
    StaffPage(RECEPTION, "/schedule/book", press="Show free times"),
    StaffPage(RECEPTION, "/admin/"),  # not theirs: the refusal page
    StaffPage("admin", "/admin/"),
    StaffPage("admin", "/admin/outbox"),
    StaffPage("admin", "/admin/staff"),
    StaffPage("admin", "/admin/staff", follow=(DETAIL.format("/admin/staff"),)),
    PASSWORD_LINK_MADE,
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
    StaffPage(
        "admin", "/admin/clinicians", follow=(AUDIT_CLINICIAN_LINK, ASK_TO_CANCEL), shows=AUDITED_PATIENT
    ),
    StaffPage("admin", "/admin/walk-in"),
    StaffPage("admin", "/admin/walk-in", follow=(DETAIL.format("/admin/walk-in"),)),
    StaffPage("admin", "/admin/walk-in/new", press="Save"),
    StaffPage("admin", "/admin/closures"),
    StaffPage("admin", "/admin/closures", press="Close these days"),
    StaffPage("admin", "/admin/settings"),
    StaffPage("admin", "/admin/audit"),
    StaffPage("admin", "/admin/audit", press="Check the audit trail", shows="Audit chain intact"),
    # A search by patient: its page's export and paging are buttons that post the address.
    StaffPage(
        "admin",
        "/admin/audit",
        fill=(("Patient's e-mail address", "{patient_email}"),),
        press="Show",
        shows="audit.patient_searched",
    ),
    StaffPage("admin", "/admin/reports"),
    StaffPage("admin", "/admin/patients/export"),
]


@pytest.fixture(scope="module")
def signed_in(browser, live_app) -> Iterator[Callable[[str], Page]]:
    """`signed_in(role)`: a page signed in as `role` ("" for no one), one per role for all of this
    module's staff pages (a sign-in per page would wait for a fresh second-factor code each time)."""
    pages: dict[str, Page] = {}

    def page_for(role: str) -> Page:
        if role not in pages:
            context = browser.new_context(base_url=live_app.url, viewport=DESKTOP, locale="en-GB")
            context.set_default_timeout(15_000)
            pages[role] = context.new_page()
            if role:
                sign_in(pages[role], role)
        return pages[role]

    yield page_for
    for page in pages.values():
        page.context.close()


@pytest.fixture(scope="module")
def audit_consultation(signed_in) -> dict[str, str]:
    """The page and days (as StaffPage paths name them) of a consultation booked with the audit clinician,
    with a signed note: the schedule's day and week, the consultation and its notes have something on
    them."""
    page = signed_in(CLINICIAN)
    patient = new_patient(AUDITED_PATIENT)
    booked = book(page, patient, service=AUDIT_CONSULTATION, clinician=AUDIT_CLINICIANS[0])
    start = datetime.fromisoformat(booked.start.replace("Z", "+00:00"))
    days = {
        "day": start.astimezone(ZoneInfo(MIDDAY_ZONE)).date().isoformat(),
        "hospital_day": start.astimezone(HOSPITAL_ZONE).date().isoformat(),
    }
    page.goto("/schedule/?date={day}".format(**days))
    page.get_by_role("link", name=f"Notes on {patient.name}'s consultation").click()
    page.get_by_label("Subjective").fill("Finds the stairs at home hard.")
    page.get_by_label("Plan").fill(NOTE_PLAN)
    page.get_by_role("button", name="Sign note").click()
    page.get_by_role("heading", name="Version 1 (current)").wait_for()
    path = urlsplit(page.url).path.removesuffix("/notes")
    return days | {
        "consultation": path,
        "starts_at": start.astimezone(ZoneInfo(MIDDAY_ZONE)).isoformat(),
        "patient_email": patient.email,
    }


@pytest.mark.parametrize("staff_page", STAFF_PAGES, ids=str)
def test_staff_pages_pass_axe_and_their_tables_scroll_in_a_focusable_region(
    signed_in, audit_consultation, staff_page
):
    page = signed_in(staff_page.role)
    staff_page.open(page, audit_consultation)
    focus = opening_focus_problems(page) + focused_contrast_problems(page, patient=False)

    # At a phone's width only: clinic.css has no width media queries, so a narrower window changes only
    # how lines wrap and what overflows, and that is where targets crowd and regions must scroll.
    sideways = sideways_scroll(page, PHONE_PX)

    assert staff_page.shows in page.locator("main").inner_text()
    assert (focus, violations(page, patient=False), sideways, unscrollable_tables(page)) == ([], {}, 0, [])


def test_a_booking_in_time_off_is_flagged_on_the_staff_pages_which_pass_axe(signed_in, audit_consultation):
    """The audit clinician takes time off over the audit consultation: their day, week and the consultation's
    page say so, as reception's day and their list of bookings to move do; 'cancel it' opens the page's
    cancel form. The time off is given back after."""
    doctor = signed_in(CLINICIAN)
    start = datetime.fromisoformat(audit_consultation["starts_at"])
    doctor.goto("/schedule/hours")
    doctor.locator("#starts_at").fill(start.strftime("%Y-%m-%dT%H:%M"))
    doctor.locator("#ends_at").fill((start + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"))
    doctor.get_by_role("button", name="Add this time off").click()
    doctor.wait_for_load_state()
    flagged = [
        (CLINICIAN, "/schedule/?date={day}"),
        (CLINICIAN, WEEK),
        (CLINICIAN, "{consultation}"),
        (RECEPTION, "/schedule/?date={hospital_day}"),
        (RECEPTION, "/schedule/clashes"),
    ]
    problems, unflagged = {}, []
    try:
        for role, path in flagged:
            page = signed_in(role)
            StaffPage(role, path).open(page, audit_consultation)
            if AUDITED_PATIENT not in page.locator("main .clash-note").last.inner_text():
                unflagged.append(path)
            axe = violations(page, patient=False)
            found = (axe, sideways_scroll(page, PHONE_PX), unscrollable_tables(page))
            if found != ({}, 0, []):
                problems[f"{role} {path}"] = found
            page.set_viewport_size(DESKTOP)
        reception = signed_in(RECEPTION)
        reception.locator("main .clash-note a", has_text="cancel it").first.click()
    finally:
        doctor.goto("/schedule/hours")
        doctor.get_by_role("button", name=re.compile("^Remove the time off")).first.click()
        doctor.wait_for_load_state()

    assert (problems, unflagged) == ({}, [])
    # The click returns as the consultation's page begins to load: wait for its cancel form, not a glance.
    reception.get_by_label("Reason for cancelling", exact=False).wait_for(timeout=10_000)


@pytest.mark.parametrize("press", ["", "Sign in"], ids=["code", "code-missing"])
def test_the_second_factor_page_passes_axe(new_page, signed_in, press):
    signed_in("admin")  # the admin has a second factor from here on
    page = new_page(viewport=DESKTOP)
    page.goto("/login")
    page.get_by_label("E-mail address").fill(LOGINS["admin"])
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login/code")
    StaffPage("", "/login/code", press=press).open(page, {})

    assert opening_focus_problems(page) == []
    assert (sideways_scroll(page, PHONE_PX), violations(page, patient=False)) == (0, {})


@pytest.mark.parametrize("press", ["", "Set the password"], ids=["link", "password-missing"])
def test_the_password_link_page_passes_axe(new_page, signed_in, press):
    """The page a staff member opens from the one-time link an admin gave them, signed in as nobody."""
    admin = signed_in("admin")
    PASSWORD_LINK_MADE.open(admin, {})
    link = admin.locator(".one-time-link code").inner_text()
    page = new_page(viewport=DESKTOP)
    StaffPage("", link, press=press).open(page, {})

    assert page.get_by_role("heading", name="Choose your password").is_visible()
    assert opening_focus_problems(page) == []
    assert (sideways_scroll(page, PHONE_PX), violations(page, patient=False)) == (0, {})


def test_the_recovery_codes_page_passes_axe(signed_in):
    """Shown once, when a staff member sets up their second factor: the receptionist, who needs none, sets
    one up from their account (their later sign-ins answer it: see conftest.sign_in)."""
    page = signed_in(RECEPTION)
    page.goto("/account/two-factor")
    confirm_second_factor(page, LOGINS[RECEPTION])

    assert (sideways_scroll(page, PHONE_PX), violations(page, patient=False)) == (0, {})


def test_a_note_kept_through_the_idle_sign_out_passes_axe_where_it_is_told_and_put_back(live_app, new_page):
    """The sign-in page that says a note was not saved but kept in the tab, and the notes page that puts
    it back (the demo clinician's, on a consultation of her own: the audit clinician's pages stay as the
    staff pages' audit expects them)."""
    page = open_notes(new_page, "Ida Lupino", viewport=DESKTOP)
    send_note_when_idle(live_app, page)
    told = (violations(page, patient=False), sideways_scroll(page, PHONE_PX))
    page.set_viewport_size(DESKTOP)
    sign_in(page, "clinician", here=True)
    page.get_by_role("region", name="Your note is back, not saved yet").wait_for()
    put_back = (violations(page, patient=False), sideways_scroll(page, PHONE_PX))

    assert (told, put_back) == (({}, 0), ({}, 0))


def test_the_warning_before_the_idle_sign_out_passes_axe(live_app, new_page):
    page = open_notes(new_page, "Ida Cox", viewport=DESKTOP)
    warned_before_the_idle_sign_out(live_app, page)

    assert (violations(page, patient=False), sideways_scroll(page, PHONE_PX)) == ({}, 0)


def test_the_question_before_a_no_show_passes_axe(live_app, signed_in):
    """Asked before a patient who never came is marked a no-show: a consultation of the audit clinician's
    that began 15 minutes ago and has not ended, written straight to the database (bookings are for times
    to come)."""
    late = _late_consultation(live_app, minutes_ago=15)
    page = signed_in(CLINICIAN)
    page.goto(f"/schedule/consultations/{late}")
    page.get_by_role("button", name=re.compile("^No-show: ")).click()
    page.get_by_role("heading", name=re.compile("as a no-show\\?")).wait_for()

    assert opening_focus_problems(page) + focused_contrast_problems(page, patient=False) == []
    assert (violations(page, patient=False), sideways_scroll(page, PHONE_PX)) == ({}, 0)


def test_an_action_refused_on_a_consultation_passes_axe(live_app, signed_in):
    """The consultation's page come back with "Not done" at its top: while it was open, the consultation
    was cancelled (written straight to the database, as a colleague's cancel would be), then "Mark
    arrived" was pressed."""
    late = _late_consultation(live_app, minutes_ago=14)  # a minute after the no-show question's
    page = signed_in(CLINICIAN)
    page.goto(f"/schedule/consultations/{late}")
    with _live_database(live_app) as session:
        session.get(Consultation, late).status = ConsultationStatus.CANCELLED
        session.commit()
    page.get_by_role("button", name=re.compile("^Mark arrived: ")).click()
    page.get_by_role("alert").filter(has_text="Not done").wait_for()

    assert page.title().startswith("Not done: ")
    assert opening_focus_problems(page) + focused_contrast_problems(page, patient=False) == []
    assert (violations(page, patient=False), sideways_scroll(page, PHONE_PX)) == ({}, 0)


@contextmanager
def _live_database(live_app) -> Iterator[Session]:
    engine = create_engine(live_app.database_url)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def _late_consultation(live_app, *, minutes_ago: int) -> int:
    with _live_database(live_app) as session:
        doctor = session.scalar(select(Clinician).where(Clinician.display_name == AUDIT_CLINICIANS[0]))
        service = session.scalar(select(Service).where(Service.name == AUDIT_CONSULTATION))
        start = (utcnow() - timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)
        return factories.consultation(session, service, doctor, start).id


def test_every_page_was_audited(request, rendered):
    """Last, with the whole module: every page template was rendered by one of the tests above, so a new
    page cannot go unchecked. (Rendered is not checked, but each test above checks the pages it opens.)"""
    module = request.node.parent
    selected = {item.name for item in request.session.items if item.parent is module}
    if selected != {item.name for item in module.collect()}:
        pytest.skip("judges only a run of the whole module")

    assert PAGE_TEMPLATES - rendered() == set()
