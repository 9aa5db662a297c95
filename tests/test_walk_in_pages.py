"""The walk-in queue's public pages: joining, the caller's own page without JavaScript, leaving, the
join button, the secret link, the JSON that keeps the page current, and the limit on joining."""

import re
from datetime import timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from clinic.audit import Actor
from clinic.models import (
    Closure,
    Consultation,
    ConsultationStatus,
    EntryStatus,
    QueueStatus,
    SessionEnd,
    StaffRole,
    WalkInEntry,
    WalkInHours,
    utcnow,
)
from clinic.scheduling.timezones import format_local
from clinic.staff.members import StaffMember
from clinic.staff.sessions import end_sessions
from clinic.walkin.queue import leave
from clinic.walkin.take import take_next

from . import factories
from .conftest import build_app
from .test_busy_database import write_lock_held
from .test_never_5xx import EXAMPLES_PAGES, form_text, hostile, never_5xx
from .test_walk_in import signed_in

CALLER = {"name": "Edith Crawley", "contact": "+44 7700 900123", "consent": "y"}


@pytest.fixture
def helpline(session):
    """The nurse line, open at all hours, with one clinician on duty, signed in."""
    svc = factories.service(session, duration_minutes=15)
    doctor = factories.clinician(session, [svc])
    queue = factories.walk_in_queue(session, svc, [doctor], slug="nurse-line", name="Nurse helpline")
    signed_in(session, doctor, utcnow())
    return queue


def signed_out(session, queue) -> None:
    """Everyone on duty for the queue signs out."""
    for clinician in queue.staff:
        user = signed_in(session, clinician, utcnow())
        end_sessions(session, user.id, SessionEnd.LOGOUT, now=utcnow(), actor=Actor())


