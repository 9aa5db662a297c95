"""A patient's form sent after its page expired (its CSRF token older than WTF_CSRF_TIME_LIMIT, or the
session that drew it gone): the page again, what was typed kept, a fresh token and the reason beside the
form; nothing booked or changed until it is sent again."""

import html
import re
from datetime import timedelta

import pytest
from flask import g
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from clinic.booking.calendar import form_value
from clinic.models import (
    ConsultationStatus,
    OfferStatus,
    OutboxMessage,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
    WalkInEntry,
)
from clinic.scheduling.tokens import offer_link, offer_token, waitlist_token

from . import factories
from .browser_forms import form_values
from .conftest import TEST_KEYS, TEST_SECRET
from .test_booking_pages import booking_form, consultations, next_week_at, text
from .test_booking_pages import clinic as clinic
from .test_companion_pages import with_companion
from .test_manage_link import book, follow, open_link, reloaded
from .test_manage_link import service as service
from .test_session_cookie_lifetime import age_cookie
from .test_waiting_room_pages import starting_in
from .test_waitlist_pages import offered as offered_from_the_waitlist
from .test_waitlist_pages import waitlist_form
from .test_walk_in_pages import CALLER

# Said beside the form shown again.
MESSAGE = "This page was open for too long and has expired, so nothing was done."
# What the patient types on the details page; the rest of its form is drawn.
TYPED = (
    "name",
    "email",
    "phone",
    "reason",
    "consent",
    "birth_date-day",
    "birth_date-month",
    "birth_date-year",
)


@pytest.fixture
def with_csrf(app):
    """CSRF protection on, as in production (the other tests leave it off). Flask-WTF keeps a request's
    token, and whether it was valid, in `g`, which is the app context's: the `app` fixture holds one context
    for the whole test, so each request forgets them here, as each has a context of its own in production."""
    app.config["WTF_CSRF_ENABLED"] = True

    @app.teardown_request
    def forget_the_requests_token(_error: BaseException | None) -> None:
        g.pop("csrf_token", None)
        g.pop("csrf_valid", None)


def expired(sent: dict[str, str], app) -> dict[str, str]:
    """The form as sent after its page stayed open a minute past WTF_CSRF_TIME_LIMIT: Flask-WTF's token is
    the session's own, signed with the time its page was drawn."""
    age = app.config["WTF_CSRF_TIME_LIMIT"] + 60

    class DrawnThen(TimestampSigner):
        def get_timestamp(self) -> int:
            return super().get_timestamp() - age

    salt = "wtf-csrf-token"  # Flask-WTF's
    session_token = URLSafeTimedSerializer(TEST_SECRET, salt=salt).loads(sent["csrf_token"])
    token = URLSafeTimedSerializer(TEST_SECRET, salt=salt, signer=DrawnThen).dumps(session_token)
    return {**sent, "csrf_token": token}


def shown_again(response, sent: dict[str, str], action: str) -> dict[str, str]:
    """What the page shown again sends: the form as it was sent, but with a fresh CSRF token."""
    assert response.status_code == 400
    page = text(response)
    assert re.search(rf'class="error-summary".*{re.escape(MESSAGE)}', page, re.DOTALL)
    again = form_values(page, action, "post")
    assert again["csrf_token"] != sent["csrf_token"]
    assert {**again, "csrf_token": ""} == {**sent, "csrf_token": ""}
    return again


def details_typed(client, service, **typed) -> dict[str, str]:
    """The details page's form for a time next week, drawn, then filled in as the patient types it."""
    filled = booking_form(service, next_week_at(11), **typed)
    choices = {name: filled[name] for name in ("service", "clinician", "time_zone", "start")}
    drawn = form_values(text(client.get("/book/details", query_string=choices)), "/book/details")
    return {**drawn, **{name: filled[name] for name in TYPED}}


def opened(app, client, booked) -> str:
    """The booking's page opened from its link (whose own form is not what these tests are about)."""
    app.config["WTF_CSRF_ENABLED"] = False
    open_link(client, booked)
    app.config["WTF_CSRF_ENABLED"] = True
    return f"/c/{booked.consultation.reference}"


