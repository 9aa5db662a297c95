"""The staff day as it updates itself (schedule.js asks for its changing parts every 15 s), in a real browser
as a screen reader meets it: only news is said (a caller newly waiting, not a minute passing), and only
what changed is changed, so a reader's place in the page and a keyboard's focus stay where they were."""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Locator, Page, expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from clinic.models import EntryStatus, WalkInEntry

from .conftest import MIDDAY_ZONE, ON_CALL_SERVICE, WALK_IN_SLUG, LiveApp, sign_in
from .patient import Booked, book, cancel, join_walk_in_queue, new_patient

SCHEDULE_ASKS_EVERY_MS = 15_000  # schedule.js: the page's clock is moved on past it
CLINICIAN = "Dr Hannah Lewis"  # the "clinician" login's, on call round the clock
# From now on: each text put inside a live region (what a screen reader says), in window.said; and the
# elements of the day's changing parts as they are now, in window.drawn, but for those inside the elements
# matching `changing` (whose insides are to change).
_WATCH = """changing => {
  window.said = [];
  const live = '[aria-live]:not([aria-live="off"]), [role=status], [role=alert], [role=log]';
  new MutationObserver(records => records.forEach(record => {
    const at = record.target.nodeType === Node.ELEMENT_NODE ? record.target : record.target.parentElement;
    const added = record.type === 'characterData'
      ? record.target.data : Array.from(record.addedNodes, node => node.textContent).join('');
    if (at.closest(live) && added.trim()) window.said.push(added.trim());
  })).observe(document.body, {subtree: true, childList: true, characterData: true});
  window.drawn = Array.from(document.querySelectorAll('[data-updates] *'))
    .filter(element => !(changing && element.parentElement.closest(changing)));
}"""
_REPLACED = "() => window.drawn.filter(e => !e.isConnected).map(e => e.outerHTML.slice(0, 80))"


def watch(page: Page, changing: str = "") -> None:
    page.evaluate(_WATCH, changing)


def said(page: Page) -> list[str]:
    return page.evaluate("() => window.said")


def replaced(page: Page) -> list[str]:
    """The elements drawn when the watch began that are no longer in the page: put in again, or gone."""
    return page.evaluate(_REPLACED)


def test_a_minute_passing_says_nothing_and_a_new_caller_is_said_once(live_app, new_page):
    """The walk-in panel was a live region drawn whole: each minute ("the first for 6 minutes") a screen
    reader read all of it out again, for every queue."""
    staff, first, second = new_page(), new_page(), new_page()
    sign_in(staff, "walk-in clinician")
    staff.clock.install()
    try:
        join_walk_in_queue(first, WALK_IN_SLUG, "Mary Seacole", "mary.walk-in@example.org")
        staff.goto("/schedule/")
        waiting = staff.locator("section.walk-in-panel p").first
        expect(waiting).to_contain_text("1 waiting")
        watch(staff)

        shown = waiting.inner_text()
        _wait_a_minute_longer(live_app, "Mary Seacole")
        staff.clock.run_for(SCHEDULE_ASKS_EVERY_MS)
        expect(waiting).not_to_have_text(shown, timeout=10_000)  # "the first for 1 minute"
        after_a_minute = (said(staff), replaced(staff))

        join_walk_in_queue(second, WALK_IN_SLUG, "Edith Cavell", "edith.walk-in@example.org")
        staff.clock.run_for(SCHEDULE_ASKS_EVERY_MS)
        expect(waiting).to_contain_text("2 waiting", timeout=10_000)
    finally:
        for caller in (first, second):
            _leave_the_queue(caller)

    assert after_a_minute == ([], [])
    assert len(said(staff)) == 1 and "2 waiting" in said(staff)[0]


