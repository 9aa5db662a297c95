"""The walk-in queue in a real browser: a caller joins the demo's support line and sees their place; a
clinician on duty, whose schedule was open before the caller came, sees them wait without reloading,
takes them and gets the call's host link; the caller's page, never reloaded by hand, turns into a join
button by its own polling."""

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, expect
from sqlalchemy import create_engine, select, update

from clinic.audit import SYSTEM
from clinic.extensions import db
from clinic.models import Clinician, EntryStatus, StaffRole, WalkInEntry, utcnow
from clinic.staff.members import StaffMember
from clinic.walkin.send_back import send_back
from clinic.walkin.take import take_next
from tests import factories
from tests.conftest import PRODUCTION_SETTINGS, build_app

from .accessibility import small_targets, violations
from .conftest import VIDEO_SERVICE, WALK_IN_CLINICIAN, WALK_IN_SLUG, LiveApp, screenshot, sign_in
from .patient import join_walk_in_queue

# The caller's page asks every CLINIC_WALK_IN_REFRESH_SECONDS (15): once for the take, once more for
# the meeting the worker makes.
TURNS_WITHIN_MS = 60_000
# The schedule asks for its changing parts every 15 s (schedule.js): its clock is moved on past that.
SCHEDULE_ASKS_EVERY_MS = 15_000
# As does a caller's page for their place (walk_in.js, CLINIC_WALK_IN_REFRESH_SECONDS).
CALLER_ASKS_EVERY_MS = 15_000


def test_a_caller_joins_the_queue_and_a_clinician_on_duty_takes_them(live_app, new_page):
    caller, staff = new_page(), new_page()
    sign_in(staff, "walk-in clinician")
    staff.clock.install()
    staff.goto("/schedule/")
    panel = staff.locator("section.walk-in-panel")
    assert panel.get_by_text("Nobody is waiting.").is_visible()

    join_walk_in_queue(caller, WALK_IN_SLUG, "Ada Lovelace", "ada.walk-in@example.org")
    assert caller.get_by_role("heading", name="You are number 1 in the queue").is_visible()
    place = caller.url
    caller.evaluate("window.loadedOnce = true")  # gone if the page reloads
    screenshot(caller, "walk-in-caller-waiting")

    staff.clock.run_for(SCHEDULE_ASKS_EVERY_MS)
    panel.get_by_text("1 waiting").wait_for(timeout=10_000)  # stayed "Nobody is waiting" before the fix
    panel.get_by_role("button", name="Take next").click()

    staff.get_by_role("heading", name=re.compile("^Ada Lovelace")).wait_for()
    assert staff.get_by_text("You took Ada Lovelace from the queue.").is_visible()
    assert staff.locator("dl.summary").get_by_text(WALK_IN_CLINICIAN).is_visible()
    screenshot(staff, "walk-in-clinician-took-the-caller")

    join = caller.get_by_role("button", name="Join the video call")
    join.wait_for(timeout=TURNS_WITHIN_MS)
    assert caller.url == place
    # Read out where it appears (a live region there from the start: a page that reloads restarts a
    # screen reader at the top), named in the title, with the time to answer in words.
    assert caller.evaluate("window.loadedOnce") is True
    assert join.evaluate("button => button.closest('[aria-live]') !== null")
    assert caller.title().startswith("It is your turn – ")
    assert "Please join within 3 minutes" in caller.locator("main").inner_text()
    screenshot(caller, "walk-in-caller-called")

    host = _sent_on_to(staff.get_by_role("button", name="Start call"))
    guest = _sent_on_to(join)
    assert host.startswith(VIDEO_SERVICE) and guest.startswith(VIDEO_SERVICE)