def test_details_sent_after_the_page_expired_are_shown_again_as_typed_and_book_nothing(
    app, client, session, with_csrf, clinic
):
    sent = expired(details_typed(client, clinic[0], reason="Knee pain"), app)

    again = shown_again(client.post("/book/details", data=sent), sent, "/book/details")
    review = client.post("/book/details", data=again)

    assert consultations(session) == 0
    assert review.status_code == 200 and "Check and confirm your booking" in text(review)


def test_a_confirmation_sent_after_the_review_page_expired_is_shown_again_and_books_once_sent_again(
    app, client, session, with_csrf, clinic
):
    review = client.post("/book/details", data=details_typed(client, clinic[0]))
    sent = expired(form_values(text(review), "/book/confirm"), app)

    again = shown_again(client.post("/book/confirm", data=sent), sent, "/book/confirm")
    assert consultations(session) == 0
    booked = client.post("/book/confirm", data=again)

    assert booked.status_code == 303 and consultations(session) == 1


def test_a_cancellation_sent_after_its_page_expired_is_shown_again_and_cancels_nothing(
    app, client, session, with_csrf, service
):
    booked = book(session, service, next_week_at(10))
    address = f"{opened(app, client, booked)}/cancel"
    sent = expired({**form_values(text(client.get(address)), address), "reason": "Feeling better"}, app)

    again = shown_again(client.post(address, data=sent), sent, address)
    assert reloaded(session, booked).status is ConsultationStatus.BOOKED
    done = client.post(address, data=again)

    assert done.status_code == 303 and reloaded(session, booked).status is ConsultationStatus.CANCELLED


def test_a_move_sent_after_its_page_expired_is_shown_again_with_its_time_chosen_and_moves_nothing(
    app, client, session, with_csrf, service
):
    old, new = next_week_at(10), next_week_at(14)
    booked = book(session, service, old)
    address = f"{opened(app, client, booked)}/reschedule"
    picker = text(client.get(address, query_string={"day": new.date().isoformat()}))
    sent = expired({**form_values(picker, address, "post"), "start": form_value(new)}, app)

    again = shown_again(client.post(address, data=sent), sent, address)
    assert reloaded(session, booked).starts_at == old
    moved = client.post(address, data=again)

    assert moved.status_code == 303 and reloaded(session, booked).starts_at == new


def test_a_form_sent_after_the_browser_lost_its_session_is_shown_again_too(
    app, client, session, with_csrf, clinic
):
    """A browser closed and its tabs restored, or its session forgotten after
    PATIENT_SESSION_IDLE_MINUTES: the session that held the page's token is gone."""
    sent = details_typed(client, clinic[0])
    client.delete_cookie("session")

    again = shown_again(client.post("/book/details", data=sent), sent, "/book/details")

    assert "Check and confirm your booking" in text(client.post("/book/details", data=again))
    assert consultations(session) == 0


def test_asking_for_the_link_again_after_the_page_expired_shows_that_page_again_and_sends_nothing(
    app, client, session, with_csrf, clinic
):
    factories.clinician(session, [clinic[0]])  # the time stays free after the patient booked it
    session.commit()
    review = client.post("/book/details", data=details_typed(client, clinic[0]))
    client.post("/book/confirm", data=form_values(text(review), "/book/confirm"))
    client.delete_cookie("session")  # another browser: not the one that holds the booking's link
    again = client.post("/book/details", data=details_typed(client, clinic[0]))
    held = client.post("/book/confirm", data=form_values(text(again), "/book/confirm"))
    asked = expired(form_values(text(held), "/book/resend-link"), app)
    messages = session.scalar(select(func.count(OutboxMessage.id)))

    page = shown_again(client.post("/book/resend-link", data=asked), asked, "/book/resend-link")

    assert held.status_code == 409 and "E-mail me the link again" in text(held)
    assert session.scalar(select(func.count(OutboxMessage.id))) == messages
    assert client.post("/book/resend-link", data=page).status_code == 200


# Said on the booking's page that asks for the link again, when the session that held it was closed.
CLOSED = "For your safety, your booking was closed in this browser after a time without use"


