"""The walk-in queue's services: joining, places and waits, taking, leaving, and the worker's rounds."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import json
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise, product

import jwt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from clinic.audit import Actor
from clinic.jobs.worker import Worker
from clinic.models import (
    AuditEvent,
    Consultation,
    ConsultationStatus,
    EntryStatus,
    OutboxKind,
    QueueStatus,
    SessionEnd,
    StaffRole,
    StaffUser,
    WalkInEntry,
)
from clinic.scheduling.booking import Consent
from clinic.scheduling.errors import IdempotencyConflict, NotFound
from clinic.scheduling.lifecycle import change_status
from clinic.staff.members import StaffMember
from clinic.staff.sessions import Client, SessionRules, end_sessions, open_session
from clinic.walkin.callers import CallerDetails, check_caller_details
from clinic.walkin.errors import AlreadyInQueue, NobodyWaiting, QueueNotOpen, TakeRefused
from clinic.walkin.queue import (
    Joined,
    answer,
    call_over,
    caller_view,
    current_status,
    entry_for_token,
    held_place,
    join,
    leave,
)
from clinic.walkin.rounds import RoundResult, walk_in_round
from clinic.walkin.send_back import CallStage, walk_in_call
from clinic.walkin.take import take_next
from clinic.walkin.waits import PACE_WINDOW, Pace, WaitRules, place_in_queue

from . import factories, racing
from .conftest import TEST_KEYS
from .fakes.outbox import Clock, outbox  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .racing import racing_engine

ANSWER_WITHIN = timedelta(minutes=3)
RACERS = 3
PER_CALLER = timedelta(minutes=10)
SESSIONS = SessionRules(idle=timedelta(minutes=30), lifetime=timedelta(hours=12), admin_second_factor=False)
RULES = WaitRules(PER_CALLER, SESSIONS)


@pytest.fixture
def helpline(session):
    """A 20-minute helpline open at all hours, with two clinicians on duty."""
    svc = factories.service(session, duration_minutes=20)
    doctors = [factories.clinician(session, [svc]) for _ in range(2)]
    return factories.walk_in_queue(session, svc, doctors)


def on_duty(queue, n: int = 0) -> StaffMember:
    return StaffMember(500 + n, StaffRole.CLINICIAN, clinician_id=queue.staff[n].id)


def signed_in(session, clinician, now, rules: SessionRules = SESSIONS) -> StaffUser:
    """The clinician's own account (made the first time), signed in at `now`: a staff session opened then."""
    user = session.scalar(select(StaffUser).where(StaffUser.clinician_id == clinician.id))
    user = user or factories.linked_staff(session, clinician, StaffRole.CLINICIAN)
    open_session(session, user, now=now, rules=rules, client=Client(), second_factor=False)
    session.commit()
    return user


def offered(session, call: Consultation) -> Consultation:
    """The call's meeting made: its caller's page shows the join button."""
    session.get(Consultation, call.id).meeting_join_url = "https://meet.example/room"
    session.commit()
    return call


def fresh(session, entry: WalkInEntry) -> WalkInEntry:
    session.commit()
    return session.get(WalkInEntry, entry.id, populate_existing=True)


