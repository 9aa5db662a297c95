"""Where the focus goes, and what is read out, when a page changes under a keyboard or screen-reader user:
the camera check's buttons, the waiting room opening, a walk-in caller's turn, a time-zone search. The
focus is never left on <body> (WCAG 2.4.3), and a page never reloads itself (3.2.5)."""

from .conftest import AUDIT_CONSULTATION
from .patient import book, new_patient, open_manage_link
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
