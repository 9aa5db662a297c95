"""Callers sent back to the walk-in queue: by the worker's rounds when they do not join, or when nobody starts
the call they joined; by staff from the call's page; in the order they first joined; and the clinician
warned before signing out with a caller still theirs."""

import html
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from clinic.audit import Actor
from clinic.extensions import db
from clinic.models import (
    AuditEvent,
    Consultation,
    ConsultationStatus,
    EntryStatus,
    StaffRole,
    StaffSession,
    StaffUser,
    WalkInEntry,
    utcnow,
)
from clinic.scheduling.lifecycle import change_status
from clinic.scheduling.timezones import zone
from clinic.staff.members import StaffMember
from clinic.staff.sessions import SessionRules
from clinic.walkin.queue import answer
from clinic.walkin.rounds import walk_in_round
from clinic.walkin.send_back import SentBack, why_sent_back
from clinic.walkin.take import take_next
from config import Config

from . import factories, racing
from .conftest import postgres_only, statements_run
from .test_schedule import login, text
from .test_walk_in import signed_in as walk_in_signed_in

ANSWER_WITHIN = timedelta(minutes=3)
IDLE_MINUTES = Config.STAFF_IDLE_MINUTES  # the suite's app keeps the default: a clinician's sign-in idles out
SESSIONS = SessionRules(
    idle=timedelta(minutes=IDLE_MINUTES), lifetime=timedelta(hours=12), admin_second_factor=False
)


@pytest.fixture
def helpline(session):
    """A 20-minute helpline open at all hours, with Dr Lewis and Dr Brooks on duty."""
    svc = factories.service(session, duration_minutes=20)
    doctors = [factories.clinician(session, [svc], display_name=name) for name in ("Dr Lewis", "Dr Brooks")]
    return factories.walk_in_queue(session, svc, doctors)


@pytest.fixture
def client(app):
    return factories.browser(app)


def doctor(queue, n: int) -> StaffMember:
    return StaffMember(500 + n, StaffRole.CLINICIAN, clinician_id=queue.staff[n].id)


def taken(session, queue, n: int, now) -> Consultation:
    """Dr Lewis (0) or Dr Brooks (1) takes the next caller at `now`: their call, its meeting made."""
    call = take_next(session, queue.id, doctor(queue, n), now=now).consultation
    call = session.get(Consultation, call.id)
    call.meeting_join_url, call.meeting_host_url = "https://meet.example/r", "https://meet.example/r?host"
    session.commit()
    return call


def started(session, queue, n: int, call: Consultation, now) -> None:
    change_status(session, call.id, ConsultationStatus.IN_PROGRESS, now=now, actor=doctor(queue, n).actor)


def fresh(session, entry_id: int) -> WalkInEntry:
    session.commit()
    return session.get(WalkInEntry, entry_id, populate_existing=True)


def status_of(session, call: Consultation) -> ConsultationStatus:
    session.commit()
    return session.get(Consultation, call.id, populate_existing=True).status


def round_at(session, now):
    return walk_in_round(session, now, answer_within=ANSWER_WITHIN, sessions=SESSIONS)


def taken_in_order(session, queue, now, count: int) -> list[int]:
    """The entries of the next `count` callers taken, by Dr Lewis and Dr Brooks in turn."""
    return [
        take_next(session, queue.id, doctor(queue, n % 2), now=now + timedelta(seconds=n)).entry.id
        for n in range(count)
    ]


def test_a_caller_left_in_a_call_nobody_started_goes_back_to_the_front_without_it_counting_against_them(
    session, helpline, now
):
    """Dr Lewis took Bob and signed out; Bob joined and sat in the call: he stayed "in call", its
    consultation "Waiting" for ever, as only callers who had not joined were sent back."""
    bob = factories.walk_in(session, helpline, now=now).entry
    carol = factories.walk_in(session, helpline, now=now).entry
    call = taken(session, helpline, 0, now)
    joined = now + timedelta(seconds=30)
    answer(session, bob.id, now=joined, actor=Actor())

    assert round_at(session, joined + ANSWER_WITHIN - timedelta(seconds=1)).requeued == 0
    assert round_at(session, joined + ANSWER_WITHIN).requeued == 1

    entry = fresh(session, bob.id)
    assert (entry.status, entry.requeued) == (EntryStatus.WAITING, False)
    assert why_sent_back(entry) is SentBack.NOT_STARTED
    assert status_of(session, call) is ConsultationStatus.CANCELLED  # not held: never "Done"
    again = joined + ANSWER_WITHIN
    assert taken(session, helpline, 1, again).walk_in_entry.id == bob.id  # at the front, before Carol
    # Not joining this second call is his first miss: back to the front, not out of the queue.
    assert round_at(session, again + ANSWER_WITHIN).requeued == 1
    entry = fresh(session, bob.id)
    assert (entry.status, entry.requeued) == (EntryStatus.WAITING, True)
    assert why_sent_back(entry) is SentBack.NOT_ANSWERED
    assert fresh(session, carol.id).status is EntryStatus.WAITING


