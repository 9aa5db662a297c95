"""Staff and the walk-in queue: the panel and "Take next" on the schedule, and the admin pages."""

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.demo import demo_logins, load_demo
from clinic.extensions import db
from clinic.hospital.records import InvalidSetting
from clinic.hospital.walk_in_queues import QueueSettings, save_queue
from clinic.models import (
    AuditEvent,
    Closure,
    Consultation,
    ConsultationStatus,
    EntryStatus,
    OutboxKind,
    OutboxMessage,
    QueueStatus,
    StaffRole,
    StaffUser,
    WalkInEntry,
    WalkInQueue,
    utcnow,
)
from clinic.scheduling.lifecycle import change_status
from clinic.walkin.queue import check_open, leave

from . import factories
from .conftest import TEST_KEYS, statements_run
from .test_schedule import login, text
from .test_walk_in_pages import CALLER


@pytest.fixture
def client(app):
    return factories.browser(app)


@pytest.fixture
def helpline(session):
    svc = factories.service(session, duration_minutes=15)
    doctor = factories.clinician(session, [svc], display_name="Dr Ada Okafor")
    queue = factories.walk_in_queue(session, svc, [doctor], name="Nurse helpline")
    session.commit()
    return queue


def on_duty_login(session, client, queue):
    return login(session, client, StaffRole.CLINICIAN, clinician_id=queue.staff[0].id)


def test_a_clinician_on_duty_sees_the_queue_and_takes_the_next_caller_to_their_consultation(
    client, session, helpline
):
    factories.walk_in(session, helpline, now=utcnow() - timedelta(minutes=4))
    factories.walk_in(session, helpline, now=utcnow())
    on_duty_login(session, client, helpline)

    day = text(client.get("/schedule/"))
    response = client.post(f"/schedule/walk-in/{helpline.id}/take")

    assert "Walk-in: Nurse helpline" in day and "<strong>2 waiting</strong>, the first for 4 minutes." in day
    assert response.status_code == 303
    session.commit()
    taken = session.scalars(select(WalkInEntry).where(WalkInEntry.status == EntryStatus.TAKEN)).one()
    assert response.headers["Location"] == f"/schedule/consultations/{taken.consultation_id}"
    page = text(client.get(response.headers["Location"]))
    assert f"You took {taken.name} from the queue" in page
    assert "walk-in caller: date of birth not asked" in page
    notes = client.get(f"{response.headers['Location']}/notes")
    assert notes.status_code == 200 and "Not asked (walk-in caller)" in text(notes)  # notes as for any call


def finished(session, call_id: int) -> None:
    """The walk-in call `call_id` held and finished by its clinician: they may take the next caller."""
    for status in (ConsultationStatus.IN_PROGRESS, ConsultationStatus.FULFILLED):
        change_status(session, call_id, status, now=utcnow(), actor=Actor())
    session.commit()


def take_form(page: str, queue_id: int) -> dict[str, str]:
    """The hidden fields of the day's "Take next" form for queue `queue_id`, as a browser would post them."""
    form = re.search(
        rf'<form method="post" action="/schedule/walk-in/{queue_id}/take">.*?</form>', page, re.S
    )
    assert form, "no Take next form"
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[0])
    return {name: html.unescape(value) for name, value in fields}


def test_taking_the_next_caller_opens_the_call_whose_back_link_returns_to_the_schedule_it_was_taken_from(
    client, session, helpline
):
    """Taken from a day narrowed to one clinician, the call's page said "Back to the schedule" to the
    call's day, everyone's: the page it was taken from was lost."""
    factories.walk_in(session, helpline, now=utcnow())
    on_duty_login(session, client, helpline)
    back = f"/schedule/?date={utcnow().date().isoformat()}&clinician={helpline.staff[0].id}"

    taken = client.post(
        f"/schedule/walk-in/{helpline.id}/take", data=take_form(text(client.get(back)), helpline.id)
    )

    session.commit()
    call = session.scalars(select(WalkInEntry)).one().consultation_id
    path, _, query = taken.headers["Location"].partition("?")
    assert (path, parse_qs(query)) == (f"/schedule/consultations/{call}", {"next": [back]})
    page = text(client.get(taken.headers["Location"]))
    assert f'<a href="{html.escape(back)}">Back to the schedule</a>' in page


