"""Take-next never hands one caller to two staff: racing threads against the real database."""

from collections import Counter

from sqlalchemy import select

from clinic.models import Consultation, EntryStatus, StaffRole, WalkInEntry
from clinic.staff.members import StaffMember
from clinic.walkin.errors import NobodyWaiting
from clinic.walkin.take import Taken, take_next

from . import factories, racing
from .conftest import sqlite_only
from .racing import racing_engine

STAFF = 20
CALLERS = 5


def race_engine(url: str, *, take_write_lock: bool = True):
    """One connection per racer, pausing after reading the queue: between "who is first?" and "taken"."""
    return racing_engine(url, STAFF, lambda sql: "FROM walk_in_entry" in sql, take_write_lock=take_write_lock)


def race(engine, queue_id: int, staff: list[StaffMember], now) -> list[object]:
    takes = [lambda session, member=member: take_next(session, queue_id, member, now=now) for member in staff]
    return racing.race(engine, takes)


def busy_helpline(session, now):
    """A queue with 20 clinicians on duty and 5 callers waiting."""
    svc = factories.service(session, duration_minutes=15)
    doctors = [factories.clinician(session, [svc]) for _ in range(STAFF)]
    queue = factories.walk_in_queue(session, svc, doctors)
    for _ in range(CALLERS):
        factories.walk_in(session, queue, now=now)
    staff = [StaffMember(1000 + i, StaffRole.CLINICIAN, clinician_id=d.id) for i, d in enumerate(doctors)]
    return queue, staff


def test_twenty_staff_racing_for_five_callers_take_each_exactly_once(session, database_url, now):
    queue, staff = busy_helpline(session, now)
    engine = race_engine(database_url)
    outcomes = race(engine, queue.id, staff, now)
    engine.dispose()

    taken = [o for o in outcomes if isinstance(o, Taken)]
    assert len(taken) == CALLERS, [type(o).__name__ for o in outcomes]
    assert all(isinstance(o, NobodyWaiting) for o in outcomes if not isinstance(o, Taken))
    assert len({t.entry.id for t in taken}) == CALLERS
    session.rollback()
    entries = session.scalars(select(WalkInEntry).where(WalkInEntry.queue_id == queue.id)).all()
    assert {e.status for e in entries} == {EntryStatus.TAKEN}
    calls = Counter(session.scalars(select(Consultation.patient_id)).all())
    assert len(calls) == CALLERS and set(calls.values()) == {1}  # one call per caller, none twice
    assert len({e.taken_by for e in entries}) == CALLERS  # five different clinicians


@sqlite_only
def test_the_race_test_catches_a_double_take_when_the_write_lock_is_switched_off(session, database_url, now):
    queue, staff = busy_helpline(session, now)
    engine = race_engine(database_url, take_write_lock=False)
    outcomes = race(engine, queue.id, staff, now)
    engine.dispose()

    taken = [o.entry.id for o in outcomes if isinstance(o, Taken)]
    assert len(taken) > len(set(taken))  # without the lock, racers take the same caller