def test_a_started_call_keeps_its_callers_turn_open_while_its_clinician_waits(session, helpline, now):
    """Dr Brooks started the call; the worker put the caller back in the queue under her three minutes
    later, though she was in the call waiting for them."""
    dora = factories.walk_in(session, helpline, now=now).entry
    call = taken(session, helpline, 1, now)
    started(session, helpline, 1, call, now + timedelta(seconds=20))

    assert round_at(session, now + timedelta(minutes=10)).requeued == 0

    assert fresh(session, dora.id).status is EntryStatus.TAKEN
    assert status_of(session, call) is ConsultationStatus.IN_PROGRESS
    assert (
        answer(session, dora.id, now=now + timedelta(minutes=10), actor=Actor()) == "https://meet.example/r"
    )


def test_a_started_call_its_caller_never_joins_is_closed_as_not_held_at_its_end(session, helpline, now):
    """Once the call's time is over, its caller who never joined goes back to the front, and the call is
    cancelled: it was recorded "Done" when the clinician pressed Finish to take the next caller."""
    dora = factories.walk_in(session, helpline, now=now).entry
    erin = factories.walk_in(session, helpline, now=now).entry
    call = taken(session, helpline, 1, now)
    started(session, helpline, 1, call, now)

    assert round_at(session, call.ends_at - timedelta(seconds=1)).requeued == 0
    assert round_at(session, call.ends_at).requeued == 1

    entry = fresh(session, dora.id)
    assert (entry.status, entry.requeued) == (EntryStatus.WAITING, True)
    assert status_of(session, call) is ConsultationStatus.CANCELLED
    assert take_next(session, helpline.id, doctor(helpline, 1), now=call.ends_at).entry.id == dora.id
    assert fresh(session, erin.id).status is EntryStatus.WAITING


@pytest.mark.parametrize("same_round", [True, False], ids=["in one round", "in two rounds"])
def test_callers_sent_back_wait_at_the_front_in_the_order_they_joined(session, helpline, now, same_round):
    """rl1 and rl2 joined in that order and neither answered: rl2 came back as number 1, rl1 number 2."""
    rl1, rl2, rl3 = (factories.walk_in(session, helpline, now=now).entry.id for _ in range(3))
    second_take = now if same_round else now + timedelta(minutes=1)
    take_next(session, helpline.id, doctor(helpline, 0), now=now)
    take_next(session, helpline.id, doctor(helpline, 1), now=second_take)

    round_at(session, now + ANSWER_WITHIN)
    round_at(session, second_take + ANSWER_WITHIN)

    assert [fresh(session, rl).status for rl in (rl1, rl2)] == [EntryStatus.WAITING] * 2
    late = second_take + ANSWER_WITHIN
    assert taken_in_order(session, helpline, late, 2) == [rl1, rl2]
    assert fresh(session, rl3).status is EntryStatus.WAITING


def test_a_completed_caller_is_audited_when_the_round_sees_it_and_ends_with_their_call(
    session, helpline, now
):
    """walk_in.completed carried the call's end as its time, so the audit trail ran backwards."""
    caller = factories.walk_in(session, helpline, now=now).entry
    call = taken(session, helpline, 0, now)
    answer(session, caller.id, now=now, actor=Actor())
    started(session, helpline, 0, call, now)
    ended = now + timedelta(minutes=7)
    change_status(session, call.id, ConsultationStatus.FULFILLED, now=ended, actor=doctor(helpline, 0).actor)
    later = now + timedelta(minutes=9)

    assert round_at(session, later).completed == 1

    session.commit()
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    completed = next(e for e in events if e.action == "walk_in.completed")
    assert completed.occurred_at == later
    assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)
    assert fresh(session, caller.id).ended_at == ended


@postgres_only
def test_a_call_started_while_the_round_sends_its_caller_back_is_not_called_off_under_its_clinician(
    app, session, helpline, now, database_url
):
    """The round claims the caller who has not answered; their clinician starts the call before the round
    calls it off. The round locks the call with the caller, so the start waits and is refused: a started
    call is never cancelled from under its clinician, nor left running with its caller back in the queue."""
    caller = factories.walk_in(session, helpline, now=now).entry
    call = taken(session, helpline, 0, now)
    claimed, go_on = threading.Event(), threading.Event()

    def pause() -> None:  # the round, once it has claimed the caller
        claimed.set()
        go_on.wait(20)

    paused = racing.pausing_driver(database_url, lambda sql: "taken_at) <=" in sql, pause)
    round_engine, engine = create_engine(database_url, connect_args=paused), create_engine(database_url)
    outcomes: dict[str, object] = {}
    due = now + ANSWER_WITHIN
    actor = doctor(helpline, 0).actor
    sending_back = _running(app, outcomes, "round", round_engine, lambda s: round_at(s, due))
    assert claimed.wait(20), "the round never claimed the caller"
    starting = _running(
        app,
        outcomes,
        "start",
        engine,
        lambda s: change_status(s, call.id, ConsultationStatus.IN_PROGRESS, now=due, actor=actor),
    )
    with engine.connect() as watcher:
        while starting.is_alive() and not watcher.execute(sql(LOCK_WAITED)).scalar():
            starting.join(0.01)
    go_on.set()
    sending_back.join(30), starting.join(30)
    round_engine.dispose(), engine.dispose()

    session.commit()
    ended = session.get(Consultation, call.id, populate_existing=True)
    outcome = (ended.status, ended.started_at is not None, fresh(session, caller.id).status)
    assert outcome in (
        (ConsultationStatus.CANCELLED, False, EntryStatus.WAITING),
        (ConsultationStatus.IN_PROGRESS, True, EntryStatus.TAKEN),
    ), outcomes


LOCK_WAITED = "SELECT EXISTS (SELECT FROM pg_locks WHERE NOT granted)"