@pytest.mark.parametrize(
    ("page", "sent"),
    [("cancel", {"reason": "Feeling better"}), ("reschedule", {"start": form_value(next_week_at(14))})],
)
@pytest.mark.parametrize("how", ["sent", "reloaded"])
def test_a_change_after_the_session_closed_as_idle_leads_to_the_link_again_and_changes_nothing(
    app, client, session, with_csrf, service, page, sent, how
):
    """The session forgotten after PATIENT_SESSION_IDLE_MINUTES took the booking's pass with it: the cancel
    or move form sent (refused by its token, so drawn again, which met the pass check) or its page reloaded
    answered 404 "No booking matches this link". It now leads to the booking's page asking for the link or
    code, which says why; opened again, the change can be made."""
    old = next_week_at(10)
    booked = book(session, service, old)
    address = f"{opened(app, client, booked)}/{page}"
    form = {
        **form_values(
            text(client.get(address, query_string={"day": old.date().isoformat()})), address, "post"
        ),
        **sent,
    }
    age_cookie(app, client, (app.config["PATIENT_SESSION_IDLE_MINUTES"] + 1) * 60)

    answer = client.post(address, data=form) if how == "sent" else client.get(address)

    manage = f"/c/{booked.consultation.reference}"
    assert (answer.status_code, answer.location) == (303, manage)
    asking = client.get(manage)
    assert "Open your booking" in text(asking) and CLOSED in text(asking)
    consultation = reloaded(session, booked)
    assert (consultation.status, consultation.starts_at) == (ConsultationStatus.BOOKED, old)
    token = {**form_values(text(asking), ""), "code": booked.manage_token}
    assert client.post(manage, data=token).location == manage
    again = form_values(
        text(client.get(address, query_string={"day": old.date().isoformat()})), address, "post"
    )
    assert client.post(address, data={**again, **sent}).status_code == 303
    changed = reloaded(session, booked)
    assert (changed.status, changed.starts_at) != (ConsultationStatus.BOOKED, old)


def test_a_booking_page_never_opened_in_this_browser_asks_for_its_link_without_saying_it_was_closed(
    app, client, session, service
):
    booked = book(session, service, next_week_at(10))

    reference = booked.consultation.reference

    answer = client.get(f"/c/{reference}/cancel")
    polled = client.get(f"/c/{reference}/status", headers={"Accept": "application/json"})

    assert answer.status_code == 303
    assert CLOSED not in text(client.get(answer.location))
    assert polled.status_code == 404  # waiting_room.js reads it as the pass gone: the page says so


def room_opened(app, client, session, service) -> tuple[object, str, dict[str, str]]:
    """A booking whose waiting room is open, its page opened from the link: its "I'm here" form as drawn."""
    booked = starting_in(session, service, timedelta(minutes=10))
    room = opened(app, client, booked)
    address = f"{room}/check-in"
    return booked, address, form_values(text(client.get(room)), address, "post")


def test_a_check_in_after_the_session_closed_as_idle_leads_to_the_link_again_and_checks_in_nothing(
    app, client, session, with_csrf, service
):
    """The session forgotten after PATIENT_SESSION_IDLE_MINUTES (a device asleep in the waiting room) took the
    form's token and the booking's pass: "I'm here" answered the bare 400 page, with no way on."""
    booked, address, form = room_opened(app, client, session, service)
    age_cookie(app, client, (app.config["PATIENT_SESSION_IDLE_MINUTES"] + 1) * 60)

    answer = client.post(address, data=form)

    manage = f"/c/{booked.consultation.reference}"
    assert (answer.status_code, answer.location) == (303, manage)
    asking = client.get(manage)
    assert "Open your booking" in text(asking) and CLOSED in text(asking)
    assert reloaded(session, booked).status is ConsultationStatus.BOOKED
    client.post(manage, data={**form_values(text(asking), ""), "code": booked.manage_token})
    again = form_values(text(client.get(manage)), address, "post")
    assert client.post(address, data=again).status_code == 303
    assert reloaded(session, booked).status is ConsultationStatus.ARRIVED


def test_a_check_in_sent_after_its_page_expired_shows_the_room_again_and_checks_in_nothing(
    app, client, session, with_csrf, service
):
    """Its token older than WTF_CSRF_TIME_LIMIT, the pass still held: the room again, saying nothing was done,
    with a form that checks in."""
    booked, address, form = room_opened(app, client, session, service)

    sent = expired(form, app)

    answer = client.post(address, data=sent)

    assert answer.status_code == 400
    page = text(answer)
    assert "Your waiting room is open" in page and "you are not checked in. Press" in page
    assert re.search(r"<title>Error: Not checked in – Your booking ", page)
    assert reloaded(session, booked).status is ConsultationStatus.BOOKED
    again = form_values(page, address, "post")
    assert again["csrf_token"] != sent["csrf_token"]
    assert client.post(address, data=again).status_code == 303
    assert reloaded(session, booked).status is ConsultationStatus.ARRIVED


