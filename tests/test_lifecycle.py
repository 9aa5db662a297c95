"""A consultation's day: booked → arrived → in-progress → fulfilled, or noshow, each step audited."""

import itertools
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic.audit import Actor
from clinic.extensions import db
from clinic.models import AuditEvent, Consultation, ConsultationStatus, OutboxMessage, StaffRole
from clinic.models.transactions import begin_write
from clinic.scheduling.agenda import Moment, row_for
from clinic.scheduling.errors import AlreadyAtThatTime, ConsultationOver, NotFound
from clinic.scheduling.lifecycle import cancel, change_status, mark_no_shows, reschedule
from clinic.scheduling.listing import Listed
from clinic.scheduling.status import FINISHED, TRANSITIONS, InvalidTransition
from clinic.scheduling.waiting_room import JoinWindow
from clinic.staff.members import StaffMember

from . import factories

S = ConsultationStatus
DAY_STEPS = (S.ARRIVED, S.IN_PROGRESS, S.FULFILLED, S.NOSHOW)
DOCTOR = Actor.staff(7, "10.0.0.7")


@pytest.fixture
def consultation(session, now):
    service = factories.service(session)
    factories.clinician(session, [service])
    session.commit()
    booked = factories.booking(session, service, now.replace(hour=10), now=now)
    return booked.consultation


def events(session, consultation) -> list[AuditEvent]:
    session.commit()
    query = select(AuditEvent).where(
        AuditEvent.entity_type == "consultation", AuditEvent.entity_id == str(consultation.id)
    )
    return list(session.scalars(query.order_by(AuditEvent.id)))


def test_a_consultation_goes_through_its_day_and_each_step_is_stamped_and_audited(session, consultation, now):
    times = [now + timedelta(minutes=m) for m in (115, 121, 150)]

    change_status(session, consultation.id, S.ARRIVED, now=times[0], actor=Actor("patient"))
    change_status(session, consultation.id, S.IN_PROGRESS, now=times[1], actor=DOCTOR)
    done = change_status(session, consultation.id, S.FULFILLED, now=times[2], actor=DOCTOR)

    assert done.status is S.FULFILLED
    assert (done.arrived_at, done.started_at, done.ended_at) == tuple(times)
    steps = [(e.action, e.actor, e.remote_addr) for e in events(session, consultation)[1:]]
    assert steps == [
        ("consultation.arrived", "patient", None),
        ("consultation.started", "staff:7", "10.0.0.7"),
        ("consultation.fulfilled", "staff:7", "10.0.0.7"),
    ]


@pytest.mark.parametrize(("current", "wanted"), list(itertools.product(S, DAY_STEPS)))
def test_every_status_change_is_allowed_exactly_when_the_table_says(
    session, consultation, now, current, wanted
):
    consultation.status = current
    session.commit()
    before = len(events(session, consultation))

    if wanted in TRANSITIONS[current]:
        assert change_status(session, consultation.id, wanted, now=now, actor=DOCTOR).status is wanted
        assert len(events(session, consultation)) == before + 1
    else:
        with pytest.raises(InvalidTransition):
            change_status(session, consultation.id, wanted, now=now, actor=DOCTOR)
        session.expire_all()
        assert session.get(Consultation, consultation.id).status is current
        assert len(events(session, consultation)) == before


@pytest.mark.parametrize("status", [status for status in S if TRANSITIONS[status]])
def test_whatever_became_of_a_consultation_someone_can_still_close_it_after_its_day(
    app, session, consultation, status
):
    """A patient who checked in is never a no-show: their clinician finishes the consultation, or it would
    stay "waiting" for ever once its call can no longer start. Housekeeping closes one nobody acted on."""
    consultation.status = status
    session.commit()
    next_day = consultation.ends_at + timedelta(days=1)
    its_clinician = StaffMember(7, StaffRole.CLINICIAN, clinician_id=consultation.clinician_id)
    moment = Moment(next_day, JoinWindow.from_config(app.config))

    row = row_for(its_clinician, Listed.of(consultation), next_day.date(), moment)
    closed_by_housekeeping = mark_no_shows(session, now=next_day, after=timedelta(minutes=30))

    assert row.actions & FINISHED or closed_by_housekeeping == 1