def joined(client, data=CALLER) -> str:
    """Join the nurse line in `client`'s browser; the path of the caller's own page."""
    response = client.post("/walk-in/nurse-line", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return response.headers["Location"]


def entry(session) -> WalkInEntry:
    session.commit()
    return session.scalars(select(WalkInEntry).order_by(WalkInEntry.id.desc())).first()


def test_the_join_page_asks_name_contact_interpreter_and_consent_but_never_a_reason(client, helpline):
    page = client.get("/walk-in/nurse-line").get_data(as_text=True)

    for label in ("Your name", "Your e-mail address or phone number", "I need an interpreter", "I agree"):
        assert label in page
    assert re.search(r'<label for="(name|contact|needs_interpreter|consent)"', page)
    assert "reason" not in page.lower().replace("we do not ask why", "")
    assert "Nobody is waiting at the moment." in page


@pytest.mark.parametrize(
    "description, lead",
    [
        ("Talk to a nurse now.", "Talk to a nurse now."),
        ("  ", "Talk to someone from {department} on a video call today, without an appointment."),
    ],
)
def test_the_join_page_leads_with_the_queues_description_or_else_a_general_line_never_both(
    client, session, helpline, description, lead
):
    helpline.description = description
    session.commit()

    page = client.get("/walk-in/nurse-line").get_data(as_text=True)

    leads = re.findall(r"<h1>.*?</h1>\s*((?:<p[^>]*>.*?</p>\s*)+)", page, re.S)[0]
    assert re.findall(r"<p[^>]*>(.*?)</p>", leads) == [lead.format(department=helpline.department.name)]


def test_joining_leads_to_the_callers_page_which_works_without_javascript(client, session, helpline):
    factories.walk_in(session, helpline, now=utcnow())  # someone already waiting

    page = client.get(joined(client))

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "You are number <span data-place>2</span> in the queue" in html
    assert "about <span data-wait>20 minutes</span>" in html  # 10 minutes a caller, one on duty
    # A quarter of the 3 minutes to answer a call: each reload sends a screen reader back to the top.
    assert re.search(r'<noscript><meta http-equiv="refresh" content="45"></noscript>', html)
    assert "This page checks for news every 45 seconds." in html
    assert "Leave the queue" in html and "/walk-in/e/" in html
    caller = entry(session)
    assert (caller.name, caller.phone, caller.email, caller.needs_interpreter) == (
        "Edith Crawley",
        "+44 7700 900123",
        None,
        False,
    )
    assert caller.consent_notice_version == client.application.config["PRIVACY_NOTICE_VERSION"]


def test_mistakes_are_shown_beside_their_fields_and_nothing_joins(client, session, helpline):
    response = client.post("/walk-in/nurse-line", data={"name": " ", "contact": "call me"})

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for field in ("name", "contact", "consent"):
        assert f'id="{field}-error"' in html
        assert re.search(rf'aria-describedby="[^"]*{field}-error"', html)
    assert entry(session) is None


@pytest.mark.parametrize("contact", ["-----", "(((((", "12345"])
def test_a_contact_that_is_no_phone_number_is_explained_beside_it_and_nobody_joins(
    client, session, helpline, contact
):
    response = client.post("/walk-in/nurse-line", data={**CALLER, "contact": contact})

    page = response.get_data(as_text=True)
    message = "Enter the whole phone number, with its area code: at least 7 digits."
    assert response.status_code == 422
    assert re.search(f'id="contact-error">.*{re.escape(message)}', page, re.DOTALL)
    assert entry(session) is None


def test_joining_again_from_the_same_browser_leads_back_to_its_place_and_adds_nobody(
    client, session, helpline
):
    path = joined(client)

    again = client.post("/walk-in/nurse-line", data=CALLER)
    page = client.get(again.headers["Location"]).get_data(as_text=True)

    assert (again.status_code, again.headers["Location"]) == (303, path)
    assert (
        "You already have a place in this queue" in page
        and "You are number <span data-place>1</span>" in page
    )
    assert session.scalar(select(func.count()).select_from(WalkInEntry)) == 1


def test_the_join_page_shows_a_browser_the_place_it_holds_instead_of_a_fresh_form(client, helpline):
    path = joined(client)

    response = client.get("/walk-in/nurse-line")

    assert (response.status_code, response.headers["Location"]) == (303, path)
    place = client.get(path).get_data(as_text=True)
    assert "You already have a place in this queue" in place
    assert "<title>Already in the queue – Your place in the queue" in place


def test_a_carer_holding_a_place_joins_for_someone_else_who_gets_a_place_of_their_own(
    client, session, helpline
):
    """One tablet at a care home, several residents: the browser's own place must not stand in for theirs."""
    own = joined(client)
    offer = client.get(own).get_data(as_text=True)
    link = re.search(r'href="([^"]+)">Join the queue for someone else', offer)[1].replace("&amp;", "&")

    form = client.get(link)
    theirs = joined(client, {**CALLER, "name": "Violet Crawley", "someone_else": "y"})

    page = form.get_data(as_text=True)
    assert (
        form.status_code == 200 and "Their name" in page and "the place you already have stays yours" in page
    )
    assert 'name="someone_else"' in page
    assert theirs != own
    session.commit()
    waiting = session.scalars(select(WalkInEntry.name).where(WalkInEntry.status == EntryStatus.WAITING))
    assert sorted(waiting) == ["Edith Crawley", "Violet Crawley"]
    assert "You are number <span data-place>2</span>" in client.get(theirs).get_data(as_text=True)
    assert "You are number <span data-place>1</span>" in client.get(own).get_data(as_text=True)


def test_a_join_sent_twice_before_its_answer_arrives_makes_one_place(app, client, session, helpline):
    """A double click on "Join the queue": the second post leaves before the first's answer has put the
    place in the browser's cookie, so the cookie cannot tell them apart. The form's own key does: the
    second gets the first's place, and no second entry is made for the team to call."""
    page = client.get("/walk-in/nurse-line").get_data(as_text=True)
    key = re.search(r'name="join_key"[^>]* value="([^"]+)"', page)[1]
    form = {**CALLER, "join_key": key}
    before_its_answer = factories.same_browser(app, client)  # without what the first answer sets

    first = client.post("/walk-in/nurse-line", data=form)
    second = before_its_answer.post("/walk-in/nurse-line", data=form)

    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert session.scalar(select(func.count()).select_from(WalkInEntry)) == 1
    assert "You already have a place in this queue" in before_its_answer.get(
        second.headers["Location"]
    ).get_data(as_text=True)


def test_a_place_that_was_left_does_not_stop_its_browser_joining_again(client, session, helpline):
    first = joined(client)
    client.post(f"{first}/leave")

    form = client.get("/walk-in/nurse-line")
    again = joined(client)

    assert form.status_code == 200 and 'name="contact"' in form.get_data(as_text=True)
    assert again != first and entry(session).status is EntryStatus.WAITING


def test_the_same_contact_with_another_name_joins_and_learns_nothing_of_the_other_place(
    app, client, session, helpline
):
    """A care home's phone or a carer's e-mail may be given by several callers: the contact alone is not
    who they are, and saying it is already waiting would tell anyone who types it who is calling."""
    theirs = joined(client)
    other_browser = factories.browser(app)

    path = joined(other_browser, {**CALLER, "name": "Violet Crawley"})
    page = other_browser.get(path).get_data(as_text=True)

    assert path != theirs
    assert "You are number <span data-place>2</span>" in page and "already" not in page
    assert theirs.rsplit("/", 1)[1] not in page


def test_the_same_name_and_contact_from_another_browser_is_told_it_has_a_place_and_not_given_it(
    app, client, session, helpline
):
    """Dan joined, then joined again in a fresh browser with the same name and e-mail address: two
    places, numbers 4 and 7. A contact is no secret, so the place's link is not handed over either."""
    theirs = joined(client, {**CALLER, "contact": "dan@example.org", "name": "Dan Smith"})
    fresh_browser = factories.browser(app)

    again = fresh_browser.post(
        "/walk-in/nurse-line", data={**CALLER, "contact": "dan@example.org", "name": "dan smith"}
    )

    page = again.get_data(as_text=True)
    assert again.status_code == 409 and "<title>Error: " in page
    assert re.search(r'id="name-error">.*already has a place in this queue', page, re.S)
    assert "go back to the page of your place" in page and 'value="dan smith"' in page
    assert theirs.rsplit("/", 1)[1] not in page and "/walk-in/e/" not in page
    assert fresh_browser.get("/walk-in/nurse-line").status_code == 200  # no place kept in its cookie
    assert session.scalar(select(func.count()).select_from(WalkInEntry)) == 1


def test_the_join_page_and_the_callers_page_say_what_to_do_in_an_emergency(client, helpline):
    join_page = client.get("/walk-in/nurse-line").get_data(as_text=True)
    place_page = client.get(joined(client)).get_data(as_text=True)

    for page in (join_page, place_page):
        notice = re.search(r'<div class="notice notice-urgent">(.*?)</div>', page, re.S)
        assert notice and "In an emergency" in notice[1]
        assert "If you are in danger now or need urgent medical help, do not wait here" in notice[1]
        assert "call your local emergency number" in notice[1]


def test_a_hospital_gives_its_own_emergency_words_and_number(database_url, tmp_path, session, helpline):
    words = "In danger now? Don't wait: call 999, or 111 for urgent medical help."
    app = build_app(database_url, str(tmp_path / "own-words"), WALK_IN_EMERGENCY_NOTICE=words)
    client = app.test_client()

    join_page = client.get("/walk-in/nurse-line").get_data(as_text=True)
    place_page = client.get(joined(client)).get_data(as_text=True)

    for page in (join_page, place_page):
        assert "call 999, or 111 for urgent medical help." in page and "local emergency number" not in page


def test_with_nobody_on_duty_signed_in_the_caller_is_told_so_rather_than_promised_minutes(
    client, session, helpline
):
    """At 02:19 on a Sunday, with nobody signed in, a caller was told "about 5 minutes"."""
    signed_out(session, helpline)

    join_page = client.get("/walk-in/nurse-line").get_data(as_text=True)
    path = joined(client)
    page = client.get(path).get_data(as_text=True)
    state = client.get(f"{path}/status").get_json()

    assert "Nobody is answering the queue just now" in join_page
    assert "You are number <span data-place>1</span>" in page and "Estimated wait" not in page
    assert "Nobody who takes calls from this queue is signed in just now" in page
    assert (state["place"], state["wait_minutes"], state["wait_words"]) == (1, None, None)


def test_a_callers_wait_does_not_grow_as_those_ahead_of_them_are_taken(client, session, helpline):
    """Two clinicians on duty: once three callers were taken within three minutes, callers were told four
    times what they were before (number 4 "about 1 hour 20 minutes"), as three takes were spread over a
    whole hour the queue had not been open for."""
    second = factories.clinician(session, [helpline.service])
    helpline.staff.append(second)
    session.commit()
    signed_in(session, second, utcnow())
    ahead = [
        factories.walk_in(session, helpline, now=utcnow() - timedelta(minutes=5)).entry for _ in range(6)
    ]
    path = joined(client)
    before = client.get(f"{path}/status").get_json()
    for n, caller in enumerate(ahead[:3]):
        taken_at = utcnow() - timedelta(minutes=3 - n)
        staff = StaffMember(1, StaffRole.CLINICIAN, clinician_id=helpline.staff[n % 2].id)
        take_next(session, helpline.id, staff, now=taken_at)
        leave(session, caller.id, now=taken_at, actor=Actor())  # so that its clinician may take again

    after = client.get(f"{path}/status").get_json()

    assert (before["place"], before["wait_words"]) == (7, "35 minutes")  # 10 minutes each, shared by two
    assert (after["place"], after["wait_words"]) == (4, "20 minutes")


def test_the_place_json_keeps_the_page_current(client, session, helpline):
    path = joined(client)

    state = client.get(f"{path}/status").get_json()

    assert state == {
        "status": "waiting",
        "place": 1,
        "wait_minutes": 10,
        "wait_words": "10 minutes",
        "past_closing": False,
        "meeting_ready": False,
    }


def test_a_caller_can_leave_after_saying_so_twice(client, session, helpline):
    path = joined(client)

    asked = client.get(f"{path}/leave").get_data(as_text=True)
    assert entry(session).status is EntryStatus.WAITING
    page = client.post(f"{path}/leave", follow_redirects=True).get_data(as_text=True)

    assert "Yes, leave the queue" in asked and "No, keep my place" in asked
    assert "You have left the queue" in page
    assert entry(session).status is EntryStatus.LEFT


def test_a_taken_caller_gets_a_big_join_button_that_opens_their_call(client, session, helpline):
    path = joined(client)
    staff = StaffMember(1, StaffRole.CLINICIAN, clinician_id=helpline.staff[0].id)
    call = take_next(session, helpline.id, staff, now=utcnow()).consultation
    assert "Your video link is being made" in client.get(path).get_data(as_text=True)
    session.get(Consultation, call.id).meeting_join_url = "https://meet.example/walk-in-room"
    session.commit()

    page = client.get(path).get_data(as_text=True)
    response = client.post(f"{path}/join")

    assert 'class="button-large">Join the video call</button>' in page
    assert (response.status_code, response.headers["Location"]) == (303, "https://meet.example/walk-in-room")
    assert entry(session).status is EntryStatus.IN_CALL
    # In the call it still asks: a call nobody started, or one that stalled, sends them back to the queue.
    in_call = client.get(path).get_data(as_text=True)
    assert "walk_in.js" in in_call and 'http-equiv="refresh"' in in_call


@pytest.mark.parametrize(
    ("sent_back_before", "told"),
    [
        (
            False,
            "Please join within 3 minutes of your turn. If you do not, we call the next person, and you go "
            "back to the front of the queue to be called once more.",
        ),
        (True, "This is our second call: please join within 3 minutes of it, or you leave the queue."),
    ],
)
def test_a_taken_caller_is_told_how_long_they_have_to_join_and_what_follows(
    client, session, helpline, sent_back_before, told
):
    path = joined(client)
    entry(session).requeued = sent_back_before
    session.commit()
    staff = StaffMember(1, StaffRole.CLINICIAN, clinician_id=helpline.staff[0].id)
    take_next(session, helpline.id, staff, now=utcnow())

    page = client.get(path).get_data(as_text=True)

    assert "<title>It is your turn – " in page
    assert told in page


@pytest.mark.parametrize("sent_back_before", [False, True])
def test_a_caller_who_has_joined_is_not_told_to_join_in_time_or_be_dropped(
    client, session, helpline, sent_back_before
):
    """Back on their page from the call, a caller who had joined still read "please join within 3 minutes
    of it, or you leave the queue": not their rule, as a joined call nobody starts sends them back to the
    front, and not a reason to leave the call they are in."""
    path = joined(client)
    entry(session).requeued = sent_back_before
    session.commit()
    staff = StaffMember(1, StaffRole.CLINICIAN, clinician_id=helpline.staff[0].id)
    call = take_next(session, helpline.id, staff, now=utcnow()).consultation
    session.get(Consultation, call.id).meeting_join_url = "https://meet.example/walk-in-room"
    session.commit()
    client.post(f"{path}/join")

    page = client.get(path).get_data(as_text=True)

    assert entry(session).status is EntryStatus.IN_CALL
    assert "join within" not in page and "you leave the queue" not in page
    assert "You have joined the call" in page and 'class="button-large">Join the video call</button>' in page


def test_a_join_pressed_after_the_call_was_called_off_says_so_on_the_callers_page(client, session, helpline):
    path = joined(client)

    page = client.post(f"{path}/join", follow_redirects=True).get_data(as_text=True)

    assert "There is no call for you at the moment." in page and "You are number" in page
    assert "<title>Not joined yet – Your place in the queue" in page


def test_only_the_secret_link_opens_a_callers_page(app, client, session, helpline):
    path = joined(client)
    link = re.search(r'<p class="link-to-copy"[^>]*>([^<]+)</p>', client.get(path).get_data(as_text=True))[1]
    other_device = factories.browser(app)

    assert other_device.get(path).status_code == 200  # asks for the link, shows nothing of the place
    assert "You are number" not in other_device.get(path).get_data(as_text=True)
    assert other_device.post(path, data={"code": link[:-3] + "xyz"}).status_code == 404
    assert other_device.get(f"{path}?t=wrong-token").status_code == 404
    assert other_device.get(f"{path}/status").status_code == 404
    assert other_device.post(path, data={"code": link}).status_code == 303
    assert "You are number" in other_device.get(path).get_data(as_text=True)


def test_a_callers_place_opened_without_its_pass_asks_for_the_link_where_they_were_shown_it(
    app, client, session, helpline
):
    """A caller's link is shown on their place's page, never mailed (many give a phone number), yet the
    page asking for it said "Copy the whole link from your e-mail", and so did its error."""
    path = joined(client)
    other_device = factories.browser(app)

    asked = other_device.get(path).get_data(as_text=True)
    refused = other_device.post(path, data={"code": "not-the-link"}).get_data(as_text=True)
    empty = other_device.post(path, data={"code": ""}).get_data(as_text=True)

    for page in (asked, refused, empty):
        assert "e-mail" not in page
        assert "Come back to your place" in page


def test_a_taken_caller_who_no_longer_needs_the_call_can_leave(client, session, helpline):
    """Once it was their turn, the page showed only "Join the video call": the way out had gone."""
    path = joined(client)
    staff = StaffMember(1, StaffRole.CLINICIAN, clinician_id=helpline.staff[0].id)
    call = take_next(session, helpline.id, staff, now=utcnow()).consultation
    session.get(Consultation, call.id).meeting_join_url = "https://meet.example/walk-in-room"
    session.commit()

    page = client.get(path).get_data(as_text=True)
    link = re.search(r'<a class="button button-secondary" href="([^"]+)">I no longer need the call</a>', page)
    asked = client.get(link[1]).get_data(as_text=True)
    left = client.post(f"{path}/leave", follow_redirects=True).get_data(as_text=True)

    assert "Join the video call" in page and link[1] == f"{path}/leave"
    assert "we call off the call we made for you" in asked and "No, go back to my call" in asked
    assert "You have left the queue" in left
    assert entry(session).status is EntryStatus.LEFT
    assert session.get(Consultation, call.id).status is ConsultationStatus.CANCELLED


def hours_around_now(minutes_before: int, minutes_after: int) -> list[WalkInHours]:
    """Opening hours (London) from `minutes_before` to `minutes_after` now, on today's weekday."""
    here = utcnow().astimezone(ZoneInfo("Europe/London"))
    start, end = here - timedelta(minutes=minutes_before), here + timedelta(minutes=minutes_after)
    return [WalkInHours(weekday=start.weekday(), start_time=start.time(), end_time=end.time())]


def test_the_join_page_says_when_the_queue_closes_and_warns_when_the_wait_runs_past_it(
    client, session, helpline
):
    """Caller G joined at 02:27, told "about 1 hour 20 minutes", and was turned out at 02:30: the join
    page gave no closing time."""
    helpline.hours = hours_around_now(60, 25)
    session.commit()
    first = client.get("/walk-in/nurse-line").get_data(as_text=True)
    for _ in range(2):
        factories.walk_in(session, helpline, now=utcnow())

    later = client.get("/walk-in/nurse-line").get_data(as_text=True)

    closing = re.search(r"<p>The queue closes at ([^<]+)\.</p>", first)
    assert closing and "(UK time, GMT" in closing[1]
    assert "We may not reach you before the queue closes" not in first  # 10 minutes, before closing
    assert "We may not reach you before the queue closes" in later
    assert "your wait is about 30 minutes, which runs past the closing time" in later
    assert 'name="contact"' in later  # it is theirs to choose: they may still join


@pytest.mark.parametrize("open_round_the_clock", [False, True])
@pytest.mark.parametrize("whole_hospital", [False, True])
def test_the_join_page_says_the_queue_closes_when_a_closure_later_today_begins(
    client, session, helpline, open_round_the_clock, whole_hospital
):
    """With staff training from 14:00, the join page said "The queue closes at 17:00" (its hours) or nothing
    (open round the clock), though nobody may join from 14:00; a closure of another department changes
    nothing."""
    if not open_round_the_clock:
        helpline.hours = hours_around_now(60, 180)
    starts_at = (utcnow() + timedelta(minutes=90)).replace(second=0, microsecond=0)
    other = factories.department(session)
    for department_id in (other.id, None if whole_hospital else helpline.department_id):
        session.add(
            Closure(department_id=department_id, starts_at=starts_at, ends_at=starts_at + timedelta(hours=8))
        )
    session.add(
        Closure(department_id=other.id, starts_at=starts_at - timedelta(minutes=30), ends_at=starts_at)
    )
    session.commit()

    page = client.get("/walk-in/nurse-line").get_data(as_text=True)

    closing = format_local(starts_at, ZoneInfo(helpline.time_zone))
    assert f"<p>The queue closes at {closing} to new callers" in page, page
    assert "whoever has joined by then keeps their place" in page


def test_a_caller_closed_out_is_told_when_the_queue_opens_again(client, session, helpline):
    """The join page said when the queue opens again; the page of a caller turned out at closing did not."""
    path = joined(client)
    caller = entry(session)
    caller.status, caller.ended_at = EntryStatus.CLOSED, utcnow()
    helpline.hours = hours_around_now(-120, 180)  # opens in two hours
    session.commit()

    page = client.get(path).get_data(as_text=True)

    assert "The queue has closed" in page
    assert re.search(
        r"the queue closed before we could call you\. This queue is closed now\. It opens \w+day", page
    )
    assert "Join the queue again" not in page


def test_a_closed_queue_offers_a_booking_instead(client, session, helpline):
    helpline.status = QueueStatus.CLOSED
    session.commit()

    page = client.get("/walk-in/nurse-line").get_data(as_text=True)
    response = client.post("/walk-in/nurse-line", data=CALLER)

    assert "Book a consultation" in page and f"/book/clinician?service={helpline.service_id}" in page
    assert 'name="contact"' not in page
    assert response.status_code == 409 and entry(session) is None


def test_a_caller_left_waiting_at_closing_time_is_told_and_offered_a_booking(client, session, helpline):
    path = joined(client)
    caller = entry(session)
    caller.status, caller.ended_at = EntryStatus.CLOSED, utcnow()
    session.commit()

    page = client.get(path).get_data(as_text=True)

    assert "The queue has closed" in page and f"/book/clinician?service={helpline.service_id}" in page


def test_an_unknown_queue_is_not_found(client, helpline):
    assert client.get("/walk-in/no-such-line").status_code == 404


def test_joining_is_limited_per_address(database_url, tmp_path, session, helpline):
    app = build_app(
        database_url, str(tmp_path / "limited"), RATELIMIT_ENABLED=True, RATELIMIT_WALK_IN="2 per minute"
    )
    browsers = [factories.browser(app) for _ in range(3)]  # behind one address, as in a care home

    answers = [
        browser.post("/walk-in/nurse-line", data={**CALLER, "name": f"Resident {n}"})
        for n, browser in enumerate(browsers)
    ]

    assert [answer.status_code for answer in answers] == [303, 303, 429]
    assert browsers[2].get("/walk-in/nurse-line").status_code == 200  # only joining is counted
    # Refused, a caller is still told what to do in an emergency rather than wait.
    notice = re.search(
        r'<div class="notice notice-urgent">(.*?)</div>', answers[2].get_data(as_text=True), re.S
    )
    assert notice and "call your local emergency number" in notice[1]


def test_callers_sharing_an_address_poll_their_places_without_using_up_the_link_limit(
    database_url, tmp_path, session, helpline
):
    """A care home's residents behind one address: their pages' polling has a count of its own."""
    limits = {"RATELIMIT_MANAGE_LINK": "3 per minute", "RATELIMIT_WALK_IN_STATUS": "5 per minute"}
    app = build_app(database_url, str(tmp_path / "limited"), RATELIMIT_ENABLED=True, **limits)
    client = app.test_client()
    path = joined(client)

    polls = [client.get(f"{path}/status").status_code for _ in range(6)]

    assert polls == [200] * 5 + [429]
    assert client.get(path).status_code == 200  # the link's own count was not used by the polling


def test_the_join_form_never_answers_5xx(client, helpline):
    @EXAMPLES_PAGES
    @given(fields=hostile({**CALLER, "needs_interpreter": "y"}, form_text | st.just("")))
    def run(fields):
        never_5xx(client.post("/walk-in/nurse-line", data=fields))

    run()


def test_odd_queue_addresses_and_references_are_not_found_never_5xx(client, helpline):
    @EXAMPLES_PAGES
    @given(odd=form_text)
    def run(odd):
        part = quote(odd, safe="", errors="surrogatepass") or "x"
        for path in (f"/walk-in/{part}", f"/walk-in/e/{part}", f"/walk-in/e/{part}/status"):
            never_5xx(client.get(path))
        never_5xx(client.post(f"/walk-in/e/{part}/leave"))

    run()


def test_the_callers_page_warns_when_their_wait_runs_past_the_closing_time(client, session, helpline):
    """The join page warned a caller whose wait ran past closing (7528e49); their own page, where they
    then waited, said nothing, though their place ends when the queue closes."""
    helpline.hours = hours_around_now(60, 25)
    session.commit()
    first = client.get(joined(client)).get_data(as_text=True)
    for _ in range(2):
        factories.walk_in(session, helpline, now=utcnow())
    for_someone_else = {"name": "Walter Hartright", "contact": "+44 7700 900456", "someone_else": "y"}
    last = joined(client, {**CALLER, **for_someone_else})

    page = client.get(last).get_data(as_text=True)
    state = client.get(f"{last}/status").get_json()

    assert "We may not reach you before the queue closes" not in first  # number 1: 10 minutes
    assert "We may not reach you before the queue closes" in page  # number 4: 40 minutes, closing in 25
    assert "Your wait runs past the closing time" in page and "The queue closes at" in page
    assert f"{helpline.service_id}" in page  # a booking is offered instead
    assert state["past_closing"] is True


def emergency_notice(response) -> str | None:
    notice = re.search(
        r'<div class="notice notice-urgent">(.*?)</div>', response.get_data(as_text=True), re.S
    )
    return notice[1] if notice else None


def test_every_error_page_a_caller_meets_says_what_to_do_in_an_emergency(
    database_url, tmp_path, session, helpline
):
    """The walk-in pages and their 429 told a caller in crisis whom to call; a 503 (the system busy) or a
    404 (a mistyped queue address) on the same pages did not."""
    app = build_app(database_url, str(tmp_path / "busy"), DATABASE_LOCK_WAIT=0.25)
    browser = factories.browser(app)

    with write_lock_held(database_url, table="walk_in_entry"):
        busy = browser.post("/walk-in/nurse-line", data=CALLER)
    lost = browser.get("/walk-in/nurse-lin")
    staff_side = browser.get("/no-such-page")

    assert (busy.status_code, lost.status_code) == (503, 404)
    for page in (busy, lost):
        assert "call your local emergency number" in (emergency_notice(page) or "")
    assert emergency_notice(staff_side) is None  # not a caller's page: nothing to alarm anyone with


def test_the_book_page_leads_to_the_walk_in_lines_open_now(client, session, helpline):
    """A caller who landed on /book found services to book days ahead and nothing of the helpline they
    could talk to today."""
    paused = factories.walk_in_queue(session, helpline.service, list(helpline.staff), slug="paused-line")
    paused.status = QueueStatus.PAUSED
    session.commit()
    before = client.get("/book").get_data(as_text=True)
    helpline.hours = hours_around_now(-120, 180)  # opens in two hours
    session.commit()

    closed_now = client.get("/book").get_data(as_text=True)

    assert '<a href="/walk-in/nurse-line">Nurse helpline</a>' in before
    assert "without an appointment" in before
    assert "/walk-in/paused-line" not in before
    assert "/walk-in/nurse-line" not in closed_now


def test_a_caller_called_while_away_who_comes_back_by_the_queues_address_is_taken_to_their_turn(
    client, session, helpline
):
    """Edith closed the tab while waiting and opened the helpline's address again: meanwhile her turn came.
    Her browser holds her place, yet she was given a blank form, and sending it again was refused as
    "already has a place", with no way to the join button while her time to answer ran out."""
    path = joined(client)
    staff = StaffMember(1, StaffRole.CLINICIAN, clinician_id=helpline.staff[0].id)
    call = take_next(session, helpline.id, staff, now=utcnow()).consultation
    session.get(Consultation, call.id).meeting_join_url = "https://meet.example/walk-in-room"
    session.commit()

    opened = client.get("/walk-in/nurse-line")
    sent_again = client.post("/walk-in/nurse-line", data=CALLER)

    assert (opened.status_code, opened.headers.get("Location")) == (303, path)
    assert (sent_again.status_code, sent_again.headers.get("Location")) == (303, path)
    page = client.get(path).get_data(as_text=True)
    assert "<title>Already in the queue – It is your turn" in page and "Join the video call" in page
    assert session.scalar(select(func.count()).select_from(WalkInEntry)) == 1
    assert entry(session).status is EntryStatus.TAKEN


def test_a_carer_whose_residents_turn_came_can_still_join_for_someone_else(client, session, helpline):
    own = joined(client)
    staff = StaffMember(1, StaffRole.CLINICIAN, clinician_id=helpline.staff[0].id)
    take_next(session, helpline.id, staff, now=utcnow())

    opened = client.get("/walk-in/nurse-line", follow_redirects=True).get_data(as_text=True)
    link = re.search(r'href="([^"]+)">Join the queue for someone else', opened)[1].replace("&amp;", "&")
    form = client.get(link)
    theirs = joined(client, {**CALLER, "name": "Violet Crawley", "someone_else": "y"})

    assert "It is your turn" in opened
    assert form.status_code == 200 and "Their name" in form.get_data(as_text=True)
    assert theirs != own and "You are number <span data-place>1</span>" in client.get(theirs).get_data(
        as_text=True
    )