def actions(session) -> list[str]:
    session.commit()
    return [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_callers_join_at_the_back_and_see_their_place_and_wait(session, helpline, now):
    for clinician in helpline.staff:
        signed_in(session, clinician, now - timedelta(minutes=5))
    first, second, third = (factories.walk_in(session, helpline, now=now).entry for _ in range(3))

    places = [place_in_queue(session, e, now, RULES) for e in (first, second, third)]

    assert [p.number for p in places] == [1, 2, 3]
    assert actions(session) == ["walk_in.joined"] * 3
    # Ten minutes a caller, shared by the two clinicians on duty, rounded up.
    assert [p.wait for p in places] == [timedelta(minutes=5), timedelta(minutes=10), timedelta(minutes=15)]


def test_with_nobody_on_duty_signed_in_no_wait_is_promised(session, helpline, now):
    """At 02:19 on a Sunday, with nobody signed in, a caller was told "about 5 minutes": the rostered
    clinicians were counted whether or not anyone was there."""
    doctor, other = helpline.staff
    idle = signed_in(session, other, now - SESSIONS.idle - timedelta(minutes=1))  # timed out since
    gone = signed_in(session, doctor, now - timedelta(minutes=5))
    end_sessions(session, gone.id, SessionEnd.LOGOUT, now=now, actor=Actor())
    caller = factories.walk_in(session, helpline, now=now).entry

    place = place_in_queue(session, caller, now, RULES)
    signed_in(session, other, now)
    again = place_in_queue(session, caller, now, RULES)

    assert idle.clinician_id == other.id
    assert (place.number, place.wait) == (1, None)
    assert again.wait == PER_CALLER  # one clinician there now, for the one caller


def test_a_burst_of_takes_as_the_queue_opens_is_no_pace_to_promise_from(session, helpline, now):
    """Four callers and two clinicians: once three callers were taken within three minutes, the caller
    now first was told "about 20 minutes" and the fourth "about 1 hour 20 minutes", four times what they
    were told before: three takes were spread over a whole hour the queue had not been open for."""
    for clinician in helpline.staff:
        signed_in(session, clinician, now)
    callers = [factories.walk_in(session, helpline, now=now).entry for _ in range(7)]
    before = [place_in_queue(session, caller, now, RULES).wait for caller in callers[3:]]
    for minute in range(3):
        take_next(session, helpline.id, on_duty(helpline, minute % 2), now=now + timedelta(minutes=minute))
        leave(session, callers[minute].id, now=now + timedelta(minutes=minute), actor=Actor())

    after = [place_in_queue(session, c, now + timedelta(minutes=3), RULES) for c in callers[3:]]

    assert [p.number for p in after] == [1, 2, 3, 4]
    assert [p.wait for p in after] == [timedelta(minutes=m) for m in (5, 10, 15, 20)]
    assert all(later <= earlier for later, earlier in zip([p.wait for p in after], before, strict=True))


def test_the_pace_is_measured_over_the_time_the_queue_has_been_open(session, now):
    """Opened at 09:00, callers taken every five minutes: at 09:40 the pace is the five minutes between
    takes, not their number spread over an hour the queue was closed for most of."""
    svc = factories.service(session)
    queue = factories.walk_in_queue(
        session, svc, [factories.clinician(session, [svc])], hours=(time(9), time(17)), weekdays=[0]
    )
    opened = now + timedelta(hours=1)  # 09:00 on a Monday in London
    signed_in(session, queue.staff[0], opened + timedelta(minutes=35))
    for _ in range(9):
        factories.walk_in(session, queue, now=opened)
    for n in range(8):
        take = opened + timedelta(minutes=5 * n)
        taken = take_next(session, queue.id, on_duty(queue), now=take)
        leave(session, taken.entry.id, now=take, actor=Actor())
    last = session.scalars(select(WalkInEntry).where(WalkInEntry.status == EntryStatus.WAITING)).one()

    place = place_in_queue(session, last, opened + timedelta(minutes=37), RULES)

    assert (place.number, place.wait) == (1, timedelta(minutes=5))


def steady_readings(gap: int, phase: int, place: int, earlier: int, per_caller: int, signed: int):
    """A caller's estimates, read `phase` seconds after each take, as they move from `place` to the front
    of a queue open since 0 whose callers are taken every `gap` minutes, `earlier` of them before they
    joined; each as (estimate, whether the pace was measured by then)."""
    opened = datetime(2026, 3, 2, 9, tzinfo=UTC)
    takes = [opened + timedelta(minutes=gap * n) for n in range(earlier + place)]
    readings = []
    for step in range(place):
        now = takes[earlier + step] + timedelta(seconds=phase)
        since = max(now - PACE_WINDOW, opened)
        seen = [t for t in takes if since <= t <= now]
        pace = Pace(now, signed, len(seen), min(seen), max(seen), timedelta(minutes=per_caller))
        readings.append((pace.wait(ahead=place - step - 1), pace.between_takes() is not None))
    return readings


@settings(max_examples=400)
@given(
    gap=st.integers(1, 40),
    phase_share=st.floats(0, 0.999),
    place=st.integers(2, 40),
    earlier=st.integers(0, 30),
    per_caller=st.integers(1, 30),
    signed=st.integers(1, 4),
)
def test_at_a_steady_pace_a_callers_estimate_never_grows_as_they_move_forward(
    gap, phase_share, place, earlier, per_caller, signed
):
    """Once the pace is measured, whatever it is; and from the start when staff keep the pace they are
    expected to, or a faster one (a slower one than expected is news, which the estimate then tells)."""
    readings = steady_readings(gap, int(gap * 60 * phase_share), place, earlier, per_caller, signed)
    as_expected = gap <= per_caller / signed

    for (before, measured), (after, _) in pairwise(readings):
        if measured or as_expected:
            assert after <= before, readings


def test_one_join_form_posted_by_racing_requests_makes_one_place(app, session, helpline, now, database_url):
    """A double click sends the join form twice at once. Each post runs in a thread and connection of its
    own, pausing after it looked for the form's place, so on PostgreSQL both look before either writes:
    one place is made, and every post is given it."""
    engine = racing_engine(database_url, RACERS, lambda sql: "join_key" in sql)
    queue_id = helpline.id  # read here: the fixture's session is the test's, not to be shared by threads

    def post(db_session) -> tuple[int, bool]:
        with app.app_context():
            outcome = joined_with_key(db_session, queue_id, now)
            return outcome.entry.id, outcome.already  # read before the race's session closes

    try:
        outcomes = racing.race(engine, [post] * RACERS)
    finally:
        engine.dispose()

    assert all(isinstance(outcome, tuple) for outcome in outcomes), outcomes
    assert len({entry_id for entry_id, _ in outcomes}) == 1
    assert sorted(already for _, already in outcomes) == [False] + [True] * (RACERS - 1)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(WalkInEntry)) == 1