def _sent_on_to(button: Locator) -> str:
    """Where the button's form sends the browser. Both go on to the video service, which is not on this
    machine (see the clinician's journey in test_staff_journeys.py), so the form is posted as sent."""
    action = button.evaluate("button => button.form.action")
    token = button.evaluate("button => button.form.elements.csrf_token.value")
    sent = button.page.request.post(action, form={"csrf_token": token}, max_redirects=0)
    assert sent.status == 303, sent.status
    return sent.headers["location"]


def _close_out(live_app: LiveApp, name: str) -> None:
    """The waiting caller `name` is closed out, as the worker does to those waiting at closing time."""
    engine = create_engine(live_app.database_url)
    waiting = (WalkInEntry.name == name) & (WalkInEntry.status == EntryStatus.WAITING)
    with engine.begin() as connection:
        connection.execute(
            update(WalkInEntry).where(waiting).values(status=EntryStatus.CLOSED, ended_at=utcnow())
        )
    engine.dispose()


def test_a_callers_page_redrawn_to_closed_keeps_nothing_of_the_place_it_no_longer_has(live_app, new_page):
    """Redrawn by its script to "The queue has closed", the page still said "Come back to your place…
    Keep it private" with the private link, how to get ready and the camera check, which the page drawn
    by the server (without JavaScript) no longer has."""
    caller = new_page()
    caller.clock.install()
    join_walk_in_queue(caller, WALK_IN_SLUG, "Grace Closed", "grace.walk-in@example.org")
    assert caller.get_by_role("heading", name="Come back to your place").is_visible()

    _close_out(live_app, "Grace Closed")
    caller.clock.run_for(CALLER_ASKS_EVERY_MS)

    caller.get_by_role("heading", name="The queue has closed").wait_for(timeout=10_000)
    main = caller.locator("main")
    for gone in ("Come back to your place", "Keep it private", "How to get ready", "Check your camera"):
        assert gone not in main.inner_text(), gone
    assert caller.locator(".link-to-copy").count() == 0
    assert caller.get_by_role("link", name="Book a consultation").is_visible()
    screenshot(caller, "walk-in-caller-closed-out")


def test_a_caller_whose_connection_drops_is_told_their_page_is_not_updating_until_it_is(live_app, new_page):
    caller = new_page()
    caller.clock.install()
    join_walk_in_queue(caller, WALK_IN_SLUG, "Olive Offline", "olive.walk-in@example.org")
    notice = caller.locator("[data-not-updating]")
    try:
        caller.context.set_offline(True)
        caller.clock.run_for(CALLER_ASKS_EVERY_MS)
        expect(notice).to_have_text(re.compile("This page is not updating: check your connection"))
        assert notice.is_visible() and notice.get_attribute("role") == "status"
        screenshot(caller, "walk-in-caller-offline")

        caller.context.set_offline(False)
        caller.clock.run_for(2 * CALLER_ASKS_EVERY_MS)  # it asks again less often while answers fail
        expect(notice).to_have_text("")
        assert not notice.is_visible()
    finally:
        caller.context.set_offline(False)
        caller.get_by_role("link", name="Leave the queue").click()
        caller.get_by_role("button", name="Yes, leave the queue").click()


def _in_process(live_app: LiveApp, folder: Path, act: Callable[[WalkInEntry], object], name: str) -> None:
    """`act` on the caller `name`'s place, through Clinic's services in this process on the live app's
    database (with its audit key, so its chain stays whole); the live worker does what they queue."""
    app = build_app(live_app.database_url, str(folder), AUDIT_KEY=PRODUCTION_SETTINGS["AUDIT_KEY"])
    with app.app_context():
        try:
            act(db.session.scalar(select(WalkInEntry).where(WalkInEntry.name == name)))
        finally:
            db.session.remove()
            db.engine.dispose()