def test_a_refused_take_returns_to_the_schedule_it_was_pressed_on(client, session, helpline):
    on_duty_login(session, client, helpline)
    back = f"/schedule/?date={utcnow().date().isoformat()}&clinician={helpline.staff[0].id}"

    refused = client.post(f"/schedule/walk-in/{helpline.id}/take", data={"next": back})

    assert (refused.status_code, refused.headers["Location"]) == (303, back)


def test_take_next_pressed_twice_leads_both_times_to_the_one_caller_taken(client, session, helpline):
    """A double click on "Take next" (the browser shows the answer to its second post) landed the clinician
    on the schedule saying "Your walk-in call … is still open: open it to finish it", as if refused, while
    the caller just taken was shown their join button and their time to answer ran. A take refused for the
    clinician's own open walk-in call leads to that call, where it is finished or its caller sent back."""
    factories.walk_in(session, helpline, now=utcnow() - timedelta(minutes=1))
    factories.walk_in(session, helpline, now=utcnow())
    on_duty_login(session, client, helpline)
    back = f"/schedule/?date={utcnow().date().isoformat()}"

    first = client.post(f"/schedule/walk-in/{helpline.id}/take", data={"next": back})
    second = client.post(f"/schedule/walk-in/{helpline.id}/take", data={"next": back})

    assert second.headers["Location"] == first.headers["Location"]
    page = text(client.get(second.headers["Location"]))
    session.commit()
    statuses = sorted(e.status.value for e in session.scalars(select(WalkInEntry)))
    assert statuses == ["taken", "waiting"]  # one caller taken, the other still waiting
    assert (
        "is still open: finish it" in page
        and f'<a href="{html.escape(back)}">Back to the schedule</a>' in page
    )


@pytest.mark.parametrize(
    "elsewhere", ["https://evil.example/schedule/", "//evil.example/", "/\\evil.example/", "schedule/", ""]
)
def test_take_next_never_sends_staff_off_the_site_whatever_it_was_posted_with(
    client, session, helpline, elsewhere
):
    """A `next` that is not a path on this site (a form crafted to land staff on a look-alike page) is
    dropped: the call's page, and a refusal the day, as before."""
    factories.walk_in(session, helpline, now=utcnow())
    on_duty_login(session, client, helpline)

    taken = client.post(f"/schedule/walk-in/{helpline.id}/take", data={"next": elsewhere})
    refused = client.post(f"/schedule/walk-in/{helpline.id}/take", data={"next": elsewhere})

    session.commit()
    call = session.scalars(select(WalkInEntry)).one().consultation_id
    assert taken.headers["Location"] == f"/schedule/consultations/{call}"
    assert refused.headers["Location"] == f"/schedule/consultations/{call}"  # the call still open


def test_staff_see_who_asked_for_an_interpreter_before_taking_and_on_the_call_once_taken(
    client, session, helpline
):
    """A caller asking for one was told "we will arrange an interpreter", but nothing told staff."""
    factories.walk_in(
        session, helpline, now=utcnow(), details=factories.caller_details(needs_interpreter=True)
    )
    factories.walk_in(session, helpline, now=utcnow())
    factories.walk_in(
        session, helpline, now=utcnow(), details=factories.caller_details(needs_interpreter=True)
    )
    on_duty_login(session, client, helpline)

    day = text(client.get("/schedule/"))
    first = client.post(f"/schedule/walk-in/{helpline.id}/take").headers["Location"]
    call = text(client.get(first))
    after = text(client.get("/schedule/"))
    finished(session, int(first.rsplit("/", 1)[1]))
    second = text(client.get(client.post(f"/schedule/walk-in/{helpline.id}/take").headers["Location"]))

    assert "<strong>Interpreter:</strong> 2 of them asked for one, the next caller among them." in day
    assert (
        "<dt>Interpreter</dt><dd><strong>The caller asked for one</strong>: invite an interpreter below."
        in call
    )
    assert "1 of them asked for one (not the next caller)." in after
    assert "<dt>Interpreter</dt>" not in second