def test_a_join_form_sent_again_after_its_place_was_left_joins_anew(session, helpline, now):
    first = joined_with_key(session, helpline.id, now)
    leave(session, first.entry.id, now=now, actor=Actor())

    again = joined_with_key(session, helpline.id, now)

    assert again.entry.id != first.entry.id and not again.already


def test_posts_of_one_join_key_racing_from_two_browsers_give_the_place_to_one_browser_only(
    app, session, helpline, now, database_url
):
    """The key is in the form's page, so it can be copied. Two posts of the form from its own browser (a
    double click) and two of its key from another, racing as above: one place is made, and only the
    browser whose join made it is given it; every other post is refused."""
    engine = racing_engine(database_url, 4, lambda sql: "join_key" in sql)
    queue_id = helpline.id
    callers = {"tablet": factories.caller_details(1), "thief": factories.caller_details(2)}

    def post(browser: str):
        def attempt(db_session) -> tuple[str, int]:
            with app.app_context():
                return browser, joined_with_key(db_session, queue_id, now, callers[browser], browser).entry.id

        return attempt

    try:
        outcomes = racing.race(engine, [post("tablet"), post("thief")] * 2)
    finally:
        engine.dispose()

    given_a_place = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    assert {browser for browser, _ in given_a_place} in ({"tablet"}, {"thief"}), outcomes
    assert len(given_a_place) == 2 and len({entry_id for _, entry_id in given_a_place}) == 1
    assert all(
        isinstance(outcome, IdempotencyConflict) for outcome in outcomes if outcome not in given_a_place
    )
    session.rollback()
    assert session.scalars(select(WalkInEntry.name)).all() == [callers[given_a_place[0][0]].name]


@pytest.mark.parametrize(
    "again",
    [
        CallerDetails("dan  SMITH", "dan@example.org", ""),  # as typed in another browser
        CallerDetails("Dan Smith", "DAN@example.org", "", needs_interpreter=True),
    ],
)
def test_the_same_name_and_e_mail_address_cannot_hold_a_second_place(session, helpline, now, again):
    """Dan joined with dan@example.org, then again from a fresh browser: two places, numbers 4 and 7."""
    factories.walk_in(session, helpline, now=now, details=CallerDetails("Dan Smith", "dan@example.org", ""))

    with pytest.raises(AlreadyInQueue):
        factories.walk_in(session, helpline, now=now, details=again)

    session.rollback()
    assert session.scalar(select(func.count()).select_from(WalkInEntry)) == 1


def test_one_phone_number_holds_one_place_per_name(session, helpline, now):
    """A care home gives its one number for several residents: their names tell them apart. The same
    name on the same number, however spaced, is the same person."""
    home = "+44 20 7946 0000"
    factories.walk_in(session, helpline, now=now, details=CallerDetails("Ivy Hart", None, home))
    factories.walk_in(session, helpline, now=now, details=CallerDetails("Rose Hart", None, home))

    with pytest.raises(AlreadyInQueue):
        factories.walk_in(
            session, helpline, now=now, details=CallerDetails("Ivy Hart", None, "+442079460000")
        )
    assert session.scalars(select(WalkInEntry.name).order_by(WalkInEntry.id)).all() == [
        "Ivy Hart",
        "Rose Hart",
    ]


@st.composite
def two_writings_of_one_number(draw) -> tuple[str, str]:
    """One number written twice in the ways people write numbers: with its country code (+44, 0044, the
    trunk's 0 kept, in brackets or not) or as dialled at home (07700 900123, or without a trunk 0 as in North
    America), its digits grouped by spaces, hyphens or dots, an area code in brackets."""
    code = str(draw(st.integers(1, 998)))
    number = draw(st.sampled_from("123456789")) + draw(
        st.text(alphabet="0123456789", min_size=6, max_size=14 - len(code))
    )

    def written() -> str:
        cuts = sorted(draw(st.sets(st.integers(1, len(number) - 1), max_size=3)))
        groups = [number[start:end] for start, end in pairwise([0, *cuts, len(number)])]
        spaced = groups[0] + "".join(draw(st.sampled_from(" -.")) + group for group in groups[1:])
        national = f"0{groups[0]}"
        return draw(
            st.sampled_from(
                [
                    f"+{code} {spaced}",
                    f"00{code} {spaced}",
                    f"+{code} (0){spaced}",
                    f"+{code} 0{spaced}",  # the trunk 0 kept after the code, brackets left out
                    f"0{spaced}",
                    f"({national}) {spaced.removeprefix(groups[0]).lstrip(' -.')}".strip(),
                    spaced,
                ]
            )
        )

    return written(), written()


