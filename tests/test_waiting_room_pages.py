"""The patient's waiting room at /c/<reference>, driven as a browser without JavaScript would."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.extensions import db
from clinic.models import AuditEvent, ConsultationStatus, utcnow
from clinic.scheduling.events import VIEWED, record_read
from clinic.scheduling.lifecycle import cancel, reschedule

from . import factories
from .conftest import build_app
from .test_booking_pages import next_week_at, text
from .test_manage_link import asked_for_its_link, book, follow, open_link, reloaded

MEETING = "https://meet.example/room-pages"


@pytest.fixture
def service(session):
    service = factories.service(session, name="Diabetes review", cancel_cutoff_minutes=60)
    factories.clinician(session, [service], display_name="Dr Ines Duarte")
    session.commit()
    return service


def starting_in(session, service, wait: timedelta, *, meeting: str | None = MEETING, **fields):
    """A booking made through the service, then moved to start `wait` from the real clock (the pages
    read it), with the meeting link the worker would have stored."""
    booked = book(session, service, next_week_at(10), **fields)
    consultation = booked.consultation
    consultation.starts_at = utcnow() + wait
    consultation.ends_at = consultation.starts_at + timedelta(minutes=30)
    consultation.blocked_from, consultation.blocked_until = consultation.starts_at, consultation.ends_at
    consultation.meeting_join_url = meeting
    session.commit()
    return booked


def test_before_the_window_the_page_counts_down_and_helps_prepare_with_no_way_in_yet(
    client, session, service
):
    booked = starting_in(session, service, timedelta(days=2, hours=3, minutes=30))
    reference = booked.consultation.reference
    open_link(client, booked)

    page = text(client.get(f"/c/{reference}"))

    assert re.search(r"Starts in <span data-countdown-value>2 days 3 hours</span>", page)
    assert "The waiting room opens at" in page and "Reload this page" in page
    assert "How to get ready" in page and "Check your camera and microphone" in page
    assert "waiting_room.js" in page and "media_check.js" in page
    assert f"/c/{reference}/check-in" not in page and f"/c/{reference}/join" not in page
    assert "Choose another time" in page  # the manage actions stay as they were


def test_the_page_works_without_javascript_and_keeps_to_the_content_security_policy(client, session, service):
    booked = starting_in(session, service, timedelta(minutes=5))
    open_link(client, booked)

    page = text(client.get(f"/c/{booked.consultation.reference}"))

    assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", page))  # no inline script
    assert "style=" not in page and "http-equiv" not in page
    assert "open your device's camera app" in page  # how to check without the script


def test_inside_the_window_im_here_tells_the_clinician_and_the_join_button_leads_to_the_call(
    client, session, service
):
    booked = starting_in(session, service, timedelta(minutes=10))
    reference = booked.consultation.reference
    open_link(client, booked)

    before = text(client.get(f"/c/{reference}"))
    checked_in = client.post(f"/c/{reference}/check-in")
    after = text(client.get(checked_in.location))
    joined = client.get(f"/c/{reference}/join")

    assert "I'm here</button>" in before and f'href="/c/{reference}/join"' in before
    assert checked_in.status_code == 303 and checked_in.location == f"/c/{reference}"
    assert "The clinician knows you are here." in after and "I'm here</button>" not in after
    # Said first in the title and focused as the page opens, so a screen reader reads it out.
    assert re.search(r"<title>Checked in – Your booking ", after)
    assert re.search(r'<div class="notice flash" [^>]*autofocus>\s*<p>Thank you: you are checked in.', after)
    consultation = reloaded(session, booked)
    assert consultation.status is ConsultationStatus.ARRIVED and consultation.arrived_at is not None
    assert (
        session.scalar(select(AuditEvent).where(AuditEvent.action == "consultation.arrived")).actor
        == "patient"
    )
    assert joined.status_code == 303 and joined.location == MEETING


def test_joining_from_the_waiting_room_without_im_here_checks_the_patient_in(client, session, service):
    """An elderly patient faced with two big buttons presses "Join the video call": their clinician sees
    them waiting all the same."""
    booked = starting_in(session, service, timedelta(minutes=10))
    open_link(client, booked)

    joined = client.get(f"/c/{booked.consultation.reference}/join")
    again = client.get(f"/c/{booked.consultation.reference}/join")

    assert joined.status_code == again.status_code == 303 and joined.location == MEETING
    consultation = reloaded(session, booked)
    assert consultation.status is ConsultationStatus.ARRIVED and consultation.arrived_at is not None
    arrivals = session.scalars(select(AuditEvent).where(AuditEvent.action == "consultation.arrived")).all()
    assert [event.actor for event in arrivals] == ["patient"]  # once, by the patient


def test_joining_after_the_end_still_leads_to_the_call_without_checking_in(client, session, service):
    booked = starting_in(session, service, -timedelta(minutes=35))  # over 5 minutes ago, in the grace period
    open_link(client, booked)

    joined = client.get(f"/c/{booked.consultation.reference}/join")

    assert joined.status_code == 303 and joined.location == MEETING
    assert reloaded(session, booked).status is ConsultationStatus.BOOKED


def test_checking_in_twice_is_fine(client, session, service):
    booked = starting_in(session, service, timedelta(minutes=10))
    open_link(client, booked)
    first = client.post(f"/c/{booked.consultation.reference}/check-in")

    second = client.post(f"/c/{booked.consultation.reference}/check-in")

    assert first.status_code == second.status_code == 303
    assert reloaded(session, booked).status is ConsultationStatus.ARRIVED


def test_too_early_check_in_and_join_explain_when_and_change_nothing(client, session, service):
    booked = starting_in(session, service, timedelta(hours=3))
    reference = booked.consultation.reference
    open_link(client, booked)

    checked_in = client.post(f"/c/{reference}/check-in")
    joined = client.get(f"/c/{reference}/join")

    for refused in (checked_in, joined):
        assert refused.status_code == 409
        assert "It is not time yet" in text(refused) and "The waiting room opens at" in text(refused)
        assert f'href="/c/{reference}"' in text(refused)
    assert reloaded(session, booked).status is ConsultationStatus.BOOKED


def test_after_the_end_and_the_grace_period_join_is_refused(client, session, service):
    booked = starting_in(session, service, -timedelta(hours=2))
    open_link(client, booked)

    page = text(client.get(f"/c/{booked.consultation.reference}"))
    joined = client.get(f"/c/{booked.consultation.reference}/join")

    assert "This consultation is over" in page
    assert joined.status_code == 409 and MEETING not in joined.headers.get("Location", "")


def test_while_the_meeting_link_is_being_made_the_page_says_to_wait(client, session, service):
    booked = starting_in(session, service, timedelta(minutes=5), meeting=None)
    open_link(client, booked)

    page = text(client.get(f"/c/{booked.consultation.reference}"))
    joined = client.get(f"/c/{booked.consultation.reference}/join")

    assert "Your video link is still being prepared" in page
    assert joined.status_code == 409 and "Your video link is not ready yet" in text(joined)


def test_a_cancelled_booking_says_so_plainly_and_offers_to_book_again(client, session, service):
    booked = starting_in(session, service, timedelta(days=2))
    reference = booked.consultation.reference
    open_link(client, booked)
    client.post(f"/c/{reference}/cancel", data={"reason": ""})

    page = text(client.get(f"/c/{reference}"))
    joined = client.get(f"/c/{reference}/join")

    assert "This consultation is cancelled" in page and 'href="/book"' in page
    assert "Starts in" not in page and "Check your camera" not in page
    assert joined.status_code == 409


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (ConsultationStatus.BOOKED, "Booked"),
        (ConsultationStatus.ARRIVED, "Checked in"),
        (ConsultationStatus.IN_PROGRESS, "In progress"),
        (ConsultationStatus.FULFILLED, "Completed"),
        (ConsultationStatus.NOSHOW, "Missed"),
        (ConsultationStatus.CANCELLED, "Cancelled"),
    ],
)
def test_the_page_names_the_status_in_the_patients_words_not_its_code(
    client, session, service, status, words
):
    """It read "Noshow", "In-progress" and "Fulfilled": the stored codes, capitalised."""
    booked = starting_in(session, service, timedelta(minutes=-10))
    booked.consultation.status = status
    session.commit()
    open_link(client, booked)

    page = text(client.get(f"/c/{booked.consultation.reference}"))

    assert f"<dt>Status</dt><dd>{words}</dd>" in page


def test_a_patient_token_reaches_only_its_own_booking(client, session, service):
    mine = starting_in(session, service, timedelta(minutes=10))
    theirs = starting_in(session, service, timedelta(minutes=45), meeting="https://meet.example/theirs")
    open_link(client, mine)
    other = theirs.consultation.reference

    asked = client.get(f"/c/{other}")
    responses = [
        client.post(f"/c/{other}/check-in"),
        client.get(f"/c/{other}/join"),
        client.get(f"/c/{other}/join", query_string={"t": mine.manage_token}),
    ]

    assert "Open your booking" in text(asked) and "meet.example/theirs" not in text(asked)
    assert all(asked_for_its_link(r, other) for r in responses)
    assert reloaded(session, theirs).status is ConsultationStatus.BOOKED


def test_with_csrf_on_a_check_in_without_its_token_is_refused(database_url, tmp_path):
    app = build_app(database_url, str(tmp_path / "instance"))
    with app.app_context():
        service = factories.service(db.session)
        factories.clinician(db.session, [service])
        db.session.commit()
        booked = starting_in(db.session, service, timedelta(minutes=10))
        client = app.test_client()
        open_link(client, booked)  # its form's token is not what this test is about
        app.config["WTF_CSRF_ENABLED"] = True

        refused = client.post(f"/c/{booked.consultation.reference}/check-in")

        assert refused.status_code == 400 and "you are not checked in" in text(refused)
        assert reloaded(db.session, booked).status is ConsultationStatus.BOOKED
        db.session.remove()
        db.engine.dispose()


def status_of(client, reference: str):
    return client.get(f"/c/{reference}/status", headers={"Accept": "application/json"})


def viewed(session, booked) -> list[AuditEvent]:
    session.expire_all()
    query = select(AuditEvent).where(
        AuditEvent.action == VIEWED,
        AuditEvent.entity_type == "consultation",
        AuditEvent.entity_id == str(booked.consultation.id),
    )
    return list(session.scalars(query.order_by(AuditEvent.id)))


def test_the_countdowns_status_says_a_move_or_a_cancellation_and_nothing_more_than_the_page(
    client, session, service
):
    """The countdown asks it every minute: staff moving or cancelling the booking showed nowhere on a page
    left open, which counted on to the old time."""
    booked = starting_in(session, service, timedelta(days=2), reason="Worsening kidney function")
    reference, staff = booked.consultation.reference, Actor.staff(1)
    open_link(client, booked)
    page = text(client.get(f"/c/{reference}"))
    starts_before = booked.consultation.starts_at.isoformat()
    before = status_of(client, reference).get_json()
    new_start = next_week_at(14)

    reschedule(session, booked.consultation.id, new_start, now=utcnow(), actor=staff, enforce_cutoff=False)
    moved = status_of(client, reference).get_json()
    cancel(session, booked.consultation.id, now=utcnow(), actor=staff, enforce_cutoff=False)
    cancelled = status_of(client, reference).get_json()

    assert f'data-poll="/c/{reference}/status"' in page
    assert before == {"phase": "early", "starts_at": starts_before}
    assert moved == {"phase": "early", "starts_at": new_start.isoformat()}
    assert cancelled == {"phase": "cancelled", "starts_at": new_start.isoformat()}
    page = text(client.get(f"/c/{reference}"))
    assert "This consultation is cancelled" in page  # as the status said


def test_the_status_opens_with_this_browsers_pass_only_and_a_wrong_one_is_not_found_as_on_the_page(
    app, client, session, service
):
    """A link's token in its address opens nothing there, so it cannot be used to try tokens beside the
    links' own count; another booking's, an unknown one's and an expired one's answers are alike."""
    mine = starting_in(session, service, timedelta(days=2))
    theirs = starting_in(session, service, timedelta(days=3))
    expired = starting_in(session, service, timedelta(days=4))
    for booked in (mine, expired):
        open_link(client, booked)
    stranger = app.test_client()
    gone = expired.consultation  # long over since: its link has stopped working
    gone.starts_at = utcnow() - timedelta(days=app.config["MANAGE_LINK_GRACE_DAYS"] + 2)
    gone.ends_at = gone.blocked_until = gone.starts_at + timedelta(minutes=30)
    gone.blocked_from = gone.starts_at
    session.commit()

    answers = [
        status_of(client, theirs.consultation.reference),
        status_of(client, "AAAA-1111"),
        status_of(client, expired.consultation.reference),
        stranger.get(f"/c/{theirs.consultation.reference}/status", query_string={"t": theirs.manage_token}),
        client.get(f"/c/{expired.consultation.reference}"),
    ]

    assert [answer.status_code for answer in answers] == [404] * 5
    assert len({text(answer) for answer in answers[:4]}) == 1
    assert "Open your booking" in text(stranger.get(f"/c/{theirs.consultation.reference}"))  # nothing kept
    assert status_of(client, mine.consultation.reference).status_code == 200


def test_a_countdown_polling_for_a_day_adds_no_audit_event_while_a_read_of_the_booking_is_recent(
    client, session, service
):
    """Each poll of the page's address recorded a read: one a minute per open page, for days."""
    booked = starting_in(session, service, timedelta(days=1))
    open_link(client, booked)
    client.get(f"/c/{booked.consultation.reference}")  # the page's load: its read is recorded
    recorded = len(viewed(session, booked))

    polls = [status_of(client, booked.consultation.reference).status_code for _ in range(20)]

    assert polls == [200] * 20
    assert recorded >= 1 and len(viewed(session, booked)) == recorded