def test_cancelling_is_not_a_status_change_of_the_day(session, consultation, now):
    with pytest.raises(InvalidTransition):
        change_status(session, consultation.id, S.CANCELLED, now=now, actor=DOCTOR)


def test_a_corrected_no_show_keeps_the_time_it_ended(session, consultation, now):
    change_status(session, consultation.id, S.NOSHOW, now=now, actor=DOCTOR)

    corrected = change_status(
        session, consultation.id, S.FULFILLED, now=now + timedelta(days=1), actor=DOCTOR
    )

    assert corrected.status is S.FULFILLED and corrected.ended_at == now


@pytest.mark.parametrize("enforce_cutoff", [True, False], ids=["patient", "staff"])
def test_moving_a_consultation_to_its_own_time_says_so_and_changes_mails_and_audits_nothing(
    session, consultation, now, enforce_cutoff
):
    session.commit()
    sequence, messages, audited = (
        consultation.invite_sequence,
        outbox_rows(session),
        events(session, consultation),
    )

    with pytest.raises(AlreadyAtThatTime, match="This is already the consultation's time"):
        reschedule(
            session,
            consultation.id,
            consultation.starts_at,
            now=now,
            actor=DOCTOR,
            enforce_cutoff=enforce_cutoff,
        )

    session.expire_all()
    assert session.get(Consultation, consultation.id).invite_sequence == sequence
    assert outbox_rows(session) == messages
    assert events(session, consultation) == audited


def outbox_rows(session) -> list[tuple]:
    return list(session.execute(select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.status)))


@pytest.mark.parametrize("enforce_cutoff", [True, False], ids=["patient", "staff"])
def test_nothing_cancels_or_moves_a_consultation_whose_end_has_passed(session, consultation, enforce_cutoff):
    """Still booked, as housekeeping marks a missed consultation a no-show only a while after its end."""
    after_the_end = consultation.ends_at + timedelta(minutes=1)
    tomorrow = consultation.starts_at + timedelta(days=1)
    session.commit()

    with pytest.raises(ConsultationOver, match="is over: it can no longer be cancelled"):
        cancel(session, consultation.id, now=after_the_end, actor=DOCTOR, enforce_cutoff=enforce_cutoff)
    with pytest.raises(ConsultationOver, match="is over: it can no longer be moved"):
        reschedule(
            session, consultation.id, tomorrow, now=after_the_end, actor=DOCTOR, enforce_cutoff=enforce_cutoff
        )

    session.expire_all()
    kept = session.get(Consultation, consultation.id)
    assert (kept.status, kept.starts_at) == (S.BOOKED, consultation.starts_at)


def test_an_unknown_consultation_is_not_found(session, now):
    with pytest.raises(NotFound):
        change_status(session, 999_999, S.ARRIVED, now=now, actor=DOCTOR)


def test_a_cancel_racing_a_call_that_just_started_waits_for_it_and_is_refused(
    app, session, consultation, now
):
    """Every status writer locks the consultation's row, so a cancel cannot overwrite a call that started."""
    started, go = threading.Event(), threading.Event()

    def clinician_starts_the_call() -> None:
        with app.app_context(), Session(db.engine) as own:
            begin_write(own)
            row = own.get(Consultation, consultation.id, with_for_update=True)
            row.status = S.IN_PROGRESS
            own.flush()
            started.set()
            go.wait(2)  # holds its row lock while the cancel below tries its luck
            own.commit()

    starter = threading.Thread(target=clinician_starts_the_call)
    starter.start()
    started.wait(5)
    threading.Timer(0.5, go.set).start()
    with pytest.raises(ConsultationOver, match="has begun"):
        cancel(session, consultation.id, now=now, actor=DOCTOR, enforce_cutoff=False)
    starter.join(5)

    session.commit()
    assert session.get(Consultation, consultation.id, populate_existing=True).status is S.IN_PROGRESS
