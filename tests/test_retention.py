"""Retention: personal data past its period is erased or anonymised by the worker's housekeeping, newer
data is left alone, signed notes and the audit trail are kept, and the audit chain still verifies."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from clinic import audit
from clinic.audit import SYSTEM, Actor, Verified, verify
from clinic.jobs.worker import Worker
from clinic.models import (
    AuditEvent,
    Companion,
    CompanionRole,
    Consultation,
    ConsultationNote,
    ConsultationStatus,
    EntryStatus,
    IdempotencyKey,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Patient,
    QueueStatus,
    StaffRole,
    StaffUser,
    WalkInEntry,
    WalkInQueue,
)
from clinic.notes.settings import notes_settings
from clinic.privacy.retention import ANONYMISED_NAME, RetentionPeriods, apply_retention
from clinic.scheduling.booking import Consent
from clinic.scheduling.lifecycle import cancel, change_status, has_letter
from clinic.scheduling.status import InvalidTransition
from clinic.scheduling.timezones import zone
from clinic.staff.members import StaffMember
from clinic.staff.sessions import SessionRules
from clinic.walkin.queue import answer, join, leave
from clinic.walkin.rounds import walk_in_round
from clinic.walkin.send_back import send_back_for_staff
from clinic.walkin.take import Taken, take_next
from tests.fakes.outbox import Clock

from . import factories
from .conftest import TEST_KEYS
from .notes_support import NOTE, Booked, sign
from .test_walk_in import SESSIONS

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def periods(app) -> RetentionPeriods:
    """The defaults: patients 730 days, reasons 365, idempotency keys 7, outbox messages 90."""
    return RetentionPeriods.from_config(app.config)


@pytest.fixture
def hospital(app, session):
    """Consultations that ended 800, 400 and 10 days ago, and a record holding an old and a new one."""
    service = factories.service(session)
    doctor = factories.clinician(session, [service])
    login = factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=doctor.id)

    def ended(days_ago: int, patient=None, **fields) -> Consultation:
        start = NOW - days_ago * DAY - timedelta(minutes=30)
        row = factories.consultation(session, service, doctor, start, reason="Chest pain at night", **fields)
        if patient is not None:
            row.patient = patient
        row.patient.created_at = start - 30 * DAY
        session.commit()
        return row

    old = ended(800, cancel_reason="Feeling better")
    session.add(
        Companion(
            uuid="c-1",
            consultation=old,
            name="Grace Hopper",
            email="grace@example.org",
            role=CompanionRole.INTERPRETER,
            link_seed="0" * 64,
            created_at=NOW - 830 * DAY,
        )
    )
    session.commit()
    sign(session, Booked(old, login, notes_settings(app)), NOTE, now=NOW - 800 * DAY)
    middle = ended(400)
    recent = ended(10)
    returning = ended(900)
    ended(5, patient=returning.patient)  # the same record booked again lately
    for row in (old, middle, recent):  # audit events naming them, as the booking service writes
        audit.record(
            session,
            Actor("patient", "192.0.2.7"),
            "consultation.booked",
            entity_type="consultation",
            entity_id=row.id,
            now=NOW - 900 * DAY,
            details={"reference": row.reference},
        )
    session.commit()
    return {"old": old, "middle": middle, "recent": recent, "returning": returning}


def fresh(session, row):
    session.commit()
    return session.get(type(row), row.id, populate_existing=True)


def test_patients_whose_every_consultation_ended_long_ago_are_anonymised_and_no_one_else(
    session, hospital, periods
):
    counts = apply_retention(session, periods, now=NOW)

    old = fresh(session, hospital["old"])
    assert counts["patients"] == 1
    assert (old.patient.name, old.patient.email, old.patient.email_key, old.patient.phone) == (
        ANONYMISED_NAME,
        None,
        None,
        "",
    )
    assert old.patient.birth_date.year == 1900 and old.patient.anonymised_at == NOW
    assert old.meeting_join_url is None and old.meeting_host_url is None
    (companion,) = old.companions
    assert (companion.name, companion.email) == (ANONYMISED_NAME, "")
    for kept in ("middle", "recent", "returning"):  # 400 days is within 730; the returning one booked lately
        row = fresh(session, hospital[kept])
        assert row.patient.anonymised_at is None and row.patient.email.endswith("@example.org")


def test_reasons_are_erased_after_their_own_shorter_period(session, hospital, periods):
    counts = apply_retention(session, periods, now=NOW)

    reasons = {
        name: (fresh(session, row).reason, fresh(session, row).cancel_reason)
        for name, row in hospital.items()
    }
    assert counts["reasons"] == 3
    assert reasons == {
        "old": ("", ""),
        "middle": ("", ""),
        "recent": ("Chest pain at night", ""),
        "returning": ("", ""),  # its record is kept, the old consultation's reason is not
    }


def test_signed_notes_are_kept_readable_and_the_audit_chain_still_verifies(app, session, hospital, periods):
    notes_before = session.scalar(select(func.count(ConsultationNote.id)))

    apply_retention(session, periods, now=NOW)

    session.commit()
    (note,) = session.scalars(
        select(ConsultationNote).where(ConsultationNote.consultation_id == hospital["old"].id)
    )
    assert session.scalar(select(func.count(ConsultationNote.id))) == notes_before
    assert notes_settings(app).cipher.read(note) == NOTE
    assert isinstance(verify(session), Verified)


def test_staff_pages_say_a_patient_was_anonymised_never_show_the_placeholder_as_their_date_of_birth(
    app, session, hospital, periods
):
    """The placeholder date of birth (1900-01-01) read as the patient's own: "born 1 January 1900 (age
    124)" on the consultation's page, "1900-01-01 (age 124)" above its notes, "Anonymised, 124" in the
    day's list."""
    old = hospital["old"]
    apply_retention(session, periods, now=NOW)
    login = session.scalars(select(StaffUser).where(StaffUser.clinician_id == old.clinician_id)).one()
    client = factories.browser(app)
    factories.sign_in(client, login)
    day = old.starts_at.astimezone(zone(old.clinician.time_zone)).date()

    pages = [
        f"/schedule/consultations/{old.id}",
        f"/schedule/consultations/{old.id}/notes",
        f"/schedule/?date={day.isoformat()}",
    ]
    for page in reversed(pages):
        shown = client.get(page).get_data(as_text=True)

        assert "1900" not in shown and not re.search(r"\b12[0-9]\b", shown), page
        assert "anonymised" in shown, page