def _running(app, outcomes: dict[str, object], name: str, engine, work) -> threading.Thread:
    """`work` in a thread of its own, with a session on `engine`; its result or error in `outcomes`."""

    def run() -> None:
        with app.app_context(), Session(engine) as db_session:
            try:
                outcomes[name] = work(db_session)
            except Exception as raised:  # the outcome is what the test asserts on
                outcomes[name] = raised

    thread = threading.Thread(target=run)
    thread.start()
    return thread


# The staff pages: the call's page, sending back, and signing out.


def signed_in(session, client, queue=None, n: int = 0, role=StaffRole.CLINICIAN, **fields):
    if queue is not None:
        fields["clinician_id"] = queue.staff[n].id
    return login(session, client, role, **fields)


def joined_call_nobody_started(session, queue) -> tuple[WalkInEntry, Consultation]:
    """Dr Lewis took the caller and left; the caller joined the call, which nobody started."""
    entry = factories.walk_in(session, queue, now=utcnow() - timedelta(minutes=1)).entry
    call = taken(session, queue, 0, utcnow())
    answer(session, entry.id, now=utcnow(), actor=Actor())
    session.commit()
    return entry, call


def test_a_colleague_on_duty_sends_back_a_caller_left_in_a_call_nobody_started(client, session, helpline):
    """Dr Brooks, on duty for the same queue, got 404 on the call and could not help the caller."""
    entry, call = joined_call_nobody_started(session, helpline)
    behind = factories.walk_in(session, helpline, now=utcnow()).entry
    signed_in(session, client, helpline, 1)

    page = text(client.get(f"/schedule/consultations/{call.id}"))
    sent = client.post(f"/schedule/consultations/{call.id}/send-back")

    assert "has joined the call, and it has not been started." in page
    assert "Send them back to the queue</button>" in page
    assert (sent.status_code, sent.headers["Location"]) == (303, "/schedule/")
    assert f"{entry.name} is back at the front of the queue" in text(client.get("/schedule/"))
    sent_back = fresh(session, entry.id)
    assert (sent_back.status, sent_back.requeued) == (EntryStatus.WAITING, False)
    assert status_of(session, call) is ConsultationStatus.CANCELLED
    next_taken = take_next(session, helpline.id, doctor(helpline, 1), now=utcnow()).entry.id
    assert next_taken == entry.id and fresh(session, behind.id).status is EntryStatus.WAITING


def test_the_departments_reception_sends_back_a_caller_left_in_a_call_nobody_started(
    client, session, helpline
):
    entry, call = joined_call_nobody_started(session, helpline)
    signed_in(session, client, role=StaffRole.RECEPTION, department_id=helpline.department_id)

    page = text(client.get(f"/schedule/consultations/{call.id}"))
    sent = client.post(f"/schedule/consultations/{call.id}/send-back")

    assert "Send them back to the queue</button>" in page
    assert sent.status_code == 303 and fresh(session, entry.id).status is EntryStatus.WAITING


def test_staff_who_may_not_see_the_call_cannot_send_its_caller_back(client, session, helpline):
    entry, call = joined_call_nobody_started(session, helpline)
    elsewhere = factories.department(session, name="Elsewhere")
    off_duty = factories.clinician(session, [helpline.service])
    session.commit()

    for who in ({"role": StaffRole.RECEPTION, "department_id": elsewhere.id}, {"clinician_id": off_duty.id}):
        browser = factories.browser(client.application)
        signed_in(session, browser, **who)
        assert browser.get(f"/schedule/consultations/{call.id}").status_code == 404
        assert browser.post(f"/schedule/consultations/{call.id}/send-back").status_code == 404
    assert fresh(session, entry.id).status is EntryStatus.IN_CALL


def test_a_caller_just_called_or_in_a_call_under_way_is_not_sent_back(client, session, helpline):
    entry = factories.walk_in(session, helpline, now=utcnow()).entry
    walk_in_signed_in(session, helpline.staff[0], utcnow())  # Dr Lewis, in the call she takes
    call = taken(session, helpline, 0, utcnow())
    signed_in(session, client, helpline, 1)

    just_called = client.post(f"/schedule/consultations/{call.id}/send-back")
    answer(session, entry.id, now=utcnow(), actor=Actor())
    started(session, helpline, 0, call, utcnow())
    session.commit()
    page = text(client.get(f"/schedule/consultations/{call.id}"))
    under_way = client.post(f"/schedule/consultations/{call.id}/send-back")

    assert just_called.status_code == 409 and "They have just been called" in text(just_called)
    assert "Walk-in caller" not in page and "Send them back" not in page
    assert under_way.status_code == 409 and "The call is under way" in text(under_way)
    assert (fresh(session, entry.id).status, status_of(session, call)) == (
        EntryStatus.IN_CALL,
        ConsultationStatus.IN_PROGRESS,
    )