def test_a_caller_who_gave_only_an_e_mail_address_shows_as_having_no_phone(client, session, helpline):
    factories.walk_in(
        session, helpline, now=utcnow(), details=factories.caller_details(email="only@example.org")
    )
    on_duty_login(session, client, helpline)

    location = client.post(f"/schedule/walk-in/{helpline.id}/take").headers["Location"]

    assert "<dd>no phone, only@example.org</dd>" in text(client.get(location))


def taken_with_meeting(session, client, helpline) -> str:
    """Sign the clinician on duty in on `client` and take the next caller, the call's meeting made."""
    on_duty_login(session, client, helpline)
    location = client.post(f"/schedule/walk-in/{helpline.id}/take").headers["Location"]
    session.commit()
    call = session.scalars(select(Consultation)).one()
    call.meeting_join_url, call.meeting_host_url = "https://meet.example/r", "https://meet.example/r?host"
    session.commit()
    return location


def test_the_call_starts_with_the_host_link_once_the_meeting_is_made(client, session, helpline):
    factories.walk_in(session, helpline, now=utcnow())
    location = taken_with_meeting(session, client, helpline)

    response = client.post(f"{location}/start")

    assert (response.status_code, response.headers["Location"]) == (303, "https://meet.example/r?host")


def test_a_walk_in_call_is_neither_cancelled_nor_moved_from_its_page_and_its_caller_keeps_their_turn(
    client, session, helpline
):
    """Cancelling a taken caller's call from its page left their place "taken" (their page said "It is your
    turn") and mailed them the cancellation of a booking they never made; their queue ends the call."""
    factories.walk_in(session, helpline, now=utcnow())
    on_duty_login(session, client, helpline)
    location = client.post(f"/schedule/walk-in/{helpline.id}/take").headers["Location"]

    page = text(client.get(location))
    cancelled = client.post(f"{location}/cancel", data={"reason": ""})

    assert "Cancel this consultation" not in page and "Move to another time" not in page
    assert cancelled.status_code == 409 and "A walk-in call is not cancelled" in text(cancelled)
    session.commit()
    entry = session.scalars(select(WalkInEntry)).one()
    assert (entry.status, entry.consultation.status) == (EntryStatus.TAKEN, ConsultationStatus.ARRIVED)
    kinds = session.scalars(
        select(OutboxMessage.kind).where(OutboxMessage.consultation_id == entry.consultation_id)
    )
    assert OutboxKind.CANCELLATION not in list(kinds)


def test_a_taken_caller_is_never_a_no_show_and_their_call_and_place_stay_as_they_were(
    client, session, helpline
):
    """Reception marked a taken caller's call a no-show: their page still said "It is your turn", the
    clinician could not start the call (409), and they were not back in the queue. A caller who does not
    answer goes back to the front by the queue's own rule."""
    joined = factories.walk_in(session, helpline, now=utcnow())
    location = taken_with_meeting(session, client, helpline)
    desk = factories.browser(client.application)
    login(session, desk, StaffRole.RECEPTION, department_id=helpline.department_id)

    page = text(desk.get(location))
    refused = desk.post(f"{location}/status", data={"status": "noshow", "confirmed": "yes"})
    started = client.post(f"{location}/start")

    assert "No-show" not in page
    assert refused.status_code == 409
    assert started.headers["Location"] == "https://meet.example/r?host"
    session.commit()
    entry = session.get(WalkInEntry, joined.entry.id, populate_existing=True)
    assert (entry.status, entry.consultation.status) == (EntryStatus.TAKEN, ConsultationStatus.IN_PROGRESS)