# Said on the offer's page that asks for its link again, when the session that held it was closed.
OFFER_CLOSED = "For your safety, this offer was closed in this browser after a time without use"


def offer_opened(app, client, session) -> tuple[object, str]:
    """A time offered from the waitlist, its page opened from the offer's link (CSRF off meanwhile)."""
    app.config["WTF_CSRF_ENABLED"] = False
    service = factories.service(session)
    factories.clinician(session, [service])
    session.commit()
    offer = offered_from_the_waitlist(session, client, service, next_week_at(10))
    landing = follow(client, offer_link(offer, base_url="http://localhost", keys=TEST_KEYS))
    app.config["WTF_CSRF_ENABLED"] = True
    return offer, landing.location


def offer_status(session, offer) -> OfferStatus:
    session.expire_all()
    return session.get(WaitlistOffer, offer.id).status


def test_an_offer_booked_after_the_session_closed_as_idle_leads_to_its_link_again_and_books_nothing(
    app, client, session, with_csrf
):
    """The offer's page left open past PATIENT_SESSION_IDLE_MINUTES (the offer lasts longer): "Book this
    time" answered the bare 400 page, and reloaded, 404 "No booking matches this link"."""
    offer, page = offer_opened(app, client, session)
    form = form_values(text(client.get(page)), f"{page}/book", "post")
    age_cookie(app, client, (app.config["PATIENT_SESSION_IDLE_MINUTES"] + 1) * 60)

    answer = client.post(f"{page}/book", data=form)

    assert (answer.status_code, answer.location) == (303, page)
    asking = client.get(page)
    assert "Open your offer" in text(asking) and OFFER_CLOSED in text(asking)
    assert offer_status(session, offer) is OfferStatus.OFFERED
    client.post(page, data={**form_values(text(asking), ""), "code": offer_token(TEST_KEYS, offer)})
    again = form_values(text(client.get(page)), f"{page}/book", "post")
    assert client.post(f"{page}/book", data=again).status_code == 303
    assert offer_status(session, offer) is OfferStatus.TAKEN


def test_an_offer_booked_after_its_page_expired_shows_the_offer_again_and_books_nothing(
    app, client, session, with_csrf
):
    offer, page = offer_opened(app, client, session)

    again = sent_expired_then_again(
        app,
        client,
        page,
        f"{page}/book",
        ("A time is free for you", "so nothing was booked"),
        lambda: offer_status(session, offer) is OfferStatus.OFFERED,
    )

    assert again.status_code == 303 and offer_status(session, offer) is OfferStatus.TAKEN


def sent_expired_then_again(app, client, drawn_from: str, action: str, said: tuple[str, ...], unchanged):
    """The form to `action` on the page at `drawn_from`, sent after it expired: shown again (400) saying
    `said`, with nothing done (`unchanged()`); then sent again from the page shown: its answer."""
    sent = expired(form_values(text(client.get(drawn_from)), action, "post"), app)

    answer = client.post(action, data=sent)

    assert answer.status_code == 400 and all(words in text(answer) for words in said), said
    assert unchanged()
    return client.post(action, data=form_values(text(answer), action, "post"))


@pytest.mark.parametrize("how", ["expired", "idle"])
@pytest.mark.parametrize("link", ["booking", "offer"])
def test_a_link_pasted_into_its_form_after_the_page_expired_is_shown_again_and_then_opens(
    app, client, session, with_csrf, service, link, how
):
    """The link's form (without JavaScript, or a letter's code typed) left open past WTF_CSRF_TIME_LIMIT, or
    past PATIENT_SESSION_IDLE_MINUTES while the patient looked for the mail or the letter: the bare 400
    page, and what they pasted lost. The form comes back with it kept; sent again, it opens."""
    if link == "booking":
        booked = book(session, service, next_week_at(10))
        page, token = f"/c/{booked.consultation.reference}", booked.manage_token
    else:
        offer, page = offer_opened(app, client, session)
        client.delete_cookie("session")  # another browser: the link not yet opened in it
        token = offer_token(TEST_KEYS, offer)
    sent = {**form_values(text(client.get(page)), ""), "code": f"http://localhost{page}#t={token}"}
    if how == "expired":
        sent = expired(sent, app)
    else:
        age_cookie(app, client, (app.config["PATIENT_SESSION_IDLE_MINUTES"] + 1) * 60)

    again = shown_again(client.post(page, data=sent), sent, "")
    assert "Open your" in text(client.get(page))  # nothing was opened
    opened_now = client.post(page, data=again)

    assert (opened_now.status_code, opened_now.location) == (303, page)
    assert "Open your" not in text(client.get(page))