def test_the_clinician_waiting_in_a_call_the_caller_never_joins_is_told_and_sends_them_back(
    client, session, helpline
):
    """Dr Brooks waited in the call; Take next was refused until she pressed Finish, which recorded the
    call that never happened as "Done". A colleague on duty cannot take the caller from under her."""
    dora = factories.walk_in(session, helpline, now=utcnow()).entry
    erin = factories.walk_in(session, helpline, now=utcnow()).entry
    signed_in(session, client, helpline, 1)
    location = client.post(f"/schedule/walk-in/{helpline.id}/take").headers["Location"]
    session.commit()
    call = session.scalars(select(Consultation)).one()
    call.meeting_join_url, call.meeting_host_url = "https://meet.example/r", "https://meet.example/r?host"
    session.commit()
    client.post(f"{location}/start")
    colleague = factories.browser(client.application)
    signed_in(session, colleague, helpline, 0)

    page = text(client.get(location))
    refused = text(client.post(f"/schedule/walk-in/{helpline.id}/take", follow_redirects=True))
    by_colleague = colleague.post(f"{location}/send-back")
    sent = client.post(f"{location}/send-back")

    assert (
        f"{dora.name} has not joined the call yet" in page and "Send them back to the queue</button>" in page
    )
    assert "send the caller back to the queue if they have not joined" in refused
    assert by_colleague.status_code == 409 and "Their clinician started the call" in text(by_colleague)
    assert sent.status_code == 303
    entry = fresh(session, dora.id)
    assert (entry.status, entry.requeued) == (EntryStatus.WAITING, True)
    assert status_of(session, call) is ConsultationStatus.CANCELLED
    again = client.post(f"/schedule/walk-in/{helpline.id}/take")
    assert again.status_code == 303 and again.headers["Location"] != location
    assert fresh(session, dora.id).status is EntryStatus.TAKEN  # the front of the queue
    assert fresh(session, erin.id).status is EntryStatus.WAITING


def test_a_call_the_worker_called_off_says_why_offers_no_letter_and_was_taken_not_booked(
    client, session, helpline
):
    """Its history said "booked by Dr …" and it offered a cancellation letter, as for a booking."""
    entry = factories.walk_in(session, helpline, now=utcnow()).entry
    call = taken(session, helpline, 0, utcnow() - ANSWER_WITHIN)
    round_at(session, utcnow())
    signed_in(session, client, helpline, 0)

    page = text(client.get(f"/schedule/consultations/{call.id}"))

    assert f"This call was not held: {entry.name} did not join it, so they went back to the front" in page
    assert "Print a letter" not in page
    history = re.findall(r"<li>[^<]*: ([^<]*) by [^<]*</li>", page)
    assert history == ["taken from the walk-in queue", "cancelled"]


def test_signing_out_with_a_callers_call_unfinished_warns_first_then_signs_out(client, session, helpline):
    """Dr Lewis signed out with a caller taken: no warning, and the caller waited in the call for nobody."""
    caller = factories.walk_in(session, helpline, now=utcnow()).entry
    signed_in(session, client, helpline, 0)
    location = client.post(f"/schedule/walk-in/{helpline.id}/take").headers["Location"]

    first = client.post("/logout")
    page = text(client.get(first.headers["Location"]))
    second = client.post("/logout")

    assert (first.status_code, first.headers["Location"]) == (303, location)
    assert f"You are still signed in: you took {caller.name} from the walk-in queue" in page
    assert "To sign out anyway, press Sign out again." in page
    assert second.headers["Location"] == "/login"
    assert client.get("/schedule/").status_code == 302  # signed out: on to the sign-in page


def test_signing_out_once_the_callers_call_is_over_signs_out_at_once(client, session, helpline):
    factories.walk_in(session, helpline, now=utcnow())
    signed_in(session, client, helpline, 0)
    location = client.post(f"/schedule/walk-in/{helpline.id}/take").headers["Location"]
    session.commit()
    round_at(session, utcnow() + ANSWER_WITHIN)  # they never joined: back in the queue

    signed_out = client.post("/logout")

    assert signed_out.headers["Location"] == "/login" and location


def call_under_way(
    session, queue, *, clinician_seen_minutes_ago: int, signed_out: bool = False, n: int = 0
) -> tuple[WalkInEntry, Consultation]:
    """Dr Lewis (or Dr Brooks, `n` 1), signed in, took the caller 40 minutes ago and started the call,
    which the caller joined; her last sign in the app (a request that counts as activity) was
    `clinician_seen_minutes_ago`, when she also signed out if `signed_out`."""
    then = utcnow() - timedelta(minutes=40)
    entry = factories.walk_in(session, queue, now=then - timedelta(minutes=5)).entry
    clinician = walk_in_signed_in(session, queue.staff[n], then)
    call = taken(session, queue, n, then)
    answer(session, entry.id, now=then, actor=Actor())
    started(session, queue, n, call, then)
    seen = utcnow() - timedelta(minutes=clinician_seen_minutes_ago)
    for row in session.scalars(select(StaffSession).where(StaffSession.staff_user_id == clinician.id)):
        row.last_seen_at = seen
        row.ended_at = seen if signed_out else None
    session.commit()
    return entry, call