def test_a_clinician_on_several_queues_sees_each_by_name_and_the_page_reads_their_hours_at_once(
    app, client, session, helpline
):
    svc, doctor = helpline.service, helpline.staff[0]
    factories.walk_in_queue(session, svc, [doctor], name="Advice line", weekdays=())  # never open
    factories.walk_in_queue(session, svc, [doctor], name="Blood results line", status=QueueStatus.PAUSED)
    factories.walk_in(session, helpline, now=utcnow() - timedelta(minutes=2))
    on_duty_login(session, client, helpline)

    with statements_run(db.engine) as run:
        day = text(client.get("/schedule/"))

    panels = re.findall(r'<h2 id="walk-in-\d+">(.*?)</h2>', day)
    assert [re.sub(r"<[^>]+>", "", panel) for panel in panels] == [
        "Walk-in: Advice line (outside its hours)",
        "Walk-in: Blood results line (paused)",
        "Walk-in: Nurse helpline",
    ]
    assert "<strong>1 waiting</strong>, the first for 2 minutes." in day
    assert len([sql for sql in run if "walk_in_hours" in sql]) == 1  # with the queues, not one per queue


def test_staff_not_on_duty_see_no_panel_and_cannot_take(client, session, helpline):
    factories.walk_in(session, helpline, now=utcnow())
    other = factories.clinician(session, [helpline.service])
    session.commit()
    login(session, client, StaffRole.CLINICIAN, clinician_id=other.id)

    day = text(client.get("/schedule/"))
    refused = client.post(f"/schedule/walk-in/{helpline.id}/take", follow_redirects=True)

    assert "Walk-in:" not in day
    assert "You are not on duty for this queue." in text(refused)
    session.commit()
    assert session.scalars(select(WalkInEntry)).one().status is EntryStatus.WAITING


def test_reception_see_their_departments_queue_without_taking_and_the_summary_counts_its_callers(
    client, session, helpline
):
    """With four callers waiting, the department's reception saw "Nobody is waiting." and no queue; its
    clinicians saw "Nobody is waiting." just above "4 waiting"."""
    for minutes in (4, 3, 2, 1):
        factories.walk_in(session, helpline, now=utcnow() - timedelta(minutes=minutes))
    elsewhere = factories.department(session)
    session.commit()
    desk, other_desk, doctor = (factories.browser(client.application) for _ in range(3))
    login(session, desk, StaffRole.RECEPTION, department_id=helpline.department_id)
    login(session, other_desk, StaffRole.RECEPTION, department_id=elsewhere.id)
    on_duty_login(session, doctor, helpline)

    seen = text(desk.get("/schedule/"))
    refused = desk.post(f"/schedule/walk-in/{helpline.id}/take", follow_redirects=True)

    panel = re.search(r'<section class="walk-in-panel.*?</section>', seen, re.S)[0]
    assert (
        "Walk-in: Nurse helpline" in panel and "<strong>4 waiting</strong>, the first for 4 minutes." in panel
    )
    assert (
        "Take next" not in panel and "The clinicians on duty take callers from their own schedule." in panel
    )
    assert "You are not on duty for this queue." in text(refused)
    assert "Walk-in:" not in text(other_desk.get("/schedule/"))
    for page in (seen, text(doctor.get("/schedule/"))):
        assert "Nobody is waiting." not in page
        assert "<p>Nobody booked is waiting; 4 walk-in callers waiting.</p>" in page


def test_take_next_on_an_empty_queue_says_so(client, session, helpline):
    on_duty_login(session, client, helpline)

    page = text(client.post(f"/schedule/walk-in/{helpline.id}/take", follow_redirects=True))

    assert "Nobody is waiting in this queue." in page


def queue_form(department_id: int, clinician_id: int, **fields) -> dict:
    return {
        "name": "Memory helpline",
        "department_id": department_id,
        "service_id": 0,
        "slug": "memory-line",
        "description": "For carers of people with dementia.",
        "time_zone": "Europe/London",
        "hours": "Mon 09:00-17:00\nsat 10:00-12:30",
        "staff_ids": [clinician_id],
        **fields,
    }