_callers = iter(range(10**9))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writings=two_writings_of_one_number())
@example(writings=("+44 7700 900123", "07700 900123"))
@example(writings=("07700-900-123", "+44 (0)7700 900123"))
@example(writings=("0044 7700 900123", "07700.900.123"))
@example(writings=("+44 07700 900123", "+44 7700 900123"))
def test_the_same_number_in_any_common_writing_holds_one_place(session, helpline, now, writings):
    """A caller who gave '+44 7700 900123' joined again as '07700 900123' from another browser: two places
    for one person, where the same number typed twice the same way holds one."""
    name, first, again = f"Gwen {next(_callers)}", *writings
    factories.walk_in(session, helpline, now=now, details=check_caller_details(**contact(name, first)))

    with pytest.raises(AlreadyInQueue):
        factories.walk_in(session, helpline, now=now, details=check_caller_details(**contact(name, again)))


def contact(name: str, phone: str) -> dict[str, object]:
    return {"name": name, "contact": phone, "consented": True}


def test_a_caller_whose_place_ended_or_is_in_another_queue_may_join_again(session, helpline, now):
    dan = CallerDetails("Dan Smith", "dan@example.org", "")
    other_queue = factories.walk_in_queue(session, helpline.service, helpline.staff)
    left = factories.walk_in(session, helpline, now=now, details=dan).entry
    leave(session, left.id, now=now, actor=Actor())

    again = factories.walk_in(session, helpline, now=now, details=dan).entry
    take_next(session, helpline.id, on_duty(helpline), now=now)  # their turn: still their place
    elsewhere = factories.walk_in(session, other_queue, now=now, details=dan).entry

    assert again.id != left.id and elsewhere.queue_id == other_queue.id
    with pytest.raises(AlreadyInQueue):
        factories.walk_in(session, helpline, now=now, details=dan)


@pytest.mark.parametrize("answered", [False, True])
def test_a_caller_whose_call_is_over_may_join_again_before_the_round_completes_it(
    session, helpline, now, answered
):
    """Dan's call has just finished and he wants to ask one more thing; the worker's housekeeping (once a
    minute) has not yet marked his place completed. Until the fix he was told he already had a place, and
    his page still offered him the ended call."""
    dan = CallerDetails("Dan Smith", "dan@example.org", "")
    factories.walk_in(session, helpline, now=now, details=dan)
    taken = take_next(session, helpline.id, on_duty(helpline), now=now)
    if answered:
        session.get(Consultation, taken.consultation.id).meeting_join_url = "https://meet.example/room"
        session.commit()
        answer(session, taken.entry.id, now=now, actor=Actor())
    ended = now + timedelta(minutes=6)
    change_status(
        session, taken.consultation.id, ConsultationStatus.FULFILLED, now=ended, actor=on_duty(helpline).actor
    )

    his_page = caller_view(session, fresh(session, taken.entry), ended, RULES)
    again = factories.walk_in(session, helpline, now=ended, details=dan).entry

    assert (his_page.status, his_page.meeting_ready) == (EntryStatus.COMPLETED, False)
    assert again.id != taken.entry.id and again.status is EntryStatus.WAITING
    assert walk_in_round(session, ended, answer_within=ANSWER_WITHIN, sessions=SESSIONS).completed == 1
    assert fresh(session, taken.entry).status is EntryStatus.COMPLETED
    with pytest.raises(AlreadyInQueue):  # the new place is his
        factories.walk_in(session, helpline, now=ended, details=dan)


def test_the_round_completes_exactly_the_callers_whose_page_says_their_call_is_over(session, helpline, now):
    """One rule, read in SQL by the housekeeping round and in Python by the caller's page."""
    factories.walk_in(session, helpline, now=now)
    taken = take_next(session, helpline.id, on_duty(helpline), now=now)
    entry, call = taken.entry, session.get(Consultation, taken.consultation.id)
    for entry_status, call_status in product((EntryStatus.TAKEN, EntryStatus.IN_CALL), ConsultationStatus):
        entry.status, call.status = entry_status, call_status
        session.flush()
        in_sql = session.scalar(
            select(call_over())
            .select_from(WalkInEntry)
            .join(WalkInEntry.consultation)
            .where(WalkInEntry.id == entry.id)
        )
        assert in_sql == (current_status(entry) is EntryStatus.COMPLETED), (entry.status, call.status)
    session.rollback()


def test_the_same_caller_joining_from_two_browsers_at_once_gets_one_place(
    app, session, helpline, now, database_url
):
    """Both posts look for the caller's details before either writes its place (on PostgreSQL, without
    the queue's lock, both would find none)."""
    engine = racing_engine(database_url, 2, lambda sql: "walk_in_entry.name" in sql)
    queue_id = helpline.id

    def post(db_session) -> int:
        with app.app_context():
            details, consent = factories.caller_details(1), Consent("2026-12-01")
            return join(
                db_session, queue_id, details, consent, now=now, keys=TEST_KEYS, actor=Actor()
            ).entry.id

    try:
        outcomes = racing.race(engine, [post, post])
    finally:
        engine.dispose()

    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["AlreadyInQueue", "int"], outcomes
    session.rollback()
    assert session.scalar(select(func.count()).select_from(WalkInEntry)) == 1