def test_a_call_whose_clinician_vanished_is_stalled_and_a_colleague_sends_the_caller_back_to_their_place(
    client, session, helpline
):
    """Dr Lewis's browser crashed in a call the caller had joined: the caller sat in a dead room, "In call"
    for ever, and Dr Brooks and reception could only watch it stay busy."""
    entry, call = call_under_way(session, helpline, clinician_seen_minutes_ago=IDLE_MINUTES + 1)
    behind = factories.walk_in(session, helpline, now=utcnow() - timedelta(minutes=20)).entry
    desk = factories.browser(client.application)
    signed_in(session, desk, role=StaffRole.RECEPTION, department_id=helpline.department_id)
    signed_in(session, client, helpline, 1)

    seen_by_desk = text(desk.get(f"/schedule/consultations/{call.id}"))
    page = text(client.get(f"/schedule/consultations/{call.id}"))
    sent = client.post(f"/schedule/consultations/{call.id}/send-back")

    for seen in (seen_by_desk, page):
        assert "The call has stalled" in seen and "Send them back to the queue</button>" in seen
    assert sent.status_code == 303
    sent_back = fresh(session, entry.id)
    assert (sent_back.status, sent_back.requeued) == (EntryStatus.WAITING, False)  # not held against them
    assert why_sent_back(sent_back) is SentBack.CLINICIAN_GONE
    assert status_of(session, call) is ConsultationStatus.CANCELLED
    next_taken = take_next(session, helpline.id, doctor(helpline, 1), now=utcnow()).entry.id
    assert next_taken == entry.id and fresh(session, behind.id).status is EntryStatus.WAITING


@pytest.mark.parametrize("quiet_minutes", [2, IDLE_MINUTES - 5])
def test_a_caller_is_never_sent_back_from_under_a_clinician_still_signed_in_to_their_call(
    client, session, helpline, quiet_minutes
):
    """Talking for 25 minutes without touching the app is no vanishing: the app keeps her signed in (its
    idle warning asks her first), so nobody takes her caller from a call still going on."""
    entry, call = call_under_way(session, helpline, clinician_seen_minutes_ago=quiet_minutes)
    signed_in(session, client, helpline, 1)

    page = text(client.get(f"/schedule/consultations/{call.id}"))
    refused = client.post(f"/schedule/consultations/{call.id}/send-back")

    assert "stalled" not in page and "Send them back" not in page
    assert refused.status_code == 409 and "The call is under way" in text(refused)
    assert (fresh(session, entry.id).status, status_of(session, call)) == (
        EntryStatus.IN_CALL,
        ConsultationStatus.IN_PROGRESS,
    )


def test_a_call_whose_clinician_signed_out_has_stalled_at_once(client, session, helpline):
    """Dr Lewis signed out two minutes ago past the warning (66dee8b) with her caller still in the call: no
    sign-in of hers is left to finish it, so a colleague may send the caller back now."""
    entry, call = call_under_way(session, helpline, clinician_seen_minutes_ago=2, signed_out=True)
    signed_in(session, client, helpline, 1)

    page = text(client.get(f"/schedule/consultations/{call.id}"))
    sent = client.post(f"/schedule/consultations/{call.id}/send-back")

    assert "The call has stalled" in page
    assert sent.status_code == 303 and fresh(session, entry.id).status is EntryStatus.WAITING


def test_a_call_whose_clinicians_account_was_deactivated_has_stalled_though_a_sign_in_looks_live(
    client, session, helpline
):
    """A sign-in of a deactivated account signs nobody in (staff.sessions.live), but the stalled check had a
    rule of its own that read only the session row: Dr Lewis's caller sat "In call" with nobody to finish
    it, and nobody could send them back. One rule serves both now."""
    entry, call = call_under_way(session, helpline, clinician_seen_minutes_ago=2)
    session.rollback()  # a read the test began would block the write (SQLite snapshot)
    user = session.scalar(select(StaffUser).where(StaffUser.clinician_id == helpline.staff[0].id))
    user.active = False  # its sessions left as they were, as a row changed by hand leaves them
    session.commit()
    signed_in(session, client, role=StaffRole.RECEPTION, department_id=helpline.department_id)
    day = {"date": call.starts_at.astimezone(zone(Config.DEFAULT_TIME_ZONE)).date().isoformat()}

    page = text(client.get(f"/schedule/consultations/{call.id}"))
    row = day_row(text(client.get("/schedule/", query_string=day)), call)
    sent = client.post(f"/schedule/consultations/{call.id}/send-back")

    assert "The call has stalled" in page
    assert '<span class="status-badge status-stalled" data-status>Call stalled</span>' in row
    assert sent.status_code == 303 and fresh(session, entry.id).status is EntryStatus.WAITING


@pytest.mark.parametrize(
    ("seen_minutes_ago", "signed_out"),
    [(2, True), (IDLE_MINUTES + 2, False)],
    ids=["signed out two minutes ago", "idled out two minutes ago"],
)
def test_a_call_whose_clinician_vanished_is_sent_back_by_the_round_once_gone_for_the_callers_time_to_answer(
    session, helpline, seen_minutes_ago, signed_out
):
    """Dr Lewis's browser closed in a call her caller had joined, and nobody pressed "Send back": nothing
    ended it. The caller sat in a dead room, their page saying "It is your turn", unable to join again
    until she came back. Once she has been gone as long as a caller has to answer, the round sends them
    back to the front, without it counting against them, as the system."""
    entry, call = call_under_way(
        session, helpline, clinician_seen_minutes_ago=seen_minutes_ago, signed_out=signed_out
    )
    behind = factories.walk_in(session, helpline, now=utcnow() - timedelta(minutes=20)).entry
    gone_since = utcnow() - timedelta(minutes=2)

    assert round_at(session, gone_since + ANSWER_WITHIN - timedelta(seconds=5)).requeued == 0
    assert fresh(session, entry.id).status is EntryStatus.IN_CALL
    assert round_at(session, gone_since + ANSWER_WITHIN + timedelta(seconds=5)).requeued == 1

    sent_back = fresh(session, entry.id)
    assert (sent_back.status, sent_back.requeued) == (EntryStatus.WAITING, False)
    assert why_sent_back(sent_back) is SentBack.CLINICIAN_GONE
    assert status_of(session, call) is ConsultationStatus.CANCELLED
    requeued = session.scalars(select(AuditEvent).where(AuditEvent.action == "walk_in.requeued")).one()
    assert (requeued.actor, requeued.details["why"]) == ("system", "clinician-gone")
    next_taken = take_next(session, helpline.id, doctor(helpline, 1), now=utcnow()).entry.id
    assert next_taken == entry.id and fresh(session, behind.id).status is EntryStatus.WAITING