def test_an_admin_creates_a_queue_closed_then_opens_it_all_audited(client, session, helpline):
    doctor = helpline.staff[0]
    login(session, client, StaffRole.ADMIN)

    created = client.post("/admin/walk-in/new", data=queue_form(doctor.department_id, doctor.id))

    assert created.status_code == 303
    session.commit()
    queue = session.scalar(select(WalkInQueue).where(WalkInQueue.slug == "memory-line"))
    assert queue.status is QueueStatus.CLOSED and queue.service_id is None
    assert [(h.weekday, h.start_time.isoformat(), h.end_time.isoformat()) for h in queue.hours] == [
        (0, "09:00:00", "17:00:00"),
        (5, "10:00:00", "12:30:00"),
    ]
    assert [c.id for c in queue.staff] == [doctor.id]
    edit = text(client.get(f"/admin/walk-in/{queue.id}"))
    assert "Mon 09:00-17:00\nSat 10:00-12:30" in edit
    assert client.post(f"/admin/walk-in/{queue.id}/status", data={"status": "open"}).status_code == 303
    session.commit()
    assert session.get(WalkInQueue, queue.id, populate_existing=True).status is QueueStatus.OPEN
    events = session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "walk_in_queue")).all()
    assert [e.action for e in events] == ["walk_in_queue.saved", "walk_in_queue.status"]
    # Who is on duty, by id; the hours are rows made anew, named only.
    assert events[0].details["to"]["staff"] == [doctor.id] and "hours" in events[0].details["changed"]
    assert "hours" not in events[0].details["to"]
    # Which status it left and took: paused and closed read alike by name alone.
    assert events[1].details == {
        "changed": ["status"],
        "from": {"status": "closed"},
        "to": {"status": "open"},
    }


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("hours", "Monday morning", "Line 1: write a day and two times"),
        ("hours", "Mon 09:00-25:00", "Line 1: times run from 00:00 to 23:59."),
        ("slug", "Memory Line!", "Use lower-case letters, digits and single hyphens"),
        ("name", "  ", "Enter the queue&#39;s name."),
    ],
)
def test_a_wrong_setting_is_shown_beside_its_field_and_nothing_is_saved(
    client, session, helpline, field, value, message
):
    doctor = helpline.staff[0]
    login(session, client, StaffRole.ADMIN)

    response = client.post(
        "/admin/walk-in/new", data=queue_form(doctor.department_id, doctor.id, **{field: value})
    )

    assert response.status_code == 422
    assert re.search(rf'id="{field}-error">.*{re.escape(message)}', text(response), re.S)
    session.commit()
    assert session.scalar(select(WalkInQueue).where(WalkInQueue.slug == "memory-line")) is None


def test_a_queue_address_is_one_queues_only(client, session, helpline):
    doctor = helpline.staff[0]
    login(session, client, StaffRole.ADMIN)

    response = client.post(
        "/admin/walk-in/new", data=queue_form(doctor.department_id, doctor.id, slug=helpline.slug)
    )

    assert response.status_code == 422 and "Another queue has this address." in text(response)


def test_the_demo_support_line_takes_callers_at_any_hour_and_its_clinicians_see_it(app, client, session, now):
    assert load_demo(session, now=now, keys=TEST_KEYS, bookings=0)
    demo_logins(session, now=now, password="demo-password")
    queue = session.scalar(select(WalkInQueue).where(WalkInQueue.slug == "mental-health"))
    hours_of_a_year = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=7 * n) for n in range(1252)]

    for instant in hours_of_a_year:  # every weekday and hour, the DST changes included
        check_open(session, queue, instant)
    caller = factories.browser(app)
    assert caller.post("/walk-in/mental-health", data=CALLER).status_code == 303
    doctor = next(c for c in queue.staff if c.display_name == "Dr Ellen Brooks")
    session.rollback()
    factories.sign_in(
        client,
        session.scalar(select(StaffUser).where(StaffUser.clinician_id == doctor.id)),
        password="demo-password",
    )
    assert "Walk-in: Mental health support line" in text(client.get("/schedule/"))