def joined_with_key(
    db_session, queue_id: int, now, details: CallerDetails | None = None, browser: str = ""
) -> Joined:
    """One post of the same join form (the same form key each time): by default the same caller, from
    the same browser."""
    return join(
        db_session,
        queue_id,
        details or factories.caller_details(1),
        Consent("2026-12-01"),
        now=now,
        keys=TEST_KEYS,
        actor=Actor(),
        join_key="k" * 32,
        browser=browser,
    )


def test_the_wait_follows_the_pace_of_the_takes_and_slows_with_it():
    now = datetime(2026, 3, 2, 10, tzinfo=UTC)

    def pace(takes: int, first: int, last: int, signed: int = 1) -> Pace:
        """`takes` callers taken from `first` to `last` minutes before `now`."""
        ago = [now - timedelta(minutes=first), now - timedelta(minutes=last)]
        return Pace(now, signed, takes, *ago, PER_CALLER)

    assert pace(0, 0, 0, signed=2).wait(ahead=0) == timedelta(minutes=5)  # none yet: as expected
    assert pace(13, 60, 0).wait(ahead=2) == timedelta(minutes=15)  # every 5 minutes
    assert pace(61, 60, 0).wait(ahead=0) == timedelta(minutes=1)  # at least a minute
    assert pace(13, 60, 20).wait(ahead=0) == timedelta(minutes=20)  # nobody taken for 20 minutes
    assert pace(3, 2, 0).wait(ahead=0) == PER_CALLER  # three at once are not yet a pace


@pytest.mark.parametrize("status", [QueueStatus.PAUSED, QueueStatus.CLOSED])
def test_nobody_joins_a_paused_or_closed_queue(session, helpline, now, status):
    helpline.status = status
    session.commit()

    with pytest.raises(QueueNotOpen):
        factories.walk_in(session, helpline, now=now)
    assert session.scalars(select(WalkInEntry)).all() == []


def test_nobody_joins_outside_the_opening_hours_and_is_told_when_it_opens(session, now):
    svc = factories.service(session)
    queue = factories.walk_in_queue(
        session, svc, [factories.clinician(session, [svc])], hours=(time(9), time(17)), weekdays=range(5)
    )

    with pytest.raises(QueueNotOpen, match="It opens"):
        factories.walk_in(session, queue, now=now)  # 08:00 on a Monday in London
    assert factories.walk_in(session, queue, now=now + timedelta(hours=1)).entry.status is EntryStatus.WAITING


def test_taking_the_next_caller_makes_a_consultation_whose_meeting_goes_through_the_outbox(
    session, helpline, now
):
    first = factories.walk_in(session, helpline, now=now).entry
    factories.walk_in(session, helpline, now=now + timedelta(minutes=1))

    taken = take_next(session, helpline.id, on_duty(helpline), now=now + timedelta(minutes=2))

    assert taken.entry.id == first.id
    entry = fresh(session, first)
    call = session.get(Consultation, entry.consultation_id)
    assert (entry.status, entry.taken_by, entry.taken_at) == (
        EntryStatus.TAKEN,
        helpline.staff[0].id,
        now + timedelta(minutes=2),
    )
    assert call.status is ConsultationStatus.ARRIVED and call.clinician_id == helpline.staff[0].id
    assert call.starts_at == now + timedelta(minutes=2) and call.ends_at == call.starts_at + timedelta(
        minutes=20
    )
    assert call.patient.name == first.name and call.patient.birth_date is None
    assert call.reason == "" and call.consent_notice_version == "2026-12-01"
    assert [m.kind for m in call_messages(session, call)] == [OutboxKind.MEETING_CREATE]  # no mail
    assert actions(session)[-2:] == ["consultation.taken", "walk_in.taken"]


def call_messages(session, call):
    from clinic.models import OutboxMessage

    return session.scalars(select(OutboxMessage).where(OutboxMessage.consultation_id == call.id)).all()


def test_an_empty_queue_has_nobody_to_take(session, helpline, now):
    with pytest.raises(NobodyWaiting):
        take_next(session, helpline.id, on_duty(helpline), now=now)


def test_staff_not_on_duty_cannot_take(session, helpline, now):
    factories.walk_in(session, helpline, now=now)
    outsider = factories.clinician(session, [helpline.service])
    session.commit()

    with pytest.raises(TakeRefused, match="not on duty"):
        take_next(
            session, helpline.id, StaffMember(9, StaffRole.CLINICIAN, clinician_id=outsider.id), now=now
        )
    assert fresh(session, session.scalars(select(WalkInEntry)).one()).status is EntryStatus.WAITING