@pytest.mark.parametrize("came_back", [False, True], ids=["still signed in", "signed in again"])
def test_the_round_leaves_a_call_under_way_while_its_clinician_has_a_live_sign_in(
    session, helpline, came_back
):
    """Quiet in a long call, or signed out by mistake and signed in again: the caller stays in the call."""
    seen = IDLE_MINUTES + 10 if came_back else 2
    entry, call = call_under_way(session, helpline, clinician_seen_minutes_ago=seen, signed_out=came_back)
    if came_back:
        walk_in_signed_in(session, helpline.staff[0], utcnow(), SESSIONS)

    assert round_at(session, utcnow() + timedelta(minutes=IDLE_MINUTES - 5)).requeued == 0

    assert (fresh(session, entry.id).status, status_of(session, call)) == (
        EntryStatus.IN_CALL,
        ConsultationStatus.IN_PROGRESS,
    )


def test_a_caller_the_round_sent_back_from_a_stalled_call_sees_themselves_waiting_at_the_front(
    client, session, helpline
):
    """Their page said "It is your turn" for as long as the dead call lasted; once sent back, it shows
    their place again: number 1, ahead of the caller who joined after them."""
    then = utcnow() - timedelta(minutes=40)
    joined = factories.walk_in(session, helpline, now=then - timedelta(minutes=5))
    factories.walk_in(session, helpline, now=then)
    walk_in_signed_in(session, helpline.staff[0], then, SESSIONS)
    call = taken(session, helpline, 0, then)
    answer(session, joined.entry.id, now=then, actor=Actor())
    started(session, helpline, 0, call, then)
    idled_out(session, helpline.staff[0])
    place = {"path": f"/walk-in/e/{joined.entry.reference}", "query_string": {"t": joined.token}}
    assert "It is your turn" in text(client.get(**place, follow_redirects=True))

    round_at(session, utcnow() + ANSWER_WITHIN)

    page = text(client.get(**place, follow_redirects=True))
    assert "It is your turn" not in page
    assert re.search(r"You are number (<[^>]*>)?1(<[^>]*>)? in the queue", page), page[:2000]


@postgres_only
def test_two_workers_rounds_at_once_send_a_stalled_calls_caller_back_once(
    app, session, helpline, database_url
):
    """One worker's round has claimed the caller of a stalled call when another's runs: the second skips
    the locked rows, so the caller goes back once, with one event, and their call is called off once."""
    entry, call = call_under_way(session, helpline, clinician_seen_minutes_ago=IDLE_MINUTES + 10)
    claimed, go_on = threading.Event(), threading.Event()

    def pause() -> None:  # the first round, once it has claimed the caller
        claimed.set()
        go_on.wait(20)

    paused = racing.pausing_driver(database_url, lambda sql: "staff_session" in sql and "SKIP" in sql, pause)
    first_engine, second_engine = (
        create_engine(database_url, connect_args=paused),
        create_engine(database_url),
    )
    outcomes: dict[str, object] = {}
    due = utcnow()
    first = _running(app, outcomes, "first", first_engine, lambda s: round_at(s, due))
    assert claimed.wait(20), "the first round never claimed the caller"
    second = _running(app, outcomes, "second", second_engine, lambda s: round_at(s, due))
    second.join(30)
    go_on.set()
    first.join(30)
    first_engine.dispose(), second_engine.dispose()

    assert [outcomes[name].requeued for name in ("first", "second")] == [1, 0], outcomes
    sent_back = fresh(session, entry.id)
    assert (sent_back.status, sent_back.requeued) == (EntryStatus.WAITING, False)
    assert status_of(session, call) is ConsultationStatus.CANCELLED
    events = session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("walk_in.requeued"))
    ).all()
    assert events == ["walk_in.requeued"]


