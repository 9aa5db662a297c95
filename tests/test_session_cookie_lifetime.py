"""How long a browser's session cookie opens anything. A patient has no account: their session keeps the
passes of the bookings and places they made or opened in this browser, often a shared computer or a kiosk
at the hospital. Staff sessions follow their own rules (clinic/staff/sessions.py) in the database."""

import time

from flask import Flask
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from clinic.models import StaffRole

from . import factories
from .test_booking_pages import next_week_at
from .test_manage_link import book, open_link, service
from .test_schedule import login

__all__ = ["service"]  # a fixture shared with its own test file


def age_cookie(app: Flask, client, seconds: int) -> None:
    """Make the browser's session cookie as the app last signed it `seconds` ago: its own content, signed
    by the app's own key and serializer, only with an older timestamp."""
    interface = app.session_interface
    content = interface.get_signing_serializer(app).loads(client.get_cookie("session").value)

    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - seconds

    then = URLSafeTimedSerializer(
        app.secret_key,
        salt=interface.salt,
        serializer=interface.serializer,
        signer=Then,
        signer_kwargs={"key_derivation": interface.key_derivation, "digest_method": interface.digest_method},
    )
    client.set_cookie("session", then.dumps(dict(content)))


def test_a_patients_session_is_a_browser_session_forgotten_an_hour_after_its_last_page(
    app, client, session, service
):
    """The cookie had no Expires, but the app took it back for Flask's 31 days: on a kiosk whose browser
    is never closed, or one restoring its last session, the next person opened the last patient's booking
    from "your bookings in this browser" for a month."""
    booked = book(session, service, next_week_at(10))
    landing = open_link(client, booked)
    set_cookie = landing.headers["Set-Cookie"].lower()
    page = client.get(landing.location)

    age_cookie(app, client, 59 * 60)
    within = client.get(landing.location)
    age_cookie(app, client, 61 * 60)
    after = client.get(landing.location)

    assert page.status_code == 200 and "expires=" not in set_cookie and "max-age" not in set_cookie
    assert "Dr Tom Whitfield" in within.get_data(as_text=True)  # the booking, opened by the pass
    assert "session=" in within.headers.get("Set-Cookie", "")  # signed again: its hour counts from now
    assert "Dr Tom Whitfield" not in after.get_data(as_text=True)


def test_a_staff_sign_in_is_kept_by_its_own_rules_not_the_patients_hour(app, client, session):
    department = factories.department(session)
    session.commit()
    login(session, client, StaffRole.RECEPTION, department_id=department.id)
    age_cookie(app, client, 3 * 3600)  # signed in three hours ago, active since

    assert client.get("/schedule/").status_code == 200