def test_a_clinician_with_a_booking_in_the_calls_time_is_refused_and_the_caller_keeps_their_place(
    session, helpline, now
):
    factories.consultation(session, helpline.service, helpline.staff[0], now + timedelta(minutes=10))
    caller = factories.walk_in(session, helpline, now=now).entry

    with pytest.raises(TakeRefused, match="Finish it, or take the next caller after it"):
        take_next(session, helpline.id, on_duty(helpline), now=now)
    assert fresh(session, caller).status is EntryStatus.WAITING
    assert take_next(session, helpline.id, on_duty(helpline, 1), now=now).entry.id == caller.id


def test_a_clinician_who_finished_a_call_early_can_take_the_next_at_once(session, helpline, now):
    for _ in range(2):
        factories.walk_in(session, helpline, now=now)
    first = take_next(session, helpline.id, on_duty(helpline), now=now)
    staff = on_duty(helpline)
    change_status(session, first.consultation.id, ConsultationStatus.IN_PROGRESS, now=now, actor=staff.actor)
    with pytest.raises(TakeRefused):  # still in the first call
        take_next(session, helpline.id, staff, now=now + timedelta(minutes=4))
    later = now + timedelta(minutes=5)
    change_status(session, first.consultation.id, ConsultationStatus.FULFILLED, now=later, actor=staff.actor)

    second = take_next(session, helpline.id, staff, now=later)

    assert second.entry.id != first.entry.id
    session.commit()
    assert session.get(Consultation, first.consultation.id, populate_existing=True).ends_at == later


def test_a_caller_who_leaves_is_out_of_the_queue_and_their_call_is_called_off(session, helpline, now):
    waiting = factories.walk_in(session, helpline, now=now).entry
    behind = factories.walk_in(session, helpline, now=now).entry
    taken = take_next(session, helpline.id, on_duty(helpline), now=now)

    leave(session, taken.entry.id, now=now, actor=Actor())

    assert fresh(session, waiting).status is EntryStatus.LEFT
    call = session.get(Consultation, taken.consultation.id, populate_existing=True)
    assert call.status is ConsultationStatus.CANCELLED
    assert [m.kind for m in call_messages(session, call)] == [
        OutboxKind.MEETING_CREATE,
        OutboxKind.MEETING_CANCEL,
    ]
    leave(session, behind.id, now=now, actor=Actor())
    assert fresh(session, behind).status is EntryStatus.LEFT
    assert actions(session).count("walk_in.left") == 2


def test_a_caller_who_does_not_answer_goes_back_to_the_front_once_then_is_dropped(session, helpline, now):
    caller = factories.walk_in(session, helpline, now=now).entry
    later_caller = factories.walk_in(session, helpline, now=now).entry
    first_call = offered(session, take_next(session, helpline.id, on_duty(helpline), now=now).consultation)

    assert (
        walk_in_round(
            session,
            now + ANSWER_WITHIN - timedelta(seconds=1),
            answer_within=ANSWER_WITHIN,
            sessions=SESSIONS,
        ).requeued
        == 0
    )
    result = walk_in_round(session, now + ANSWER_WITHIN, answer_within=ANSWER_WITHIN, sessions=SESSIONS)

    assert result.requeued == 1
    entry = fresh(session, caller)
    assert (entry.status, entry.requeued) == (EntryStatus.WAITING, True)
    assert (
        session.get(Consultation, first_call.id, populate_existing=True).status
        is ConsultationStatus.CANCELLED
    )
    again = now + timedelta(minutes=4)
    taken_again = take_next(session, helpline.id, on_duty(helpline, 1), now=again)
    offered(session, taken_again.consultation)
    assert taken_again.entry.id == caller.id  # the front
    assert (
        walk_in_round(session, again + ANSWER_WITHIN, answer_within=ANSWER_WITHIN, sessions=SESSIONS).dropped
        == 1
    )
    assert fresh(session, caller).status is EntryStatus.DROPPED
    assert fresh(session, later_caller).status is EntryStatus.WAITING
    assert {"walk_in.requeued", "walk_in.dropped"} <= set(actions(session))


def test_a_caller_in_a_call_under_way_is_not_sent_back(session, helpline, now):
    factories.walk_in(session, helpline, now=now)
    taken = take_next(session, helpline.id, on_duty(helpline), now=now)
    call = session.get(Consultation, taken.consultation.id)
    call.meeting_join_url = "https://meet.example/room"
    session.commit()

    assert answer(session, taken.entry.id, now=now, actor=Actor()) == "https://meet.example/room"
    change_status(session, call.id, ConsultationStatus.IN_PROGRESS, now=now, actor=on_duty(helpline).actor)
    signed_in(session, helpline.staff[0], now + timedelta(minutes=50))  # its clinician is still there
    assert (
        walk_in_round(
            session, now + timedelta(hours=1), answer_within=ANSWER_WITHIN, sessions=SESSIONS
        ).requeued
        == 0
    )
    assert fresh(session, taken.entry).status is EntryStatus.IN_CALL