def test_a_polled_read_is_recorded_again_once_the_patients_last_read_is_fifteen_minutes_old(session, service):
    booked = starting_in(session, service, timedelta(days=1))
    consultation, patient, now = booked.consultation, Actor("patient", "192.0.2.1"), utcnow()
    every = timedelta(minutes=15)
    recorded = len(viewed(session, booked))

    record_read(session, consultation, "waiting room", now, patient, again_after=every)  # none recent
    record_read(
        session, consultation, "waiting room", now + timedelta(minutes=14), patient, again_after=every
    )
    record_read(
        session, consultation, "waiting room", now + timedelta(minutes=16), patient, again_after=every
    )

    assert len(viewed(session, booked)) == recorded + 2


def test_a_link_that_does_not_come_is_no_dead_end_the_pages_say_whom_to_call(client, session, service):
    """A meeting the provider (and its fallback) could not make left the patient told "wait a minute, then
    reload" for as long as they kept trying, the start gone by: nobody to call, nothing else to do."""
    service.department.contact_phone = "020 7946 0123"
    session.commit()
    booked = starting_in(session, service, timedelta(minutes=5), meeting=None)
    reference = booked.consultation.reference
    open_link(client, booked)

    page = text(client.get(f"/c/{reference}"))
    joined = client.get(f"/c/{reference}/join")

    for said in (page, text(joined)):
        words = " ".join(re.sub(r"<[^>]+>", "", said).split())
        assert "If it has not come by the start, please call 020 7946 0123." in words
    assert 'href="tel:02079460123"' in page
    assert joined.status_code == 409


