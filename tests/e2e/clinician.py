"""What a clinician does in the browser with a consultation's note, step by step."""

from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Locator, Page

from .conftest import MIDDAY_ZONE, LiveApp, leave_idle, sign_in
from .patient import book, new_patient

SUBJECTIVE = "Sleeping better; panic attacks down to one a week."
PLAN = "Keep the breathing exercises; review in four weeks."
IDLE_MINUTES = 31  # one more than CLINIC_STAFF_IDLE_MINUTES


def open_notes(new_page, patient_name: str, **options) -> Page:
    """A page (`options` as for new_page) signed in as the clinician, on the notes page of a consultation
    a new patient just booked with her: a therapy session, whose times are hours ahead, none that another
    journey needs soon. Its clock runs as the real one until a test moves it on (page.clock)."""
    patient_page, page = new_page(), new_page(**options)
    page.clock.install()
    booked = book(
        patient_page, new_patient(patient_name), service="Therapy session", clinician="Dr Hannah Lewis"
    )
    patient_page.close()
    sign_in(page, "clinician")
    day = datetime.fromisoformat(booked.start.replace("Z", "+00:00")).astimezone(ZoneInfo(MIDDAY_ZONE)).date()
    page.goto(f"/schedule/?date={day.isoformat()}")
    page.get_by_role("link", name=f"Notes on {patient_name}'s consultation").click()
    page.get_by_role("heading", name="Start a note").wait_for()
    # The heading shows before the page's deferred scripts run, and they listen from DOMContentLoaded: a
    # note sent earlier would leave no copy in the tab (unsaved_note.js) for the journeys that expect one.
    page.wait_for_load_state()
    return page


def send_note_when_idle(live_app: LiveApp, page: Page, button: str = "Save draft") -> str:
    """Type a note, stay idle past the timeout, press `button`: on the sign-in page, whose text this is."""
    page.get_by_label("Subjective").fill(SUBJECTIVE)
    page.get_by_label("Plan").fill(PLAN)
    leave_idle(live_app, "clinician", IDLE_MINUTES)
    page.get_by_role("button", name=button).click()
    page.wait_for_url("**/login?next=*")
    return page.locator("main").inner_text()


def warned_before_the_idle_sign_out(live_app: LiveApp, page: Page) -> Locator:
    """The warning a page shows two minutes before the idle sign-out, once nothing has happened for 28
    minutes: on the server (the session's last_seen_at) and on the page (its clock moved on)."""
    leave_idle(live_app, "clinician", 28)
    page.clock.fast_forward("28:00")
    warning = page.get_by_role("dialog", name="Are you still there?")
    warning.wait_for()
    return warning
