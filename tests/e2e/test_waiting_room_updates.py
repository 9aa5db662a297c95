"""A patient waiting in an open room sees what staff change meanwhile, without doing anything: handed to
another clinician when theirs phoned in sick, their page names the new one; moved later, it counts down
again. Before the room opens, their countdown follows a move or a cancellation (waiting_room.js, both)."""

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path

from playwright.sync_api import Page
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from clinic.audit import Actor
from clinic.booking.countdown import duration_words
from clinic.extensions import db
from clinic.models import Clinician, Consultation, StaffUser, utcnow
from clinic.scheduling.errors import SlotUnavailable
from clinic.scheduling.lifecycle import cancel, reschedule
from tests import factories
from tests.conftest import PRODUCTION_SETTINGS, build_app

from .accessibility import small_targets, violations
from .conftest import AUDIT_CHECK_IN, LOGINS, LiveApp
from .patient import (
    CHANGEABLE_TIME,
    Booked,
    book,
    new_patient,
    open_manage_link,
    summary_value,
    wait_for_mail,
)
from .test_focus import _open_the_room_now

# How often a countdown asks whether its booking has changed, and a little more.
COUNTDOWN_ASKS_EVERY_MS = 61_000


def _hand_to_another_clinician(database_url: str, reference: str) -> str:
    """Give the consultation to another clinician, as staff's move does (its own tests show the move);
    the new clinician's name."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            consultation = session.scalar(select(Consultation).where(Consultation.reference == reference))
            other = session.scalar(
                select(Clinician).where(Clinician.id != consultation.clinician_id).order_by(Clinician.id)
            )
            consultation.clinician_id = other.id
            session.commit()
            return other.display_name
    finally:
        engine.dispose()


def test_the_open_waiting_room_names_the_new_clinician_without_a_reload(live_app, new_page):
    page = new_page()
    patient = new_patient("Handover Example")
    latest = lambda page: page.locator(CHANGEABLE_TIME).last  # noqa: E731
    booked = book(page, patient, service=AUDIT_CHECK_IN, choose=latest)
    wait_for_mail(live_app.mail, patient.email, "is booked", "REQUEST")
    _open_the_room_now(live_app.database_url, booked.reference)
    page.clock.install()
    open_manage_link(page, booked.manage_url)
    page.get_by_role("heading", name="Your waiting room is open").wait_for()
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    colleague = _hand_to_another_clinician(live_app.database_url, booked.reference)
    page.clock.fast_forward(31_000)

    region = page.locator("[data-room]")
    region.get_by_text(f"Your clinician, {colleague}, will join you").wait_for(timeout=10_000)
    assert page.evaluate("window.loadedOnce") is True


def _as_reception(live_app: LiveApp, folder: Path, reference: str, change: Callable[[int, Actor], object]):
    """What `change(consultation_id, actor)` returns, run through the scheduling services as the audit
    department's receptionist does from the schedule, in this process on the live app's database (with its
    audit key, so its chain stays whole); the live worker sends what it queues."""
    app = build_app(live_app.database_url, str(folder), AUDIT_KEY=PRODUCTION_SETTINGS["AUDIT_KEY"])
    with app.app_context():
        try:
            staff = db.session.scalar(
                select(StaffUser).where(StaffUser.email == LOGINS["audit receptionist"])
            )
            consultation = db.session.scalar(select(Consultation).where(Consultation.reference == reference))
            return change(consultation.id, Actor.staff(staff.id))
        finally:
            db.session.remove()
            db.engine.dispose()


def _moved_to(
    starts: Iterable[datetime], clinician_ids: list[int] | None = None
) -> Callable[[int, Actor], datetime]:
    """A staff move to the first of `starts` that one of `clinician_ids` (the audit clinicians if none) has
    free; the time moved to."""

    def move(consultation_id: int, actor: Actor) -> datetime:
        clinicians = (
            clinician_ids
            or db.session.scalars(
                select(Clinician.id).where(Clinician.display_name.like("Dr % Audit")).order_by(Clinician.id)
            ).all()
        )
        for start in starts:
            for clinician_id in clinicians:
                try:
                    reschedule(
                        db.session,
                        consultation_id,
                        start,
                        now=utcnow(),
                        actor=actor,
                        clinician_id=clinician_id,
                        enforce_cutoff=False,
                    )
                except SlotUnavailable:
                    continue
                return start
        raise AssertionError("no free time to move to")

    return move


def _moved_to_a_new_colleague(starts: Iterable[datetime]) -> Callable[[int, Actor], datetime]:
    """A staff move to the first of `starts`, with a colleague who joins the department for it, round the
    clock: the audit clinicians' times within the next minutes are the ones the suite's other journeys
    book first (first available, no notice), so by this test's turn none of them may be free."""

    def move(consultation_id: int, actor: Actor) -> datetime:
        consultation = db.session.get(Consultation, consultation_id)
        colleague = factories.clinician(
            db.session,
            [consultation.service],
            hours=[(clock(0), clock(0))],
            weekdays=range(7),
            display_name=f"Dr Sooner {consultation.reference}",
            email=f"sooner.{consultation.reference.lower()}@hospital.example",
        )
        db.session.commit()
        return _moved_to(starts, [colleague.id])(consultation_id, actor)

    return move


