"""The waiting room's window: open from 15 minutes before the start; check in until the end, join until
30 minutes after it; never for a cancelled or finished consultation."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.booking.countdown import duration_words
from clinic.models import AuditEvent, Consultation, ConsultationStatus
from clinic.scheduling.lifecycle import cancel, change_status
from clinic.scheduling.waiting_room import JoinWindow, Phase, RoomClosed, check_in, join_url, room

from . import factories
from .fakes.outbox import open_clinic

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # a 30-minute consultation: it ends at 10:30
WINDOW = JoinWindow(
    before_start=timedelta(minutes=15), after_end=timedelta(minutes=30), noshow_grace=timedelta(minutes=10)
)
OPENS, ENDS, CLOSES = (
    TUESDAY_10 - timedelta(minutes=15),
    TUESDAY_10 + timedelta(minutes=30),
    TUESDAY_10 + timedelta(hours=1),
)
MEETING = "https://meet.example/room-waiting"
PATIENT = Actor("patient", "192.0.2.10")
SECOND = timedelta(seconds=1)


@pytest.fixture
def consultation(session, now) -> Consultation:
    """A booked consultation whose meeting the outbox has made."""
    booked = factories.booking(session, open_clinic(session), TUESDAY_10, now=now).consultation
    booked.meeting_join_url = MEETING
    session.commit()
    return booked


def status_of(session, consultation) -> ConsultationStatus:
    session.expire_all()
    return session.get(Consultation, consultation.id).status


def arrivals(session, consultation) -> list[AuditEvent]:
    session.commit()
    query = select(AuditEvent).where(
        AuditEvent.action == "consultation.arrived", AuditEvent.entity_id == str(consultation.id)
    )
    return list(session.scalars(query))


def test_before_the_window_the_room_counts_down_and_refuses_check_in_and_join(session, consultation):
    early = OPENS - SECOND

    state = room(consultation, early, WINDOW)
    with pytest.raises(RoomClosed) as refused_check_in:
        check_in(session, consultation.id, now=early, actor=PATIENT, window=WINDOW)
    with pytest.raises(RoomClosed) as refused_join:
        join_url(consultation, early, WINDOW)

    assert state.phase is Phase.EARLY and state.opens_at == OPENS and not state.can_check_in
    assert refused_check_in.value.room.phase is Phase.EARLY
    assert "too early" in str(refused_join.value)
    assert status_of(session, consultation) is ConsultationStatus.BOOKED
    assert arrivals(session, consultation) == []


@pytest.mark.parametrize(
    "moment", [OPENS, TUESDAY_10, ENDS], ids=["as it opens", "at the start", "at the end"]
)
def test_inside_the_window_check_in_marks_arrived_with_an_audit_event(session, consultation, moment):
    checked_in = check_in(session, consultation.id, now=moment, actor=PATIENT, window=WINDOW)

    assert checked_in.status is ConsultationStatus.ARRIVED and checked_in.arrived_at == moment
    (event,) = arrivals(session, consultation)
    assert (event.actor, event.remote_addr) == ("patient", "192.0.2.10")
    assert room(checked_in, moment, WINDOW).checked_in


@pytest.mark.parametrize("moment", [OPENS, CLOSES], ids=["as it opens", "at the end of the grace period"])
def test_inside_the_window_join_leads_to_the_meeting(consultation, moment):
    assert join_url(consultation, moment, WINDOW) == MEETING


def test_checking_in_again_changes_nothing_and_is_no_error(session, consultation):
    check_in(session, consultation.id, now=OPENS, actor=PATIENT, window=WINDOW)

    again = check_in(session, consultation.id, now=OPENS + timedelta(minutes=5), actor=PATIENT, window=WINDOW)

    assert again.status is ConsultationStatus.ARRIVED and again.arrived_at == OPENS
    assert len(arrivals(session, consultation)) == 1


def test_checking_in_once_the_call_has_started_is_a_quiet_success(session, consultation):
    change_status(
        session, consultation.id, ConsultationStatus.IN_PROGRESS, now=TUESDAY_10, actor=Actor.staff(1)
    )

    checked_in = check_in(session, consultation.id, now=TUESDAY_10 + SECOND, actor=PATIENT, window=WINDOW)

    assert checked_in.status is ConsultationStatus.IN_PROGRESS
    assert arrivals(session, consultation) == []


def test_after_the_end_check_in_is_refused_but_join_works_until_the_grace_period_ends(session, consultation):
    late = ENDS + SECOND

    with pytest.raises(RoomClosed) as refused:
        check_in(session, consultation.id, now=late, actor=PATIENT, window=WINDOW)

    assert "too late to check in" in str(refused.value)
    assert join_url(consultation, late, WINDOW) == MEETING
    assert status_of(session, consultation) is ConsultationStatus.BOOKED


def test_after_the_end_and_the_grace_period_the_link_stops_working(consultation):
    with pytest.raises(RoomClosed) as refused:
        join_url(consultation, CLOSES + SECOND, WINDOW)

    assert refused.value.room.phase is Phase.OVER


def test_a_cancelled_consultation_refuses_check_in_and_join_and_stays_cancelled(session, consultation, now):
    cancel(session, consultation.id, now=now, actor=PATIENT)

    with pytest.raises(RoomClosed) as refused:
        check_in(session, consultation.id, now=TUESDAY_10, actor=PATIENT, window=WINDOW)
    with pytest.raises(RoomClosed):
        join_url(session.get(Consultation, consultation.id), TUESDAY_10, WINDOW)

    assert refused.value.room.phase is Phase.CANCELLED and "cancelled" in str(refused.value)
    assert status_of(session, consultation) is ConsultationStatus.CANCELLED


def test_a_consultation_the_clinician_has_finished_is_over(session, consultation):
    change_status(
        session, consultation.id, ConsultationStatus.IN_PROGRESS, now=TUESDAY_10, actor=Actor.staff(1)
    )
    change_status(session, consultation.id, ConsultationStatus.FULFILLED, now=ENDS, actor=Actor.staff(1))
    finished = session.get(Consultation, consultation.id)

    with pytest.raises(RoomClosed):
        join_url(finished, ENDS + SECOND, WINDOW)
    assert room(finished, ENDS + SECOND, WINDOW).phase is Phase.OVER


def test_join_waits_while_the_meeting_link_is_not_made_yet(session, consultation):
    consultation.meeting_join_url = None
    session.commit()

    with pytest.raises(RoomClosed) as refused:
        join_url(consultation, TUESDAY_10, WINDOW)

    assert "still being prepared" in str(refused.value)
    assert refused.value.room.phase is Phase.OPEN and not refused.value.room.meeting_ready


@pytest.mark.parametrize(
    ("wait", "words"),
    [
        (timedelta(days=2, hours=3, minutes=59), "2 days 3 hours"),
        (timedelta(days=1, minutes=5), "1 day"),
        (timedelta(hours=1, minutes=5), "1 hour 5 minutes"),
        (timedelta(hours=2), "2 hours"),
        (timedelta(minutes=1, seconds=59), "1 minute"),
        (timedelta(seconds=59), "less than a minute"),
    ],
)
def test_the_countdown_reads_in_plain_words(wait, words):
    assert duration_words(wait) == words