def test_the_departments_day_marks_a_stalled_call_and_offers_to_send_its_caller_back_as_it_updates(
    client, session, helpline
):
    """Dr Lewis's browser crashed in a call her caller had joined: reception's day still listed it "In
    call", like Dr Brooks's call going on beside it, so nobody saw the caller stranded until they opened
    the call's page. Its row says the call has stalled, on the page and in the updates its script asks
    for, with the button to send the caller back; whether each of the day's calls stalled is asked in one
    statement, not one per row."""
    entry, stalled = call_under_way(session, helpline, clinician_seen_minutes_ago=IDLE_MINUTES + 1)
    _, going_on = call_under_way(session, helpline, clinician_seen_minutes_ago=2, n=1)
    gone = helpline.staff[0].display_name
    signed_in(session, client, role=StaffRole.RECEPTION, department_id=helpline.department_id)
    day = {"date": stalled.starts_at.astimezone(zone(Config.DEFAULT_TIME_ZONE)).date().isoformat()}

    with statements_run(db.engine) as run:
        page = text(client.get("/schedule/", query_string=day))
    updates = text(client.get("/schedule/updates", query_string=day))
    sent = client.post(f"/schedule/consultations/{stalled.id}/send-back")

    for drawn in (page, updates):
        row, other = day_row(drawn, stalled), day_row(drawn, going_on)
        assert '<span class="status-badge status-stalled" data-status>Call stalled</span>' in row
        assert f"but {gone} is no longer signed in: send the caller back to the queue." in row
        assert f'action="/schedule/consultations/{stalled.id}/send-back"' in row
        assert f'aria-label="Send back to the queue: {entry.name}">Send back to the queue</button>' in row
        assert "data-status>In call</span>" in other and "stalled" not in other and "send-back" not in other
        assert f'<li data-news="stalled-{stalled.id}">Call stalled: {entry.name}, ' in drawn
    # Beside the queues' count of who is on duty and signed in: one statement for both calls' clinicians.
    asked = [sql for sql in run if "staff_session" in sql and "walk_in_duty" not in sql]
    assert len(asked) == 1 and "walk_in_entry" in asked[0]
    assert sent.status_code == 303 and fresh(session, entry.id).status is EntryStatus.WAITING


def day_row(page: str, call: Consultation) -> str:
    """The day table's row of `call`, as drawn."""
    found = re.search(rf'<tr data-consultation="{call.id}".*?</tr>', page, re.DOTALL)
    assert found, f"no row for consultation {call.id}"
    return found[0]


def test_sending_a_stalled_caller_back_from_the_day_returns_to_the_day_and_scope_shown(
    client, session, helpline
):
    """An admin looking at the helpline's department narrowed to Dr Lewis, on the call's day, sent her
    stranded caller back and landed on plain /schedule/: the first department's today, everyone's, so
    they had to find their way back to the day they were keeping an eye on."""
    entry, call = call_under_way(session, helpline, clinician_seen_minutes_ago=IDLE_MINUTES + 1)
    signed_in(session, client, role=StaffRole.ADMIN)
    shown = call.starts_at.astimezone(zone(Config.DEFAULT_TIME_ZONE)).date().isoformat()
    whose = {"date": shown, "department": helpline.department_id, "clinician": helpline.staff[0].id}
    back = f"/schedule/?date={shown}&department={helpline.department_id}&clinician={helpline.staff[0].id}"

    row = day_row(text(client.get("/schedule/", query_string=whose)), call)
    form = re.search(r'<form method="post" action="[^"]*/send-back">.*?</form>', row, re.DOTALL)
    assert form, "no send-back form on the stalled call's row"
    assert f'<input type="hidden" name="next" value="{back.replace("&", "&amp;")}">' in form[0]
    sent = client.post(f"/schedule/consultations/{call.id}/send-back", data={"next": back})

    assert (sent.status_code, sent.headers["Location"]) == (303, back)
    assert fresh(session, entry.id).status is EntryStatus.WAITING
    assert f"{entry.name} is back at the front of the queue" in text(client.get(back))


@pytest.mark.parametrize(
    "elsewhere", ["https://evil.example/schedule/", "//evil.example/", "/\\evil.example/", "schedule/", ""]
)
def test_sending_a_caller_back_never_leads_off_the_site(client, session, helpline, elsewhere):
    """A `next` that is not a path on this site (a link crafted to land staff on a look-alike sign-in
    page) is ignored: back to the schedule, as from the call's own page."""
    entry, call = call_under_way(session, helpline, clinician_seen_minutes_ago=IDLE_MINUTES + 1)
    signed_in(session, client, role=StaffRole.RECEPTION, department_id=helpline.department_id)

    sent = client.post(f"/schedule/consultations/{call.id}/send-back", data={"next": elsewhere})

    assert (sent.status_code, sent.headers["Location"]) == (303, "/schedule/")
    assert fresh(session, entry.id).status is EntryStatus.WAITING


def test_the_week_marks_a_stalled_call_as_the_day_does(client, session, helpline):
    """Reception's week listed Dr Lewis's call as "In call" long after her browser crashed, while the
    day said "Call stalled": the week says so too, by the same rule, asked in one statement for the
    week's calls in progress; a week with none asks nothing."""
    _, stalled = call_under_way(session, helpline, clinician_seen_minutes_ago=IDLE_MINUTES + 1)
    _, going_on = call_under_way(session, helpline, clinician_seen_minutes_ago=2, n=1)
    gone = helpline.staff[0].display_name
    signed_in(session, client, role=StaffRole.RECEPTION, department_id=helpline.department_id)
    shown = stalled.starts_at.astimezone(zone(Config.DEFAULT_TIME_ZONE)).date()

    with statements_run(db.engine) as run:
        page = text(client.get("/schedule/week", query_string={"date": shown.isoformat()}))
    with statements_run(db.engine) as run_later:
        later = client.get("/schedule/week", query_string={"date": (shown + timedelta(days=7)).isoformat()})

    item, other = week_item(page, stalled), week_item(page, going_on)
    assert '<span class="status-badge status-stalled" data-status>Call stalled</span>' in item
    assert f"but {gone} is no longer signed in: send the caller back to the queue." in item
    assert "In call" not in item
    assert "data-status>In call</span>" in other and "stalled" not in other
    asked = [sql for sql in run if "staff_session" in sql and "walk_in_entry" in sql]
    assert len(asked) == 1
    assert later.status_code == 200 and not [sql for sql in run_later if "walk_in_entry" in sql]