def test_a_changed_consultation_changes_in_its_row_and_the_rest_stays(live_app, new_page):
    """A booking cancelled and another made while the clinician's day is open: the table was put in
    again whole, under a screen reader's reading place (only the keyboard's focus was kept)."""
    day = datetime.now(ZoneInfo(MIDDAY_ZONE)).date() + timedelta(days=4)  # on the first page of times

    def book_at(name: str, hour: int, minute: int) -> Booked:
        return _book(new_page(), name, day, hour, minute)

    book_at("Ada Kept", 10, 0)
    cancelled = book_at("Ben Called Off", 11, 0)
    staff = _clinicians_schedule(new_page(), f"/schedule/?date={day.isoformat()}")
    rows = staff.locator("table.schedule tbody tr")
    ben = rows.filter(has_text="Ben Called Off").get_attribute("data-consultation")
    watch(staff, changing=f"tr[data-consultation='{ben}']")  # its status and actions are to change

    cancel(new_page(), cancelled.manage_url)
    book_at("Cleo Made", 10, 30)  # between the two
    staff.clock.run_for(SCHEDULE_ASKS_EVERY_MS)
    expect(rows.filter(has_text="Cleo Made")).to_have_count(1, timeout=10_000)

    assert rows.filter(has_text="Ben Called Off").locator("[data-status]").inner_text() == "Cancelled"
    assert rows.filter(has_text="Ada Kept").locator("[data-status]").inner_text() == "Booked"
    assert (said(staff), replaced(staff)) == ([], [])


def test_the_week_changes_what_changed_in_its_items_as_the_day_does(live_app, new_page):
    """The week was drawn once: a call that stalled (or a booking cancelled) showed only on a reload. It
    asks for its changing part as the day does, and changes only what changed."""
    day = datetime.now(ZoneInfo(MIDDAY_ZONE)).date() + timedelta(days=5)

    _book(new_page(), "Dora Kept", day, 10)
    called_off = _book(new_page(), "Eli Gone", day, 11)
    staff = _clinicians_schedule(new_page(), f"/schedule/week?date={day.isoformat()}")
    items = staff.locator("ul.week-list li")
    eli = items.filter(has_text="Eli Gone").get_attribute("data-consultation")
    watch(staff, changing=f"li[data-consultation='{eli}']")  # its status is to change

    cancel(new_page(), called_off.manage_url)
    staff.clock.run_for(SCHEDULE_ASKS_EVERY_MS)
    status = items.filter(has_text="Eli Gone").locator("[data-status]")
    expect(status).to_have_text("Cancelled", timeout=10_000)

    assert items.filter(has_text="Dora Kept").locator("[data-status]").inner_text() == "Booked"
    assert (said(staff), replaced(staff)) == ([], [])


def _clinicians_schedule(staff: Page, address: str) -> Page:
    """The on-call clinician's schedule at `address`, on a clock the test moves."""
    sign_in(staff, "clinician")
    staff.clock.install()
    staff.goto(address)
    return staff


def _book(patient: Page, name: str, day: date, hour: int, minute: int = 0) -> Booked:
    """`name` books the on-call clinician at `hour`:`minute` on `day`, in their zone, on `patient`'s page."""
    chosen = _clinicians_time(day, hour, minute)
    return book(patient, new_patient(name), service=ON_CALL_SERVICE, clinician=CLINICIAN, choose=chosen)


def _clinicians_time(day: date, hour: int, minute: int) -> Callable[[Page], Locator]:
    """The radio of `hour`:`minute` on `day` in the on-call clinicians' zone, on a page of times."""
    at = datetime.combine(day, time(hour, minute), ZoneInfo(MIDDAY_ZONE)).astimezone(UTC)
    return lambda page: page.locator(f"input[name=start][value='{at:%Y-%m-%dT%H:%MZ}']")


def _wait_a_minute_longer(live_app: LiveApp, name: str) -> None:
    """As a minute passing does for the walk-in panel: the waiting caller `name` joined a minute earlier."""
    engine = create_engine(live_app.database_url)
    try:
        with Session(engine) as session:
            entry = session.scalars(
                select(WalkInEntry).where(WalkInEntry.name == name, WalkInEntry.status == EntryStatus.WAITING)
            ).one()
            entry.joined_at -= timedelta(minutes=1)
            session.commit()
    finally:
        engine.dispose()


def _leave_the_queue(caller: Page) -> None:
    """The caller leaves from their place's page (if they joined): the queue is as empty as before (the
    walk-in journey counts on being first)."""
    leave = caller.get_by_role("link", name="Leave the queue")
    if leave.count():
        leave.click()
        caller.get_by_role("button", name="Yes, leave the queue").click()
        caller.get_by_role("link", name="Join the queue again").wait_for()