def test_a_finished_call_completes_its_caller(session, helpline, now):
    factories.walk_in(session, helpline, now=now)
    taken = take_next(session, helpline.id, on_duty(helpline), now=now)
    staff = on_duty(helpline)
    change_status(session, taken.consultation.id, ConsultationStatus.IN_PROGRESS, now=now, actor=staff.actor)
    ended = now + timedelta(minutes=7)
    change_status(session, taken.consultation.id, ConsultationStatus.FULFILLED, now=ended, actor=staff.actor)

    assert walk_in_round(session, ended, answer_within=ANSWER_WITHIN, sessions=SESSIONS).completed == 1
    entry = fresh(session, taken.entry)
    assert (entry.status, entry.ended_at) == (EntryStatus.COMPLETED, ended)
    assert actions(session).count("walk_in.completed") == 1


def test_callers_left_waiting_at_closing_time_are_closed_out(session, now):
    svc = factories.service(session)
    queue = factories.walk_in_queue(
        session, svc, [factories.clinician(session, [svc])], hours=(time(8), time(12)), weekdays=[0]
    )
    caller = factories.walk_in(session, queue, now=now).entry

    assert (
        walk_in_round(
            session, now + timedelta(hours=3), answer_within=ANSWER_WITHIN, sessions=SESSIONS
        ).closed
        == 0
    )
    assert (
        walk_in_round(
            session, now + timedelta(hours=4), answer_within=ANSWER_WITHIN, sessions=SESSIONS
        ).closed
        == 1
    )  # 12:00
    assert fresh(session, caller).status is EntryStatus.CLOSED


def test_callers_waiting_in_a_queue_an_admin_closed_are_closed_out(session, helpline, now):
    caller = factories.walk_in(session, helpline, now=now).entry
    helpline.status = QueueStatus.CLOSED
    session.commit()

    assert walk_in_round(session, now, answer_within=ANSWER_WITHIN, sessions=SESSIONS).closed == 1
    assert fresh(session, caller).status is EntryStatus.CLOSED


def test_only_the_callers_own_token_opens_their_place(session, helpline, now):
    joined = factories.walk_in(session, helpline, now=now)
    opens = dict(keys=TEST_KEYS, now=now, grace_days=7)

    assert entry_for_token(session, joined.entry.reference, joined.token, **opens).id == joined.entry.id
    other = factories.walk_in(session, helpline, now=now)
    for reference, token in [
        (joined.entry.reference, other.token),
        (joined.entry.reference, ""),
        ("NOPE", joined.token),
    ]:
        with pytest.raises(NotFound):
            entry_for_token(session, reference, token, **opens)


def join_holding(session, queue, held: dict[str, str], now) -> Joined:
    """A caller joins `queue` from a browser that holds the places `held` (references and tokens)."""
    details, consent = factories.caller_details(), Consent("2026-12-01")
    return join(session, queue.id, details, consent, now=now, keys=TEST_KEYS, actor=Actor(), held=held)


def test_a_caller_whose_browser_holds_a_waiting_place_gets_it_back_rather_than_a_second(
    session, helpline, now
):
    first = factories.walk_in(session, helpline, now=now)

    again = join_holding(session, helpline, {first.entry.reference: first.token}, now)

    assert (again.entry.id, again.token, again.already) == (first.entry.id, first.token, True)
    assert actions(session) == ["walk_in.joined"]
    assert first.already is False


def test_a_place_left_taken_mistokened_or_in_another_queue_does_not_stop_a_caller_joining(
    session, helpline, now
):
    other_queue = factories.walk_in_queue(session, helpline.service, helpline.staff)
    left, taken = (factories.walk_in(session, helpline, now=now) for _ in range(2))
    leave(session, left.entry.id, now=now, actor=Actor())
    take_next(session, helpline.id, on_duty(helpline), now=now)
    elsewhere, mistokened = (
        factories.walk_in(session, other_queue, now=now),
        factories.walk_in(session, helpline, now=now),
    )
    held = {
        left.entry.reference: left.token,
        taken.entry.reference: taken.token,
        elsewhere.entry.reference: elsewhere.token,
        mistokened.entry.reference: left.token,
    }

    joined = join_holding(session, helpline, held, now)

    assert held_place(session, helpline.id, held, keys=TEST_KEYS, now=now) is None
    assert joined.already is False and joined.entry.id not in (e.entry.id for e in (left, taken, mistokened))


def test_no_audit_event_provider_request_or_log_line_carries_the_callers_name_or_contact(
    session, now, outbox, fake_providers, smtp_server, caplog
):
    caplog.set_level("DEBUG")
    svc = factories.service(session, duration_minutes=20)
    queue = factories.walk_in_queue(session, svc, [factories.clinician(session, [svc])])
    details = factories.caller_details(name="Zebedee Quartermain", email="zebedee.q@example.org")
    joined = factories.walk_in(session, queue, now=now, details=details)
    outbox.configure(MEETING_PROVIDER="zoom")

    taken = take_next(session, queue.id, on_duty(queue), now=now)
    outbox.drain()
    leave(session, joined.entry.id, now=now + timedelta(minutes=1), actor=Actor())
    outbox.drain()

    call = outbox.refreshed(taken.consultation)
    assert call.meeting_external_id  # the meeting was made by the configured provider
    session.commit()
    events = session.scalars(select(AuditEvent)).all()
    said = json.dumps([e.details for e in events]) + fake_providers.everything_received() + caplog.text
    for secret in ("Zebedee", "Quartermain", "zebedee.q"):
        assert secret not in said
    assert smtp_server.received == []  # walk-in calls send no mail


