"""Housekeeping marks no-shows: booked consultations nobody acted on, 30 minutes after their end."""

from datetime import timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from clinic.jobs.worker import HOUSEKEEPING_JOB_ID, Worker, build_scheduler
from clinic.models import AuditEvent, Consultation, ConsultationStatus
from clinic.scheduling.lifecycle import mark_no_shows
from tests.fakes.outbox import Clock

from . import factories

S = ConsultationStatus
AFTER = timedelta(minutes=30)


@pytest.fixture
def day(session, now):
    """Consultations of 30 minutes that ended 31, 29 and 120 minutes before `now`, in several states."""
    service = factories.service(session)

    def at(minutes_ago_ended: int, status=S.BOOKED) -> Consultation:
        start = now - timedelta(minutes=minutes_ago_ended + 30)
        person = factories.clinician(session, [service])  # one each: some of these overlap
        return factories.consultation(session, service, person, start, status=status)

    return {
        "missed": at(31),
        "just ended": at(29),
        "checked in": at(120, S.ARRIVED),
        "seen": at(120, S.FULFILLED),
        "cancelled": at(120, S.CANCELLED),
    }


def statuses(session, day) -> dict[str, S]:
    session.commit()
    return {name: session.get(Consultation, c.id, populate_existing=True).status for name, c in day.items()}


def test_only_booked_consultations_past_the_grace_become_no_shows_audited_as_the_system(session, now, day):
    marked = mark_no_shows(session, now=now, after=AFTER)

    assert marked == 1
    assert statuses(session, day) == {
        "missed": S.NOSHOW,
        "just ended": S.BOOKED,
        "checked in": S.ARRIVED,  # the patient was there: not a no-show
        "seen": S.FULFILLED,
        "cancelled": S.CANCELLED,
    }
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "consultation.noshow"))
    assert (event.actor, event.entity_id) == ("system", str(day["missed"].id))


def test_a_booking_its_clinician_was_away_for_is_no_no_show_and_stays_booked(session, now, day):
    away = day["missed"]
    factories.time_off(session, away.clinician, away.starts_at - timedelta(hours=1), now)
    session.commit()

    marked = mark_no_shows(session, now=now, after=AFTER)

    assert marked == 0
    assert statuses(session, day)["missed"] is S.BOOKED  # the clinic's absence, never the patient's
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "consultation.noshow")).all() == []


def test_running_housekeeping_twice_marks_nothing_twice(session, now, day):
    mark_no_shows(session, now=now, after=AFTER)

    assert (
        mark_no_shows(session, now=now + timedelta(minutes=1), after=AFTER) == 0 + 1
    )  # "just ended" now due
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "consultation.noshow")).all()
    assert len(events) == 2


def test_the_worker_runs_housekeeping_on_its_clock(app, session, now, day):
    worker = Worker(app, clock=Clock(now))

    worker.housekeep()

    assert statuses(session, day)["missed"] is S.NOSHOW
    assert build_scheduler(worker, BackgroundScheduler).get_job(HOUSEKEEPING_JOB_ID) is not None