def test_old_idempotency_keys_and_finished_outbox_messages_are_deleted_and_new_ones_kept(
    session, hospital, periods
):
    recent = hospital["recent"]
    session.add_all(
        [
            IdempotencyKey(
                key="old-key", request_hash="0" * 64, consultation_id=recent.id, created_at=NOW - 8 * DAY
            ),
            IdempotencyKey(
                key="new-key", request_hash="0" * 64, consultation_id=recent.id, created_at=NOW - 6 * DAY
            ),
        ]
    )

    def message(name: str, status: OutboxStatus, days_ago: int) -> None:
        session.add(
            OutboxMessage(
                consultation_id=recent.id,
                kind=OutboxKind.REMINDER,
                audience="patient",
                due_at=NOW - days_ago * DAY,
                status=status,
                idempotency_key=name,
            )
        )

    message("sent long ago", OutboxStatus.DONE, 91)
    message("dead long ago", OutboxStatus.DEAD, 91)
    message("cancelled long ago", OutboxStatus.CANCELLED, 91)
    message("sent lately", OutboxStatus.DONE, 89)
    message("never finished", OutboxStatus.PENDING, 91)
    session.commit()

    counts = apply_retention(session, periods, now=NOW)

    session.commit()
    assert (counts["idempotency_keys"], counts["outbox_messages"]) == (1, 3)
    assert session.scalars(select(IdempotencyKey.key)).all() == ["new-key"]
    assert set(session.scalars(select(OutboxMessage.idempotency_key))) == {"sent lately", "never finished"}


def test_each_run_that_changes_something_is_one_audit_event_with_counts_only(session, hospital, periods):
    first = apply_retention(session, periods, now=NOW)
    second = apply_retention(session, periods, now=NOW + timedelta(minutes=1))

    session.commit()
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.applied"))
    assert event.actor == SYSTEM.name and event.details == first
    assert set(second.values()) == {0}  # nothing twice
    assert isinstance(verify(session), Verified)