def _taken_by_a_new_colleague(entry: WalkInEntry) -> None:
    """The caller taken by a clinician who joins the queue's duty for it: the walk-in clinician may still
    be in a call an earlier journey left open, which refuses their take."""
    queue = entry.queue
    colleague = Clinician(
        department=queue.department,
        display_name=f"Dr Duty {entry.reference}",
        email=f"duty.{entry.reference.lower()}@hospital.example",
        time_zone="Europe/London",
    )
    db.session.add(colleague)
    queue.staff.append(colleague)
    db.session.commit()
    login = factories.linked_staff(db.session, colleague, StaffRole.CLINICIAN, email=colleague.email)
    member = StaffMember(login.id, StaffRole.CLINICIAN, clinician_id=colleague.id)
    taken = take_next(db.session, queue.id, member, now=utcnow())
    assert taken.entry.id == entry.id


def _sent_back(entry: WalkInEntry) -> None:
    """The caller's call called off and they sent back to the front of the queue, as the worker's round
    does to a caller whose call nobody started in time."""
    send_back(db.session, entry, utcnow(), SYSTEM)
    db.session.commit()


def test_a_callers_page_opened_again_from_the_call_shows_them_sent_back_to_the_queue(
    live_app, new_page, tmp_path
):
    """The caller pressed join, then came back to their place's page (the call's tab closed, nobody in it),
    and the call was called off: they were sent back to the front of the queue. Drawn "in the call", the
    page asked nothing more (walk_in.js was left out of it) and went on saying "It is your turn" while
    they waited, to be called again unseen."""
    caller = new_page()
    join_walk_in_queue(caller, WALK_IN_SLUG, "Reg Returned", "reg.walk-in@example.org")
    _in_process(live_app, tmp_path, _taken_by_a_new_colleague, "Reg Returned")
    join = caller.get_by_role("button", name="Join the video call")
    join.wait_for(timeout=TURNS_WITHIN_MS)
    _sent_on_to(join)  # in the call now
    caller.clock.install()
    caller.reload()
    caller.get_by_role("heading", name="You have joined the call").wait_for()

    _in_process(live_app, tmp_path, _sent_back, "Reg Returned")
    caller.clock.run_for(CALLER_ASKS_EVERY_MS)

    waiting = caller.get_by_role("heading", name=re.compile(r"^You are number \d+ in the queue"))
    waiting.wait_for(timeout=10_000)
    assert not caller.get_by_role("button", name="Join the video call").count()
    caller.get_by_role("link", name="Leave the queue").click()
    caller.get_by_role("button", name="Yes, leave the queue").click()


def test_a_callers_page_whose_pass_lapsed_while_the_phone_slept_opens_their_place_again(live_app, new_page):
    """A caller waiting a long while, their phone asleep past the patient session's idle time
    (PATIENT_SESSION_IDLE_MINUTES), came back to a page whose pass to their place had lapsed: every ask was
    refused (404), which the page took for a dropped connection, "This page is not updating: check your
    connection", for ever, while their turn came and went unseen. It says what happened and opens the
    place again from the link it shows (the caller gave a phone number: no e-mail holds it)."""
    caller = new_page()
    caller.clock.install()
    join_walk_in_queue(caller, WALK_IN_SLUG, "Sylvia Slept", "+44 7700 900777")
    place = caller.url
    caller.context.clear_cookies()  # what the server sees of a pass past its idle time: none

    caller.clock.run_for(CALLER_ASKS_EVERY_MS)

    section = caller.locator("[data-walk-in]")
    section.get_by_role("heading", name="This page has stopped updating").wait_for(timeout=10_000)
    assert "check your connection" not in caller.locator("main").inner_text()
    assert section.get_by_text("You are number").count() == 0  # no longer said: it may be out of date
    assert violations(caller, patient=True) == {} and small_targets(caller) == []
    screenshot(caller, "walk-in-caller-pass-lapsed")
    section.get_by_role("link", name="Open my place again").click()
    caller.get_by_role("heading", name=re.compile(r"^You are number \d+ in the queue")).wait_for()
    assert caller.url == place
    caller.get_by_role("link", name="Leave the queue").click()
    caller.get_by_role("button", name="Yes, leave the queue").click()
