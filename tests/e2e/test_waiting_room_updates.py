"""A patient waiting in an open room sees what staff change meanwhile, without doing anything: handed to
another clinician when theirs phoned in sick, their page names the new one (room_updates.js)."""

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from clinic.models import Clinician, Consultation

from .conftest import AUDIT_CHECK_IN
from .patient import CHANGEABLE_TIME, book, new_patient, open_manage_link, wait_for_mail
from .test_focus import _open_the_room_now


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