def waitlist_typed(client, service) -> tuple[str, str, dict[str, str]]:
    """The waitlist's form as drawn for `service`, filled in as the patient types it."""
    typed = waitlist_form(service)
    choices = {name: typed[name] for name in ("service", "clinician", "time_zone")}
    drawn = form_values(text(client.get("/book/waitlist", query_string=choices)), "/book/waitlist", "post")
    return "/book/waitlist", "/book/waitlist", {**drawn, **typed}


def walk_in_typed(client, session, service) -> tuple[str, str, dict[str, str]]:
    """A walk-in queue's join form as drawn (it posts back to its own page), filled in as the caller
    types it."""
    factories.walk_in_queue(session, service, list(service.clinicians), slug="nurse-line")
    session.commit()
    drawn = form_values(text(client.get("/walk-in/nurse-line")), "", "post")
    return "/walk-in/nurse-line", "", {**drawn, **CALLER}


@pytest.mark.parametrize("how", ["expired", "idle"])
@pytest.mark.parametrize("joining", ["waitlist", "walk-in queue"])
def test_a_join_form_sent_after_its_page_expired_is_shown_again_as_typed_and_joins_nothing(
    app, client, session, with_csrf, service, joining, how
):
    """The waitlist's form (name, address, phone, date of birth, days) and a walk-in queue's answered the
    bare 400 page once their page was older than WTF_CSRF_TIME_LIMIT or the session was forgotten as idle,
    and what was typed was lost, as the booking's details form did before b8ef4c2."""
    if joining == "waitlist":
        address, action, sent = waitlist_typed(client, service)
    else:
        address, action, sent = walk_in_typed(client, session, service)
    if how == "expired":
        sent = expired(sent, app)
    else:
        age_cookie(app, client, (app.config["PATIENT_SESSION_IDLE_MINUTES"] + 1) * 60)

    again = shown_again(client.post(address, data=sent), sent, action)
    assert session.scalar(select(func.count(WaitlistEntry.id))) == 0
    assert session.scalar(select(func.count(WalkInEntry.id))) == 0
    joined = client.post(address, data=again)

    assert joined.status_code == 303


# Said on the place's page that asks for its link again, when the session that held it was closed.
PLACE_CLOSED = (
    "For your safety, your place on the waitlist was closed in this browser after a time without use"
)


def place_opened(app, client, session, service) -> tuple[WaitlistEntry, str]:
    """A place on the waitlist joined in this browser (CSRF off meanwhile), and the address of its page."""
    app.config["WTF_CSRF_ENABLED"] = False
    client.post("/book/waitlist", data=waitlist_form(service))
    app.config["WTF_CSRF_ENABLED"] = True
    entry = session.scalars(select(WaitlistEntry)).one()
    return entry, f"/w/{entry.reference}"


def place_status(session, entry) -> WaitlistStatus:
    session.expire_all()
    return session.get(WaitlistEntry, entry.id).status


@pytest.mark.parametrize("how", ["sent", "reloaded"])
def test_leaving_the_waitlist_after_the_session_closed_as_idle_leads_to_its_link_again_and_leaves_nothing(
    app, client, session, with_csrf, service, how
):
    """The question "Leave the waitlist?" left open past PATIENT_SESSION_IDLE_MINUTES: its answer got the
    bare 400 page, and the question reloaded 404 "No booking matches this link"."""
    entry, page = place_opened(app, client, session, service)
    form = form_values(text(client.get(f"{page}/leave")), f"{page}/leave", "post")
    age_cookie(app, client, (app.config["PATIENT_SESSION_IDLE_MINUTES"] + 1) * 60)

    answer = client.post(f"{page}/leave", data=form) if how == "sent" else client.get(f"{page}/leave")

    assert (answer.status_code, answer.location) == (303, page)
    asking = client.get(page)
    assert "Open your place on the waitlist" in text(asking) and PLACE_CLOSED in text(asking)
    assert place_status(session, entry) is WaitlistStatus.WAITING
    client.post(page, data={**form_values(text(asking), ""), "code": waitlist_token(TEST_KEYS, entry)})
    again = form_values(text(client.get(f"{page}/leave")), f"{page}/leave", "post")
    assert client.post(f"{page}/leave", data=again).status_code == 303
    assert place_status(session, entry) is WaitlistStatus.LEFT


