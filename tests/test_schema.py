"""The migrations build exactly the models' schema, on SQLite and PostgreSQL."""

from datetime import date, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from clinic.audit import SYSTEM
from clinic.extensions import db
from clinic.models import (
    Base,
    Consultation,
    ConsultationNote,
    Department,
    OutboxMessage,
    Patient,
    QueueStatus,
    StaffRole,
    WalkInQueue,
)
from clinic.notes.drafts import start_amendment
from clinic.staff.members import StaffMember
from clinic.walkin.send_back import send_back
from clinic.walkin.take import take_next

from . import factories
from .conftest import build_app, postgres_only, sqlite_only
from .fakes.outbox import open_clinic
from .notes_support import NOTE, booked, requester, sign


def schema_diff(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, Base.metadata)


def test_upgrade_from_empty_gives_exactly_the_models_schema(app):
    assert schema_diff(db.engine) == []


@sqlite_only
def test_downgrade_to_empty_and_upgrade_again(tmp_path):
    app = build_app(f"sqlite:///{tmp_path}/fresh.sqlite", str(tmp_path))
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        with db.engine.connect() as conn:
            tables = conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")).scalars().all()
        assert tables == ["alembic_version"]
        upgrade()
        assert schema_diff(db.engine) == []
        db.engine.dispose()


@postgres_only
def test_postgres_has_the_overlap_exclusion_constraint(app):
    with db.engine.connect() as conn:
        definition = conn.scalar(
            text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name"),
            {"name": "ex_consultation_no_overlap"},
        )
    assert "EXCLUDE USING gist" in definition
    assert "tstzrange(blocked_from, blocked_until, '[)'::text) WITH &&" in definition
    assert "status" in definition and "cancelled" in definition


def test_upgrading_closes_the_walk_in_queues_that_a_closed_department_left_open(app):
    """0018: before it, closing a department left its queues 'open', though nobody could reach them."""
    downgrade(revision="0017")
    departments = [{"id": 1, "name": "Closed", "active": False}, {"id": 2, "name": "Open", "active": True}]
    queue = {"name": "Helpline", "time_zone": "Europe/London", "status": QueueStatus.OPEN}
    with db.engine.begin() as conn:
        conn.execute(Department.__table__.insert(), departments)
        conn.execute(
            WalkInQueue.__table__.insert(),
            [{**queue, "department_id": d["id"], "slug": f"helpline-{d['id']}"} for d in departments],
        )

    upgrade()

    with db.engine.connect() as conn:
        found = conn.execute(select(WalkInQueue.department_id, WalkInQueue.status).order_by("department_id"))
        assert found.all() == [(1, QueueStatus.CLOSED), (2, QueueStatus.OPEN)]


def test_upgrading_gives_the_handovers_stored_as_cancellations_their_own_kind(app, session, now):
    """0027: the mail telling a clinician a colleague has their booking was stored as mail.cancellation;
    one stored since goes back to 0026 as such and comes up again as a handover."""
    tuesday_10 = now + timedelta(days=1, hours=2)
    consultation_id = factories.booking(session, open_clinic(session), tuesday_10, now=now).consultation.id
    session.commit()
    stored = {"consultation_id": consultation_id, "audience": "clinician", "due_at": now, "payload": {}}
    with db.engine.begin() as conn:
        conn.execute(
            OutboxMessage.__table__.insert(), {**stored, "kind": "mail.handed_over", "idempotency_key": "c:4"}
        )
    downgrade(revision="0026")
    with db.engine.begin() as conn:
        conn.execute(
            OutboxMessage.__table__.insert(),
            [
                {**stored, "kind": "mail.cancellation", "idempotency_key": "c:2:handed-over"},
                {**stored, "kind": "mail.cancellation", "idempotency_key": "c:3"},
            ],
        )

    upgrade()

    kinds = select(OutboxMessage.idempotency_key, OutboxMessage.kind).where(
        OutboxMessage.idempotency_key.like("c:%")
    )
    with db.engine.connect() as conn:
        assert dict(conn.execute(kinds).all()) == {
            "c:4:handed-over": "mail.handed_over",
            "c:2:handed-over": "mail.handed_over",
            "c:3": "mail.cancellation",
        }


def test_upgrading_gives_walk_in_callers_anonymised_before_their_absent_date_of_birth_back(app, session, now):
    """0029: retention gave every anonymised patient record the placeholder date of birth, a walk-in
    caller's too, whose calls then read as bookings. A caller sent back and taken again has two calls: the
    place names the second, the first only the audit events of its take do."""
    svc = factories.service(session)
    doctor = factories.clinician(session, [svc])
    session.commit()
    booking = factories.booking(session, svc, now + timedelta(days=1, hours=2), now=now).consultation
    queue = factories.walk_in_queue(session, svc, [doctor])
    place = factories.walk_in(session, queue, now=now).entry
    on_duty = StaffMember(1, StaffRole.CLINICIAN, clinician_id=doctor.id)
    first = take_next(session, queue.id, on_duty, now=now).consultation
    send_back(session, place, now, SYSTEM)
    session.commit()
    second = take_next(session, queue.id, on_duty, now=now + timedelta(minutes=1)).consultation
    session.commit()
    downgrade(revision="0028")
    with db.engine.begin() as conn:  # as 0028's retention left them
        conn.execute(update(Patient).values(anonymised_at=now, birth_date=date(1900, 1, 1)))

    upgrade()

    birth_dates = select(Consultation.id, Patient.birth_date).join(Patient)
    with db.engine.connect() as conn:
        assert dict(conn.execute(birth_dates).all()) == {
            booking.id: date(1900, 1, 1),
            first.id: None,
            second.id: None,
        }


def test_0031_keeps_every_note_version_both_ways_and_lets_only_a_signed_one_need_a_signer(app, session, now):
    """0031 makes SQLite's consultation_note anew (its check changes): a copy made as batch mode makes it
    could not drop the old table under the copied amendments naming it (FOREIGN KEY constraint failed)."""
    case = booked(app, session, now)
    sign(session, case, NOTE, now=now)
    start_amendment(session, case.id, requester=requester(case.clinician), settings=case.settings, now=now)
    session.commit()
    notes = select(ConsultationNote.__table__).order_by(ConsultationNote.id)
    before = session.execute(notes).all()
    session.close()

    downgrade(revision="0030")
    upgrade()

    with db.engine.begin() as conn:
        assert conn.execute(notes).all() == before
        conn.execute(update(ConsultationNote).where(ConsultationNote.version == 2).values(status="discarded"))
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        conn.execute(update(ConsultationNote).where(ConsultationNote.version == 1).values(signed_by_id=None))
    assert "uq_consultation_note_open_draft" in {  # the one open draft a consultation may have, as before
        index["name"] for index in inspect(db.engine).get_indexes("consultation_note")
    }
