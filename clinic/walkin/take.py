"""Staff taking the next caller: one transaction that claims the first waiting caller and makes their
call a consultation like any other, so its meeting goes through the outbox and the providers.

Racing staff never take the same caller: on PostgreSQL each claims its row with FOR UPDATE SKIP LOCKED
(a racer skips a row another holds and takes the next); on SQLite the transaction's BEGIN IMMEDIATE
holds the database's one write lock. The clinician's lock (scheduling.locks) comes first, as in a
booking, so a booking and a take cannot both win the clinician's time; PostgreSQL's exclusion
constraint on their active consultations is the backstop.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..jobs import outbox
from ..models import (
    ACTIVE_STATUSES,
    Clinician,
    Consultation,
    ConsultationStatus,
    EntryStatus,
    Patient,
    Service,
    WalkInEntry,
    WalkInQueue,
)
from ..models.transactions import begin_write, commit_as_written
from ..scheduling.errors import NotFound
from ..scheduling.events import record_event
from ..scheduling.locks import lock_clinicians
from ..scheduling.timezones import format_local, zone
from ..scheduling.tokens import new_link_seed, unused_reference
from ..staff.members import StaffMember
from .duty import off_duty
from .errors import NobodyWaiting, TakeRefused
from .queue import record_entry_event


@dataclass(frozen=True)
class Taken:
    entry: WalkInEntry
    consultation: Consultation


def take_next(session: Session, queue_id: int, staff: StaffMember, *, now: datetime) -> Taken:
    """Claim the first waiting caller for `staff` (a clinician on duty for the queue) and make their call.

    NobodyWaiting if the queue is empty; TakeRefused if `staff` is not on duty, or has another
    consultation in the call's time (finish it first). Nothing changes on a refusal.
    """
    begin_write(session)
    try:
        queue = session.get(WalkInQueue, queue_id, populate_existing=True)
        if queue is None:
            raise NotFound("There is no such walk-in queue.")
        clinician = _on_duty(queue, staff)
        lock_clinicians(session, clinician.id)  # time off is added under this lock: read it after
        if off_duty(session, clinician.id, [queue.id], now):
            raise TakeRefused(
                "You are on time off now (your own, or your department's closure): you take no callers until "
                "it ends."
            )
        service = _call_service(queue, clinician)
        ends_at = now + timedelta(minutes=service.duration_minutes)
        _close_finished_calls(session, clinician.id, now)
        _check_free(session, clinician, now, ends_at)
        entry = _first_waiting(session, queue_id)
        if entry is None:
            raise NobodyWaiting("Nobody is waiting in this queue.")
        call = _call(session, entry, queue, clinician, service, now, ends_at)
        outbox.enqueue_walk_in_call(session, call, now)
        entry.status, entry.taken_at, entry.taken_by, entry.consultation_id = (
            EntryStatus.TAKEN,
            now,
            clinician.id,
            call.id,
        )
        consent = {"privacy_notice": entry.consent_notice_version, "consent": entry.consent_method.value}
        record_event(session, call, "consultation.taken", now, staff.actor, walk_in_entry=entry.id, **consent)
        record_entry_event(session, entry, "walk_in.taken", now, staff.actor, clinician_id=clinician.id)
        commit_as_written(session)
        return Taken(entry, call)
    except IntegrityError:
        # The exclusion constraint caught a consultation the check above did not see.
        session.rollback()
        raise TakeRefused("You have another consultation at this time. Finish it first.") from None
    except BaseException:
        session.rollback()
        raise


def _on_duty(queue: WalkInQueue, staff: StaffMember) -> Clinician:
    clinician = next((c for c in queue.staff if c.id == staff.clinician_id), None)
    if clinician is None or not clinician.active:
        raise TakeRefused("You are not on duty for this queue.")
    return clinician


def _call_service(queue: WalkInQueue, clinician: Clinician) -> Service:
    """The service whose length a call takes: the queue's, else the first the clinician offers in the
    queue's department."""
    if queue.service is not None:
        return queue.service
    offered = [s for s in clinician.services if s.active and s.department_id == queue.department_id]
    if not offered:
        raise TakeRefused("This queue has no service to book its calls under: ask an admin to choose one.")
    return min(offered, key=lambda s: s.id)