def _cancelled(consultation_id: int, actor: Actor) -> None:
    cancel(db.session, consultation_id, now=utcnow(), actor=actor, enforce_cutoff=False)


def _waiting_for_a_later_check_in(live_app: LiveApp, page: Page, name: str) -> Booked:
    """A check-in booked days ahead, its waiting room still shut, open on `page` with the test's clock."""
    patient = new_patient(name)
    latest = lambda page: page.locator(CHANGEABLE_TIME).last  # noqa: E731
    booked = book(page, patient, service=AUDIT_CHECK_IN, choose=latest)
    wait_for_mail(live_app.mail, patient.email, "is booked", "REQUEST")  # the meeting exists
    page.clock.install()  # before the page loads: its countdown then runs on the test's clock
    open_manage_link(page, booked.manage_url)
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    return booked


def _starts_at(page: Page) -> datetime:
    return datetime.fromisoformat(page.locator("[data-countdown]").get_attribute("data-starts-at"))


def test_a_countdown_moved_to_within_minutes_opens_the_room_without_waiting_for_the_old_time(
    live_app, new_page, tmp_path
):
    """Staff moved a booking days away to ten minutes from now: the page counted on to the old time, asking
    the server nothing until then, and the patient missed their call."""
    page = new_page()
    booked = _waiting_for_a_later_check_in(live_app, page, "Sooner Example")
    time_before = summary_value(page, "Time")
    soon = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=5)
    soon -= timedelta(minutes=soon.minute % 5)
    starts = [soon + timedelta(minutes=5 * n) for n in range(1, 3)]  # the room opens 15 minutes ahead

    _as_reception(live_app, tmp_path, booked.reference, _moved_to_a_new_colleague(starts))
    page.clock.fast_forward(COUNTDOWN_ASKS_EVERY_MS)

    page.locator("[data-room]").get_by_role("heading", name="Your waiting room is open").wait_for(
        timeout=10_000
    )
    assert page.get_by_role("link", name="Join the video call").is_visible()
    assert not page.locator("[data-countdown]").count()
    assert summary_value(page, "Time") != time_before
    assert page.get_by_role("status").filter(has_text="moved to a new time").is_visible()
    assert page.evaluate("window.loadedOnce") is True


def test_a_countdown_moved_later_counts_down_to_the_new_time(live_app, new_page, tmp_path):
    """Staff moved the booking a day later: at the old opening time the page still said "Starts in less than
    a minute", and asked again every 15 seconds for ever."""
    page = new_page()
    booked = _waiting_for_a_later_check_in(live_app, page, "Later Example")
    starts_before, time_before = _starts_at(page), summary_value(page, "Time")
    starts = [starts_before + timedelta(days=1, minutes=5 * n) for n in range(12)]

    moved_to = _as_reception(live_app, tmp_path, booked.reference, _moved_to(starts))
    page.clock.fast_forward(COUNTDOWN_ASKS_EVERY_MS)

    page.get_by_role("status").filter(has_text="moved to a new time").wait_for(timeout=10_000)
    assert _starts_at(page) == moved_to
    drawn_at = datetime.fromisoformat(page.locator("[data-countdown]").get_attribute("data-now"))
    assert page.locator("[data-countdown-value]").inner_text() == duration_words(moved_to - drawn_at)
    assert summary_value(page, "Time") != time_before
    assert page.evaluate("window.loadedOnce") is True