def test_the_week_updates_itself_when_a_call_stalls_and_says_so_as_the_day_does(client, session, helpline):
    """Reception's week, left open, went on saying "In call" after Dr Lewis's browser crashed, while the
    day beside it turned to "Call stalled" within 15 seconds and said so to screen readers: the week asks
    for its changing part as the day does (schedule.js), and lists the same news, in the day's words."""
    entry, call = call_under_way(session, helpline, clinician_seen_minutes_ago=2)
    signed_in(session, client, role=StaffRole.RECEPTION, department_id=helpline.department_id)
    shown = {"date": call.starts_at.astimezone(zone(Config.DEFAULT_TIME_ZONE)).date().isoformat()}
    page = text(client.get("/schedule/week", query_string=shown))
    asks = re.search(r'<div data-updates="([^"]+)">', page)
    assert asks and 'role="status" data-news-said' in page and "/static/schedule.js" in page
    assert "stalled" not in week_item(page, call)

    idled_out(session, helpline.staff[0])
    updates = text(client.get(html.unescape(asks[1])))
    day = text(client.get("/schedule/updates", query_string=shown))

    assert '<span class="status-badge status-stalled" data-status>Call stalled</span>' in week_item(
        updates, call
    )
    said = re.findall(rf'<li data-news="stalled-{call.id}">[^<]*</li>', updates)
    assert said and said == re.findall(rf'<li data-news="stalled-{call.id}">[^<]*</li>', day)
    assert f"Call stalled: {entry.name}, " in said[0]
    client.post("/logout")
    assert client.get(html.unescape(asks[1])).status_code == 302  # signed out: on to the sign-in page


def idled_out(session, clinician) -> None:
    """The clinician's sign-in has seen nothing of them for longer than the idle timeout."""
    session.rollback()  # a read the test began would block the write (SQLite snapshot)
    user = session.scalar(select(StaffUser).where(StaffUser.clinician_id == clinician.id))
    for row in session.scalars(select(StaffSession).where(StaffSession.staff_user_id == user.id)):
        row.last_seen_at = utcnow() - timedelta(minutes=IDLE_MINUTES + 1)
    session.commit()


def week_item(page: str, call: Consultation) -> str:
    """The week list's item of `call`, as drawn."""
    found = re.search(
        rf'<li class="[^"]*" data-consultation="{call.id}"><a href="[^"]*">.*?</li>',
        page,
        re.DOTALL,
    )
    assert found, f"no item for consultation {call.id}"
    return found[0]


@pytest.mark.parametrize("view", ["day", "week"])
def test_sending_a_stalled_caller_back_from_the_calls_page_returns_to_the_schedule_it_was_opened_from(
    client, session, helpline, view
):
    """An admin watching the helpline's department, narrowed to Dr Lewis, opened her stranded caller's
    call from the day (or the week) and sent them back there: they landed on plain /schedule/, today's
    first department and everyone's, and had to find their way back."""
    entry, call = call_under_way(session, helpline, clinician_seen_minutes_ago=IDLE_MINUTES + 1)
    signed_in(session, client, role=StaffRole.ADMIN)
    shown = call.starts_at.astimezone(zone(Config.DEFAULT_TIME_ZONE)).date()
    first = shown if view == "day" else shown - timedelta(days=shown.weekday())
    whose = f"department={helpline.department_id}&clinician={helpline.staff[0].id}"
    back = f"/schedule/{'' if view == 'day' else 'week'}?date={first.isoformat()}&{whose}"
    schedule = text(client.get(f"{back.replace(first.isoformat(), shown.isoformat())}"))
    opened = re.search(rf'href="(/schedule/consultations/{call.id}\?[^"]*)"', schedule)
    assert opened, "no link to the call's page"

    page = text(client.get(html.unescape(opened[1])))
    form = re.search(r'<form method="post" action="[^"]*/send-back">.*?</form>', page, re.DOTALL)
    assert form, "no send-back form on the call's page"
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[0])
    data = {name: html.unescape(value) for name, value in fields}
    sent = client.post(f"/schedule/consultations/{call.id}/send-back", data=data)

    assert (sent.status_code, sent.headers["Location"]) == (303, back)
    assert fresh(session, entry.id).status is EntryStatus.WAITING
    assert f"{entry.name} is back at the front of the queue" in text(client.get(back))


@pytest.mark.parametrize(
    "elsewhere", ["https://evil.example/schedule/", "//evil.example/", "/\\evil.example/", "schedule/", ""]
)
def test_the_calls_page_never_sends_staff_off_the_site_whatever_it_was_opened_with(
    client, session, helpline, elsewhere
):
    """A call's page opened with a `next` that is not a path on this site (a link crafted to land staff on
    a look-alike sign-in page) returns to the call's own day instead."""
    _, call = call_under_way(session, helpline, clinician_seen_minutes_ago=IDLE_MINUTES + 1)
    signed_in(session, client, role=StaffRole.RECEPTION, department_id=helpline.department_id)
    day = f"/schedule/?date={call.starts_at.astimezone(zone(Config.DEFAULT_TIME_ZONE)).date().isoformat()}"

    page = text(client.get(f"/schedule/consultations/{call.id}", query_string={"next": elsewhere}))

    assert f'<input type="hidden" name="next" value="{day}">' in page
    assert f'<a href="{day}">Back to the schedule</a>' in page
    assert "evil" not in page