def test_walk_in_times_are_utc_instants(session, helpline):
    joined = factories.walk_in(session, helpline, now=datetime(2026, 7, 1, 12, tzinfo=UTC)).entry
    assert fresh(session, joined).joined_at == datetime(2026, 7, 1, 12, tzinfo=UTC)


def test_the_worker_applies_the_no_answer_rule_in_its_housekeeping_on_its_clock(app, session, helpline, now):
    app.config["WALK_IN_ANSWER_MINUTES"] = 1
    caller = factories.walk_in(session, helpline, now=now).entry
    offered(session, take_next(session, helpline.id, on_duty(helpline), now=now).consultation)

    Worker(app, clock=Clock(now + timedelta(seconds=59))).housekeep()
    assert fresh(session, caller).status is EntryStatus.TAKEN
    Worker(app, clock=Clock(now + timedelta(minutes=1))).housekeep()

    assert (fresh(session, caller).status, fresh(session, caller).requeued) == (EntryStatus.WAITING, True)


def test_the_calls_jitsi_room_is_named_by_nothing_of_the_caller(session, helpline, now, outbox):
    details = factories.caller_details(name="Zebedee Quartermain", email="zebedee.q@example.org")
    factories.walk_in(session, helpline, now=now, details=details)

    call = take_next(session, helpline.id, on_duty(helpline), now=now).consultation
    outbox.drain()

    call = outbox.refreshed(call)
    assert call.meeting_provider == "jitsi" and call.meeting_join_url and call.meeting_host_url
    for link in (call.meeting_join_url, call.meeting_host_url):
        room, token = link.split("?jwt=")
        said = (room + json.dumps(jwt.decode(token, options={"verify_signature": False}))).lower()
        assert not any(part in said for part in ("zebedee", "quartermain", helpline.slug, "walk"))


def test_a_caller_whose_video_link_was_never_made_is_not_counted_as_not_answering(session, helpline, now):
    """Twice taken while the video provider was too slow to make the link in their time to answer: their
    page only ever said "Your video link is being made", no join button, yet they were dropped as "We
    called you twice, but you did not join the call"."""
    caller = factories.walk_in(session, helpline, now=now).entry
    take_next(session, helpline.id, on_duty(helpline), now=now)
    walk_in_round(session, now + ANSWER_WITHIN, answer_within=ANSWER_WITHIN, sessions=SESSIONS)
    again = now + timedelta(minutes=4)
    take_next(session, helpline.id, on_duty(helpline, 1), now=again)

    result = walk_in_round(session, again + ANSWER_WITHIN, answer_within=ANSWER_WITHIN, sessions=SESSIONS)

    assert (result.requeued, result.dropped) == (1, 0)
    entry = fresh(session, caller)
    assert (entry.status, entry.requeued) == (EntryStatus.WAITING, False)


def test_a_caller_whose_video_link_came_late_has_their_whole_time_to_answer_from_then(
    session, helpline, now, outbox
):
    """The worker made the call's link only 2 minutes 50 seconds after the take (a backlog of reminders
    ahead of it, say): the join button showed for ten seconds before the caller was sent back as "did not
    join", which counted against them, and the second time dropped them."""
    caller = factories.walk_in(session, helpline, now=now).entry
    take_next(session, helpline.id, on_duty(helpline), now=now)
    outbox.clock.now = now + timedelta(minutes=2, seconds=50)
    outbox.drain()
    link_made = outbox.clock.now
    call = fresh(session, caller).consultation
    said = walk_in_call(
        session,
        fresh(session, caller),
        call,
        on_duty(helpline),
        now=link_made,
        answer_within=ANSWER_WITHIN,
        rules=SESSIONS,
    )
    assert (said.stage, said.until) == (CallStage.CALLED, link_made + ANSWER_WITHIN)  # what staff are told

    for at in (now + ANSWER_WITHIN, link_made + ANSWER_WITHIN - timedelta(seconds=1)):
        assert walk_in_round(session, at, answer_within=ANSWER_WITHIN, sessions=SESSIONS).requeued == 0
        assert fresh(session, caller).status is EntryStatus.TAKEN

    assert walk_in_round(
        session, link_made + ANSWER_WITHIN, answer_within=ANSWER_WITHIN, sessions=SESSIONS
    ) == (RoundResult(requeued=1))
    assert (fresh(session, caller).status, fresh(session, caller).requeued) == (EntryStatus.WAITING, True)