def test_leaving_the_waitlist_after_its_page_expired_asks_again_and_leaves_nothing(
    app, client, session, with_csrf, service
):
    entry, page = place_opened(app, client, session, service)
    leave = f"{page}/leave"

    again = sent_expired_then_again(
        app,
        client,
        leave,
        leave,
        ("Leave the waitlist?", "so you are still on the waitlist"),
        lambda: place_status(session, entry) is WaitlistStatus.WAITING,
    )

    assert again.status_code == 303 and place_status(session, entry) is WaitlistStatus.LEFT


@pytest.mark.parametrize("link", ["booking", "offer", "place"])
def test_a_links_page_reloaded_after_the_session_closed_as_idle_says_why_it_asks_for_the_link(
    app, client, session, service, link
):
    """The waiting room (or an offer, or a place on the waitlist) reloaded without JavaScript past
    PATIENT_SESSION_IDLE_MINUTES asked for the link with no word of why, to a patient who had opened it:
    only its other pages and forms said so (3573ba4)."""
    if link == "booking":
        booked = book(session, service, next_week_at(10))
        open_link(client, booked)
        page, said = f"/c/{booked.consultation.reference}", CLOSED
    elif link == "offer":
        page, said = offer_opened(app, client, session)[1], OFFER_CLOSED
    else:
        page, said = place_opened(app, client, session, service)[1], PLACE_CLOSED
    app.config["WTF_CSRF_ENABLED"] = False
    fresh = text(client.get(page))
    age_cookie(app, client, (app.config["PATIENT_SESSION_IDLE_MINUTES"] + 1) * 60)

    reloaded_page = text(client.get(page))

    assert "Open your" not in fresh and said not in fresh
    assert "Open your" in reloaded_page and said in reloaded_page
    assert said not in text(client.get(page))  # said once


def test_a_check_in_sent_after_its_page_expired_asks_to_press_again_only_while_the_room_takes_it(
    app, client, session, with_csrf, service
):
    """Moved to tomorrow meanwhile (by staff), its room no longer open: the room drawn again said "Press
    "I'm here" again", over a countdown with no such button."""
    booked, address, form = room_opened(app, client, session, service)
    booked.consultation.starts_at += timedelta(days=1)
    booked.consultation.ends_at += timedelta(days=1)
    booked.consultation.blocked_from, booked.consultation.blocked_until = (
        booked.consultation.starts_at,
        booked.consultation.ends_at,
    )
    session.commit()

    answer = client.post(address, data=expired(form, app))

    page = html.unescape(text(answer))
    assert answer.status_code == 400 and "Starts in" in page
    assert "so you are not checked in" in page and "I'm here" not in page


# Said on a companion's page that asks for their link again, when the session that held it was closed.
INVITATION_CLOSED = "For your safety, this invitation was closed in this browser after a time without use"


def test_a_companions_join_after_the_session_closed_as_idle_leads_to_their_link_again(
    app, client, session, service
):
    """ "Join the video call" on a companion's room left open past PATIENT_SESSION_IDLE_MINUTES answered 404
    "No booking matches this link", where the patient's leads to their link's form saying why."""
    _, link = with_companion(session, service, timedelta(minutes=10))
    room = follow(client, link).location
    assert "Join the video call" in text(client.get(room))
    age_cookie(app, client, (app.config["PATIENT_SESSION_IDLE_MINUTES"] + 1) * 60)

    joined = client.get(f"{room}/join")

    assert (joined.status_code, joined.location) == (303, room)
    asking = text(client.get(room))
    assert "Open your invitation" in asking and INVITATION_CLOSED in asking
    assert client.get(f"{room}/status").status_code == 404  # waiting_room.js reads it as the pass gone