def test_a_walk_in_call_has_no_letter_for_anyone_and_strangers_are_sent_to_sign_in(client, session, helpline):
    """A walk-in call offers no letters (66dee8b), but the letter's address, typed in, still printed one
    for a called-off call: the caller's name, the call's reference and a link and code to manage it."""
    joined = factories.walk_in(session, helpline, now=utcnow())
    location = taken_with_meeting(session, client, helpline)
    client.get(location)  # shows, and so clears, the flash "You took … from the queue"
    leave(session, joined.entry.id, now=utcnow(), actor=Actor())  # their call is called off
    desk = factories.browser(client.application)
    login(session, desk, StaffRole.RECEPTION, department_id=helpline.department_id)
    stranger = factories.browser(client.application)

    pages = [browser.get(f"{location}/letter") for browser in (client, desk)]
    anonymous = stranger.get(f"{location}/letter")

    assert [page.status_code for page in pages] == [404, 404]
    assert all(joined.entry.name not in text(page) for page in pages)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")


def test_a_walk_in_call_shows_no_reason_for_the_visit_as_none_is_asked(client, session, helpline):
    """Its clinician read "Reason for the visit: Not given" on the call's page, and "None given" on its
    notes, as if the caller had left the question blank: walk-in callers are never asked one."""
    factories.walk_in(session, helpline, now=utcnow())
    location = taken_with_meeting(session, client, helpline)

    pages = [text(client.get(address)) for address in (location, f"{location}/notes")]

    for page in pages:
        assert "Reason for" not in page and "Not given" not in page and "None given" not in page
        assert "Walk-in call" in page


def test_the_day_rows_say_which_walk_in_callers_asked_for_an_interpreter(client, session, helpline):
    """The panel and the call's page said a caller asked for an interpreter (7528e49); the day's row of
    their call did not, so a colleague scanning the day could not tell which calls needed one."""
    for needs in (True, False):
        details = factories.caller_details(needs_interpreter=needs)
        factories.walk_in(session, helpline, now=utcnow(), details=details)
    on_duty_login(session, client, helpline)
    calls = []
    for _ in range(2):
        calls.append(
            client.post(f"/schedule/walk-in/{helpline.id}/take").headers["Location"].rsplit("/", 1)[1]
        )
        session.commit()
        leave(
            session,
            session.scalars(select(WalkInEntry).where(WalkInEntry.status == EntryStatus.TAKEN)).one().id,
            now=utcnow(),
            actor=Actor(),
        )

    day = text(client.get("/schedule/"))

    rows = {c: re.search(rf'<tr data-consultation="{c}".*?</tr>', day, re.S)[0] for c in calls}
    assert '<span class="hint">(walk-in, asked for an interpreter)</span>' in rows[calls[0]]
    assert "interpreter" not in rows[calls[1]]


def panel(page: str) -> str:
    return re.search(r'<section class="walk-in-panel.*?</section>', page, re.S)[0]


def test_a_clinician_on_time_off_is_not_on_duty_for_callers_reception_or_themselves(
    client, session, helpline
):
    """With the only clinician on duty off sick today, a caller was told "Estimated wait: about 10 minutes",
    reception saw no sign she was away, and her own page offered "Take next"."""
    factories.walk_in(session, helpline, now=utcnow() - timedelta(minutes=2))
    doctor = helpline.staff[0]
    factories.time_off(session, doctor, utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=8))
    session.commit()
    desk = factories.browser(client.application)
    login(session, desk, StaffRole.RECEPTION, department_id=helpline.department_id)
    on_duty_login(session, client, helpline)

    join_page = text(factories.browser(client.application).get(f"/walk-in/{helpline.slug}"))
    own = re.search(r'<section class="walk-in-panel.*?</section>', text(client.get("/schedule/")), re.S)[0]
    refused = client.post(f"/schedule/walk-in/{helpline.id}/take", follow_redirects=True)
    reception = re.search(r'<section class="walk-in-panel.*?</section>', text(desk.get("/schedule/")), re.S)[
        0
    ]

    assert "Estimated wait" not in join_page and "Nobody is answering the queue just now" in join_page
    assert "Take next" not in own and "You are on time off now" in own
    assert "You are on time off now" in text(refused)
    session.rollback()
    assert session.scalars(select(WalkInEntry.status)).all() == [EntryStatus.WAITING]
    assert "Nobody on duty is available to take callers now" in reception