def test_a_countdown_to_a_cancelled_consultation_says_so_as_the_window_regains_focus(
    live_app, new_page, tmp_path
):
    """Staff cancelled the booking: the page went on counting down to a consultation that will not happen."""
    page = new_page()
    booked = _waiting_for_a_later_check_in(live_app, page, "Cancelled Example")

    _as_reception(live_app, tmp_path, booked.reference, _cancelled)
    page.clock.fast_forward(10_000)  # no turn of the countdown's own asking yet
    page.evaluate("window.dispatchEvent(new Event('focus'))")

    region = page.locator("[data-room]")
    region.get_by_role("heading", name="This consultation is cancelled").wait_for(timeout=10_000)
    assert not page.locator("[data-countdown]").count()
    assert not page.get_by_role("link", name="Cancel this consultation").count()
    assert page.evaluate("window.loadedOnce") is True


def test_an_open_waiting_room_moved_later_counts_down_to_the_new_time_again(live_app, new_page, tmp_path):
    """Staff moved the booking to days later after its waiting room had opened, the patient not checked in
    yet: the page went on saying "Your waiting room is open", its join button leading to "too early"."""
    page = new_page()
    booked = _waiting_for_a_later_check_in(live_app, page, "Reopened Example")
    starts_before = _starts_at(page)
    _open_the_room_now(live_app.database_url, booked.reference)
    page.reload()
    page.locator("[data-room]").get_by_role("heading", name="Your waiting room is open").wait_for()
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    time_before = summary_value(page, "Time")
    starts = [starts_before + timedelta(minutes=5 * n) for n in range(12)]

    moved_to = _as_reception(live_app, tmp_path, booked.reference, _moved_to(starts))
    page.clock.fast_forward(COUNTDOWN_ASKS_EVERY_MS)

    page.get_by_role("status").filter(has_text="moved to a new time").wait_for(timeout=10_000)
    assert not page.get_by_role("heading", name="Your waiting room is open").count()
    assert not page.get_by_role("link", name="Join the video call").count()
    assert _starts_at(page) == moved_to
    drawn_at = datetime.fromisoformat(page.locator("[data-countdown]").get_attribute("data-now"))
    assert page.locator("[data-countdown-value]").inner_text() == duration_words(moved_to - drawn_at)
    assert summary_value(page, "Time") != time_before
    assert page.evaluate("window.loadedOnce") is True


def test_a_waiting_room_whose_pass_lapsed_while_the_device_slept_says_to_open_the_link_again(
    live_app, new_page
):
    """The patient opened their room in the morning and their phone slept past the patient session's idle
    time (PATIENT_SESSION_IDLE_MINUTES), so the browser's pass to the booking lapsed. Woken as the room
    opened, the page went on saying "Starts in less than a minute", with no join button, for ever: every
    answer was the link's form, which the script took for a passing error. It says what happened and how
    to go on."""
    page = new_page()
    booked = _waiting_for_a_later_check_in(live_app, page, "Slept Example")
    page.context.clear_cookies()  # what the server sees of a pass past its idle time: none
    _open_the_room_now(live_app.database_url, booked.reference)

    page.clock.fast_forward(10_000)
    page.evaluate("window.dispatchEvent(new Event('focus'))")

    region = page.locator("[data-room]")
    region.get_by_role("heading", name="This page has stopped updating").wait_for(timeout=10_000)
    assert region.get_by_text("open the link in your e-mail again").is_visible()
    assert not page.locator("[data-countdown]").count()
    assert violations(page, patient=True) == {} and small_targets(page) == []
    region.get_by_role("link", name="Open this page again").click()
    page.get_by_role("heading", name="Open your booking").wait_for()