def _close_finished_calls(session: Session, clinician_id: int, now: datetime) -> None:
    """Walk-in calls end when they are finished, not when their service's length runs out: give the
    clinician's finished ones back the rest of their time, so the next take is not refused for it."""
    finished = session.scalars(
        select(Consultation)
        .join(WalkInEntry, WalkInEntry.consultation_id == Consultation.id)
        .where(
            Consultation.clinician_id == clinician_id,
            Consultation.status.in_((ConsultationStatus.FULFILLED, ConsultationStatus.NOSHOW)),
            Consultation.blocked_until > now,
        )
    ).all()
    for call in finished:
        call.ends_at = call.blocked_until = max(call.starts_at, min(call.ended_at or now, now))
    session.flush()


def _check_free(session: Session, clinician: Clinician, starts_at: datetime, ends_at: datetime) -> None:
    busy = session.scalar(
        select(Consultation)
        .where(
            Consultation.clinician_id == clinician.id,
            Consultation.status.in_(ACTIVE_STATUSES),
            Consultation.blocked_from < ends_at,
            Consultation.blocked_until > starts_at,
        )
        .order_by(Consultation.starts_at)
        .limit(1)
    )
    if busy is None:
        return
    if busy.walk_in_entry is not None:  # "finish it" would record a call whose caller never came as held
        raise TakeRefused(
            f"Your walk-in call {busy.reference} is still open: finish it (or send the caller back to the "
            "queue if they have not joined) before you take the next caller.",
            open_call=busy.id,  # the one just taken, when "Take next" was pressed twice
        )
    when = format_local(busy.starts_at, zone(clinician.time_zone))
    raise TakeRefused(
        f"You have a consultation ({busy.reference}, {when}) in the next call's time. "
        "Finish it, or take the next caller after it."
    )


def unfinished_calls(session: Session, clinician_id: int) -> list[Consultation]:
    """The clinician's walk-in calls whose callers are still theirs (taken or in the call), oldest first:
    nobody else finishes them."""
    return list(
        session.scalars(
            select(Consultation)
            .join(WalkInEntry, WalkInEntry.consultation_id == Consultation.id)
            .where(
                Consultation.clinician_id == clinician_id,
                Consultation.status.in_((ConsultationStatus.ARRIVED, ConsultationStatus.IN_PROGRESS)),
                WalkInEntry.status.in_((EntryStatus.TAKEN, EntryStatus.IN_CALL)),
            )
            .order_by(Consultation.starts_at)
        )
    )


def _first_waiting(session: Session, queue_id: int) -> WalkInEntry | None:
    return session.scalar(
        select(WalkInEntry)
        .where(WalkInEntry.queue_id == queue_id, WalkInEntry.status == EntryStatus.WAITING)
        .order_by(WalkInEntry.position, WalkInEntry.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def _call(
    session: Session,
    entry: WalkInEntry,
    queue: WalkInQueue,
    clinician: Clinician,
    service: Service,
    now: datetime,
    ends_at: datetime,
) -> Consultation:
    """The caller's call as a consultation starting now, the caller checked in: no buffers, as it ends
    when it is finished. Its patient record is the caller's own, as a booking's is (no date of birth)."""
    patient = Patient(
        name=entry.name,
        email=entry.email,
        phone=entry.phone,
        birth_date=None,
        time_zone=queue.time_zone,
        created_at=now,
    )
    call = Consultation(
        uuid=str(uuid.uuid4()),
        reference=unused_reference(session, Consultation.reference),
        patient=patient,
        clinician_id=clinician.id,
        service=service,
        companions=[],
        starts_at=now,
        ends_at=ends_at,
        blocked_from=now,
        blocked_until=ends_at,
        status=ConsultationStatus.ARRIVED,
        arrived_at=now,
        patient_time_zone=queue.time_zone,
        link_seed=new_link_seed(),
        consent_notice_version=entry.consent_notice_version,
        consent_method=entry.consent_method,
        consent_given_at=entry.consent_given_at,
        created_at=now,
        updated_at=now,
    )
    session.add(call)
    session.flush()
    return call