@pytest.mark.parametrize("whole_hospital", [False, True])
def test_a_closure_closes_the_queue_to_new_callers_while_those_already_waiting_are_still_taken(
    client, session, helpline, whole_hospital
):
    """A queue of a department closed for the day (or of a closed hospital) still took new callers, the /book
    page still led to it, and its clinician's panel gave no sign of the closure."""
    waiting = factories.walk_in(session, helpline, now=utcnow() - timedelta(minutes=5)).entry
    department_id = None if whole_hospital else helpline.department_id
    starts_at = utcnow() - timedelta(hours=1)
    session.add(
        Closure(
            department_id=department_id,
            starts_at=starts_at,
            ends_at=utcnow() + timedelta(hours=8),
            label="Staff training",
        )
    )
    session.commit()
    caller = factories.browser(client.application)
    on_duty_login(session, client, helpline)

    join_page = caller.get(f"/walk-in/{helpline.slug}")
    refused = caller.post(f"/walk-in/{helpline.slug}", data=CALLER)
    book_page = text(caller.get("/book"))
    panel = re.search(r'<section class="walk-in-panel.*?</section>', text(client.get("/schedule/")), re.S)[0]
    taken = client.post(f"/schedule/walk-in/{helpline.id}/take")
    empty = re.search(r'<section class="walk-in-panel.*?</section>', text(client.get("/schedule/")), re.S)[0]

    assert join_page.status_code == 200 and "You cannot join the queue now" in text(join_page)
    assert "closed (Staff training)" in text(join_page) and 'name="name"' not in text(join_page)
    assert refused.status_code == 409 and "closed (Staff training)" in text(refused)
    assert helpline.name not in book_page
    assert "Closed to new callers" in panel and "Staff training" in panel and "Take next" in panel
    assert taken.status_code == 303 and taken.headers["Location"].startswith("/schedule/consultations/")
    session.rollback()
    assert session.scalars(select(WalkInEntry.id)).all() == [waiting.id]  # nobody new joined
    assert session.get(WalkInEntry, waiting.id).status is EntryStatus.TAKEN
    assert "Closed to new callers" in empty and "Take next" not in empty


@pytest.mark.parametrize("whole_hospital", [False, True])
def test_a_clinician_whose_department_is_closed_is_off_duty_for_another_departments_queue(
    client, session, whole_hospital
):
    """A closure is time off for every clinician of its department, as the booking side offers none of their
    time: on duty for another department's open queue, she was still counted available (a caller was told
    of a wait), her panel offered "Take next", and she took a caller in her department's staff training. A
    closure of the queue's department too (the hospital's) leaves its waiting callers to her (b943d6a)."""
    svc = factories.service(session, duration_minutes=15)
    doctor = factories.clinician(session, [svc])
    other = factories.service(session, duration_minutes=15)  # of a department of its own
    helpline = factories.walk_in_queue(session, other, [doctor])
    factories.walk_in(session, helpline, now=utcnow() - timedelta(minutes=2))
    session.add(
        Closure(
            department_id=None if whole_hospital else doctor.department_id,
            starts_at=utcnow() - timedelta(hours=1),
            ends_at=utcnow() + timedelta(hours=8),
            label="Staff training",
        )
    )
    session.commit()
    desk = factories.browser(client.application)
    login(session, desk, StaffRole.RECEPTION, department_id=helpline.department_id)
    on_duty_login(session, client, helpline)

    join_page = text(factories.browser(client.application).get(f"/walk-in/{helpline.slug}"))
    own = panel(text(client.get("/schedule/")))
    reception = panel(text(desk.get("/schedule/")))
    taken = client.post(f"/schedule/walk-in/{helpline.id}/take", follow_redirects=True)

    session.rollback()
    statuses = session.scalars(select(WalkInEntry.status)).all()
    if whole_hospital:
        assert "Take next" in own and "Nobody on duty is available" not in reception
        assert statuses == [EntryStatus.TAKEN]
    else:
        assert "Estimated wait" not in join_page and "Nobody is answering the queue just now" in join_page
        assert "Take next" not in own and "You are on time off now" in own
        assert "Nobody on duty is available to take callers now" in reception
        assert "You are on time off now" in text(taken) and statuses == [EntryStatus.WAITING]