def test_the_worker_applies_retention_in_its_housekeeping(app, session, hospital):
    Worker(app, clock=Clock(NOW)).housekeep()

    assert fresh(session, hospital["old"]).patient.anonymised_at == NOW


@pytest.mark.parametrize("setting", ["RETENTION_PATIENT_DAYS", "RETENTION_OUTBOX_DAYS"])
def test_a_period_under_a_day_stops_the_worker_naming_the_setting(app, setting):
    app.config[setting] = 0

    with pytest.raises(ValueError, match=f"CLINIC_{setting} must be at least 1"):
        Worker(app)


def test_the_audit_trail_holds_ids_never_the_personal_values_a_booking_carried(app, session, now):
    """Why the chain can stay as it is when a patient is anonymised: nothing in it needs erasing."""
    service = factories.service(session)
    doctor = factories.clinician(session, [service])
    login = factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=doctor.id)
    patient = factories.patient_details(
        name="Zelda Quixote", email="zelda.q@example.org", phone="+44 7700 900999"
    )
    companion = factories.companion_details(name="Yusuf Interpreter", email="yusuf.i@example.net")
    start = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    booked = factories.booking(
        session,
        service,
        start,
        now=now,
        patient=patient,
        companion=companion,
        reason="Wheezing since Tuesday",
        clinician_id=doctor.id,
    ).consultation
    sign(session, Booked(booked, login, notes_settings(app)), NOTE, now=now)
    cancel(session, booked.id, now=now, actor=Actor("patient"), reason="Found another clinic")

    trail = json.dumps([[e.details, e.entity_id] for e in session.scalars(select(AuditEvent))])
    values = [
        "Zelda",
        "zelda.q",
        "900999",
        "1980-01-01",
        "Yusuf",
        "yusuf.i",
        "Wheezing",
        "another clinic",
        NOTE.assessment,
        booked.link_seed,
    ]
    assert [value for value in values if value.lower() in trail.lower()] == []
    assert session.scalar(select(func.count(Patient.id))) == 1


ANSWER_WITHIN = timedelta(minutes=3)


@pytest.fixture
def helpline(session):
    """A 20-minute helpline open at all hours, with a clinician on duty."""
    svc = factories.service(session, duration_minutes=20)
    return factories.walk_in_queue(session, svc, [factories.clinician(session, [svc])])


def take(session, queue, now, *, link: bool = True) -> Taken:
    """The clinician takes the next caller at `now`: their call, its meeting made unless not `link`."""
    taken = take_next(
        session, queue.id, StaffMember(900, StaffRole.CLINICIAN, clinician_id=queue.staff[0].id), now=now
    )
    if link:
        call = session.get(Consultation, taken.consultation.id)
        call.meeting_join_url, call.meeting_host_url = "https://meet.example/r", "https://meet.example/r?host"
        session.commit()
    return taken


def seen(session, queue, now) -> Taken:
    """A caller taken at `now` whose call was held for five minutes, the round then completing them."""
    factories.walk_in(session, queue, now=now)
    taken = take(session, queue, now)
    actor = Actor("staff", "192.0.2.8")
    change_status(session, taken.consultation.id, ConsultationStatus.IN_PROGRESS, now=now, actor=actor)
    ended = now + timedelta(minutes=5)
    change_status(session, taken.consultation.id, ConsultationStatus.FULFILLED, now=ended, actor=actor)
    walk_in_round(session, ended, answer_within=ANSWER_WITHIN, sessions=SESSIONS)
    return taken


def caller(session, entry) -> tuple:
    session.commit()
    entry = session.get(WalkInEntry, entry.id, populate_existing=True)
    return entry.status, entry.name, entry.email, entry.phone, entry.join_key, entry.join_hash