# What room_fetch.js sends with the room's page asked for again by waiting_room.js.
REFRESHED = {"Accept": "text/html", "X-Room-Refresh": "1"}


@pytest.mark.parametrize("reader", ["patient", "companion"])
def test_the_open_rooms_page_asked_again_by_its_script_adds_no_audit_event_while_a_read_is_recent(
    client, session, service, reader
):
    """Once the room is open waiting_room.js asks for its page every 30 seconds, and each recorded a read:
    120 audit events an hour per open tab, where the countdown's status poll records one per 15 minutes.
    A page loaded (or reloaded) by the reader is still recorded each time."""
    from .test_companion_pages import with_companion

    booked, link = with_companion(session, service, timedelta(minutes=10))
    room = follow(client, link).location if reader == "companion" else open_link(client, booked).location
    client.get(room)  # the page's load: its read is recorded
    recorded = len(viewed(session, booked))

    refreshed = [client.get(room, headers=REFRESHED).status_code for _ in range(20)]

    assert refreshed == [200] * 20
    assert recorded >= 1 and len(viewed(session, booked)) == recorded
    client.get(room)
    assert len(viewed(session, booked)) == recorded + 1


@pytest.mark.parametrize("clinician_gone", [False, True])
def test_a_consultation_that_is_over_offers_no_change_nor_a_number_to_call_to_make_one(
    client, session, service, clinician_gone
):
    """Staff had not marked it completed (or a no-show), so it was still booked: under "This consultation is
    over" its page said "It is too late to change this booking online. To cancel or move it now, please call
    ...", for a call that had been (and, its clinician gone, to choose a new time)."""
    booked = starting_in(session, service, -timedelta(hours=3))
    if clinician_gone:
        booked.consultation.clinician.active = False
        session.commit()
    open_link(client, booked)

    page = text(client.get(f"/c/{booked.consultation.reference}"))

    assert "This consultation is over" in page
    for offered in ("too late to change", "To cancel or move it", "Choose another time", "choose a new time"):
        assert offered not in page