def test_a_deactivated_clinician_is_taken_off_every_queues_duty_and_the_admin_is_told(
    client, session, helpline
):
    """A clinician deactivated by an admin stayed on the queue's duty: its page counted them, their own
    schedule (their login still open) offered "Take next", and the queue's page dropped them unsaid."""
    doctor = helpline.staff[0]
    colleague = factories.clinician(session, [helpline.service], display_name="Dr Bo Lin")
    helpline.staff.append(colleague)
    session.commit()
    factories.walk_in(session, helpline, now=utcnow())
    own = factories.browser(client.application)
    on_duty_login(session, own, helpline)
    login(session, client, StaffRole.ADMIN)

    client.post(f"/admin/clinicians/{doctor.id}/active", data={"active": "no"})
    told = text(client.get(f"/admin/clinicians/{doctor.id}"))

    session.commit()
    queue = session.get(WalkInQueue, helpline.id, populate_existing=True)
    assert [c.id for c in queue.staff] == [colleague.id]
    assert "taken off the duty of Nurse helpline" in told
    event = session.scalars(
        select(AuditEvent).where(
            AuditEvent.entity_type == "walk_in_queue", AuditEvent.entity_id == str(queue.id)
        )
    ).one()
    assert event.details["from"]["staff"] == sorted([doctor.id, colleague.id])
    assert event.details["to"]["staff"] == [colleague.id]
    assert "Walk-in:" not in text(own.get("/schedule/"))


def test_a_queue_cannot_put_a_deactivated_clinician_on_duty(session, helpline):
    away = factories.clinician(session, [helpline.service], active=False)
    session.commit()
    settings = QueueSettings(
        department_id=helpline.department_id,
        service_id=None,
        name="Memory helpline",
        slug="memory-line",
        description="",
        time_zone="Europe/London",
        hours="Mon 09:00-17:00",
        staff_ids=[away.id],
    )

    with pytest.raises(InvalidSetting, match="Choose clinicians from the list"):
        save_queue(session, None, settings, now=utcnow(), actor=Actor("staff:1"))


def test_a_queue_description_too_long_is_refused_beside_its_field_not_by_a_bare_413(
    client, session, helpline
):
    doctor = helpline.staff[0]
    login(session, client, StaffRole.ADMIN)

    response = client.post(
        "/admin/walk-in/new", data=queue_form(doctor.department_id, doctor.id, description="é" * 20_001)
    )

    assert response.status_code == 422
    assert re.search(r'id="description-error">.*Keep this under 20,000 characters', text(response), re.S)
    assert 'value="memory-line"' in text(response)


def test_a_clinician_deactivated_before_duty_was_taken_from_them_is_on_no_queues_duty(
    client, session, helpline
):
    """Duty rows left by a deactivation before deactivating took clinicians off duty: the queue list
    counted them on duty and their own schedule (their login still open) offered "Take next"."""
    doctor = helpline.staff[0]
    doctor.active = False  # as such a deactivation left it: still on the queue's duty
    session.commit()
    factories.walk_in(session, helpline, now=utcnow())
    own = factories.browser(client.application)
    on_duty_login(session, own, helpline)
    login(session, client, StaffRole.ADMIN)

    listed = text(client.get("/admin/walk-in"))
    schedule = text(own.get("/schedule/"))

    row = re.search(rf'<a href="/admin/walk-in/{helpline.id}">.*?</tr>', listed, re.S)[0]
    assert re.findall(r"<td>([^<]*)</td>", row)[-1] == "0"  # the last cell: how many on duty
    assert "Walk-in:" not in schedule and "Take next" not in schedule