def test_callers_never_seen_go_after_the_walk_in_period_with_the_calls_made_for_them_and_called_off(
    session, periods, helpline
):
    gone = NOW - periods.walk_in - DAY
    details = factories.caller_details(name="Ann Walker", email=None, phone="07700 900461")
    left = join(
        session,
        helpline.id,
        details,
        Consent("2026-12-01"),
        now=gone,
        keys=TEST_KEYS,
        actor=Actor(),
        join_key="form-1",
        browser="tablet",
    ).entry
    leave(session, left.id, now=gone, actor=Actor())
    dropped = factories.walk_in(session, helpline, now=gone).entry
    take(session, helpline, gone)
    walk_in_round(
        session, gone + ANSWER_WITHIN, answer_within=ANSWER_WITHIN, sessions=SESSIONS
    )  # back to the front once
    take(session, helpline, gone + 2 * ANSWER_WITHIN)
    walk_in_round(session, gone + 4 * ANSWER_WITHIN, answer_within=ANSWER_WITHIN, sessions=SESSIONS)
    shut = factories.walk_in_queue(session, helpline.service, helpline.staff)
    closed = factories.walk_in(session, shut, now=gone).entry
    shut.status = QueueStatus.CLOSED
    session.commit()
    walk_in_round(session, gone + 5 * ANSWER_WITHIN, answer_within=ANSWER_WITHIN, sessions=SESSIONS)
    lately = factories.walk_in(session, helpline, now=NOW - periods.walk_in + DAY).entry
    leave(session, lately.id, now=NOW - periods.walk_in + DAY, actor=Actor())
    still_waiting = factories.walk_in(session, helpline, now=gone).entry

    counts = apply_retention(session, periods, now=NOW)
    again = apply_retention(session, periods, now=NOW)

    assert caller(session, left) == (EntryStatus.LEFT, ANONYMISED_NAME, None, "", None, None)
    assert caller(session, dropped)[:4] == (EntryStatus.DROPPED, ANONYMISED_NAME, None, "")
    assert caller(session, closed)[:4] == (EntryStatus.CLOSED, ANONYMISED_NAME, None, "")
    assert (
        caller(session, lately)[1] == lately.name and caller(session, still_waiting)[1] == still_waiting.name
    )
    calls = session.scalars(select(Patient)).all()  # the dropped caller's: one for each take
    assert [(p.name, p.email, p.anonymised_at) for p in calls] == [(ANONYMISED_NAME, None, NOW)] * 2
    assert (counts["walk_in_callers"], counts["patients"]) == (3, 2)
    assert set(again.values()) == {0}


def test_callers_whose_call_was_held_keep_their_details_for_the_patient_period(session, periods, helpline):
    lately = seen(session, helpline, NOW - periods.walk_in - DAY)
    long_ago = seen(session, helpline, NOW - periods.patient - DAY)

    counts = apply_retention(session, periods, now=NOW)

    assert caller(session, lately.entry)[:2] == (EntryStatus.COMPLETED, lately.entry.name)
    assert fresh(session, lately.consultation).patient.anonymised_at is None
    assert caller(session, long_ago.entry)[:2] == (EntryStatus.COMPLETED, ANONYMISED_NAME)
    assert fresh(session, long_ago.consultation).patient.anonymised_at == NOW
    assert (counts["walk_in_callers"], counts["patients"]) == (1, 1)


def test_a_walk_in_call_anonymised_is_still_a_walk_in_call_and_a_booking_no_walk_in(
    session, periods, helpline, hospital
):
    """Anonymising gave every patient record the placeholder date of birth, a walk-in caller's too, whose
    absent one is what marks their call as one: their old calls then read as bookings (the report counted
    them so, staff were offered a booking letter for the call, its page asked for a reason for the visit)."""
    held = seen(session, helpline, NOW - periods.patient - DAY)
    gone = NOW - periods.walk_in - DAY
    factories.walk_in(session, helpline, now=gone)
    called_off = take(session, helpline, gone)
    _sent_back_by_staff(session, helpline, called_off, gone + timedelta(seconds=30))

    apply_retention(session, periods, now=NOW)

    for call in (held.consultation, called_off.consultation):
        assert fresh(session, call).patient.anonymised_at == NOW
        assert fresh(session, call).is_walk_in and not has_letter(fresh(session, call))
    booked = fresh(session, hospital["old"])
    assert booked.patient.anonymised_at == NOW and not booked.is_walk_in


def _not_answered(session, queue, taken, at):
    walk_in_round(session, at + ANSWER_WITHIN, answer_within=ANSWER_WITHIN, sessions=SESSIONS)


def _no_link_made(session, queue, taken, at):
    call = session.get(Consultation, taken.consultation.id)
    call.meeting_join_url = call.meeting_host_url = None  # the provider never made it
    session.commit()
    walk_in_round(session, at + ANSWER_WITHIN, answer_within=ANSWER_WITHIN, sessions=SESSIONS)


def _joined_a_call_nobody_started(session, queue, taken, at):
    answer(session, taken.entry.id, now=at, actor=Actor())
    walk_in_round(session, at + ANSWER_WITHIN, answer_within=ANSWER_WITHIN, sessions=SESSIONS)


def _sent_back_by_staff(session, queue, taken, at):
    answer(session, taken.entry.id, now=at, actor=Actor())
    send_back_for_staff(session, taken.consultation.id, _desk(queue), now=at, rules=_RULES)


def _started_but_never_joined(session, queue, taken, at):
    change_status(session, taken.consultation.id, ConsultationStatus.IN_PROGRESS, now=at, actor=Actor())
    walk_in_round(session, taken.consultation.ends_at, answer_within=ANSWER_WITHIN, sessions=SESSIONS)


def _stalled(session, queue, taken, at):
    """Both were in the call; its clinician vanished (no sign-in of theirs left), reception sent back."""
    answer(session, taken.entry.id, now=at, actor=Actor())
    change_status(session, taken.consultation.id, ConsultationStatus.IN_PROGRESS, now=at, actor=Actor())
    send_back_for_staff(session, taken.consultation.id, _desk(queue), now=at, rules=_RULES)


def _left_when_called(session, queue, taken, at):
    leave(session, taken.entry.id, now=at, actor=Actor())


def _refused_as_a_no_show(session, queue, taken, at):
    """Staff cannot mark a walk-in call a no-show (it begins checked in): the round sends them back."""
    with pytest.raises(InvalidTransition):
        change_status(session, taken.consultation.id, ConsultationStatus.NOSHOW, now=at, actor=Actor())
    session.rollback()
    walk_in_round(session, at + ANSWER_WITHIN, answer_within=ANSWER_WITHIN, sessions=SESSIONS)


def _desk(queue) -> StaffMember:
    return StaffMember(901, StaffRole.RECEPTION, department_id=queue.department_id)


_RULES = SessionRules(idle=timedelta(minutes=30), lifetime=timedelta(hours=12), admin_second_factor=False)


@pytest.mark.parametrize(
    "not_seen",
    [
        _not_answered,
        _no_link_made,
        _joined_a_call_nobody_started,
        _sent_back_by_staff,
        _started_but_never_joined,
        _stalled,
        _left_when_called,
        _refused_as_a_no_show,
    ],
)
def test_a_call_whose_caller_was_never_seen_goes_after_the_walk_in_period_however_it_ended(
    session, periods, helpline, not_seen
):
    """Whichever way a call ends without its caller seen, its patient record is a caller never seen: it goes
    after the walk-in period, and the caller too once they are out of the queue (here closed out with it)."""
    gone = NOW - periods.walk_in - DAY
    factories.walk_in(session, helpline, now=gone)
    taken = take(session, helpline, gone)
    not_seen(session, helpline, taken, gone + timedelta(seconds=30))
    helpline = session.get(WalkInQueue, helpline.id)
    helpline.status = QueueStatus.CLOSED
    session.commit()
    walk_in_round(session, gone + timedelta(hours=2), answer_within=ANSWER_WITHIN, sessions=SESSIONS)

    counts = apply_retention(session, periods, now=NOW)

    assert fresh(session, taken.consultation).status is ConsultationStatus.CANCELLED
    assert fresh(session, taken.consultation).patient.anonymised_at == NOW
    assert caller(session, taken.entry)[:2] in {
        (EntryStatus.LEFT, ANONYMISED_NAME),
        (EntryStatus.CLOSED, ANONYMISED_NAME),
    }
    assert (counts["walk_in_callers"], counts["patients"]) == (1, 1)


def test_a_walk_in_period_under_a_day_stops_the_worker(app):
    app.config["RETENTION_WALK_IN_DAYS"] = 0

    with pytest.raises(ValueError, match="CLINIC_RETENTION_WALK_IN_DAYS must be at least 1"):
        Worker(app)
