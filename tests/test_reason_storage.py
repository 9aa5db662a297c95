"""The reasons a patient gives, for a visit and for cancelling it, at rest: sealed under the notes keys,
each bound to its consultation and field, so a database file, dump or backup shows none of them; the
pages and the subject-access export still show them to who may see them."""

import json
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet
from sqlalchemy import select, text

from clinic.audit import Actor
from clinic.models import AuditEvent, Consultation, StaffRole
from clinic.models.sealed_text import UNREADABLE
from clinic.privacy.retention import RetentionPeriods, apply_retention
from clinic.scheduling.lifecycle import cancel

from . import factories
from .conftest import on_postgres
from .factories import sign_in
from .test_api import bearer, booking_body, clinic, wall  # noqa: F401 (fixture)
from .test_notes_storage import _raw_sqlite_file, app_with_key

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
REASON = "Panic attacks and suicidal thoughts since Friday"
CANCEL_REASON = "Partner reads my e-mail and found the booking"
ADDRESS = "ada.reasons@example.org"


def book(session, now, *, reason=REASON, start=TUESDAY_10, cancel_reason: str | None = CANCEL_REASON):
    """A consultation booked with `reason` through the booking service, then cancelled with
    `cancel_reason` (None: left booked); its id and its clinician."""
    service = factories.service(session)
    clinician = factories.clinician(session, [service])
    session.commit()  # booking opens its own write transaction
    patient = factories.patient_details(email=ADDRESS)
    booking = factories.booking(
        session, service, start, now=now, clinician_id=clinician.id, reason=reason, patient=patient
    )
    consultation_id = booking.consultation.id
    if cancel_reason is not None:
        cancel(session, consultation_id, now=now, actor=Actor("patient"), reason=cancel_reason)
    return consultation_id, clinician


def stored(session, consultation_id: int) -> tuple[str, str]:
    """The reason columns exactly as the database holds them."""
    session.commit()
    row = session.execute(
        text("SELECT reason, cancel_reason FROM consultation WHERE id = :id"), {"id": consultation_id}
    ).one()
    return row.reason, row.cancel_reason


def consultation(session, consultation_id: int) -> Consultation:
    session.commit()
    return session.get(Consultation, consultation_id, populate_existing=True)


def raw_database(session) -> bytes:
    """The SQLite file and its write-ahead log, or every consultation row as PostgreSQL stores it."""
    if not on_postgres():
        return _raw_sqlite_file(session)
    return b"\n".join(session.scalars(text("SELECT convert_to(c::text, 'UTF8') FROM consultation c")))


def test_the_database_holds_the_reasons_only_sealed(app, session, now):
    consultation_id, _ = book(session, now)

    reason, cancel_reason = stored(session, consultation_id)
    raw = raw_database(session)

    assert reason.startswith("gAAAAA") and cancel_reason.startswith("gAAAAA")
    assert reason.encode() in raw  # we are reading where the consultations live
    for secret in (REASON, CANCEL_REASON, "suicidal", "Partner reads"):
        assert secret.encode() not in raw
    read = consultation(session, consultation_id)
    assert (read.reason_text, read.cancel_reason_text) == (REASON, CANCEL_REASON)


def test_reasons_sent_through_the_api_are_stored_sealed_and_never_echoed(app, session, client, clinic):  # noqa: F811
    created = client.post(
        "/api/v1/bookings", json=booking_body(clinic.service.id, wall(clinic.day, 10), reason=REASON)
    )
    booking = created.get_json()
    cancelled = client.post(
        f"/api/v1/bookings/{booking['reference']}/cancel",
        json={"reason": CANCEL_REASON},
        headers=bearer(booking["manage_token"]),
    )
    consultation_id = session.scalar(select(Consultation.id))

    reason, cancel_reason = stored(session, consultation_id)

    assert (created.status_code, cancelled.status_code) == (201, 200)
    assert reason.startswith("gAAAAA") and cancel_reason.startswith("gAAAAA")
    read = consultation(session, consultation_id)
    assert (read.reason_text, read.cancel_reason_text) == (REASON, CANCEL_REASON)
    for response in (created, cancelled):
        assert REASON not in response.get_data(as_text=True) and "gAAAAA" not in response.get_data(
            as_text=True
        )


def test_no_reason_given_stays_empty(app, session, now):
    consultation_id, _ = book(session, now, reason="", cancel_reason="")

    assert stored(session, consultation_id) == ("", "")
    read = consultation(session, consultation_id)
    assert (read.reason_text, read.cancel_reason_text) == ("", "")


def test_a_reason_copied_into_another_consultation_or_field_is_unreadable(app, session, now):
    first, _ = book(session, now)
    second, _ = book(session, now, reason="Rash on both arms", start=TUESDAY_10 + timedelta(hours=2))
    first_reason, _ = stored(session, first)
    session.execute(
        text("UPDATE consultation SET reason = :token WHERE id = :id"), {"token": first_reason, "id": second}
    )
    session.execute(
        text("UPDATE consultation SET cancel_reason = :token WHERE id = :id"),
        {"token": first_reason, "id": first},
    )

    moved, swapped = consultation(session, second), consultation(session, first)

    assert moved.reason_text == UNREADABLE
    assert swapped.cancel_reason_text == UNREADABLE and swapped.reason_text == REASON


def test_the_clinicians_page_and_the_notes_page_show_the_reason(app, session, now):
    consultation_id, clinician = book(session, now, cancel_reason=None)
    login = factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=clinician.id)
    session.commit()
    client = factories.browser(app)
    sign_in(client, login)

    page = client.get(f"/schedule/consultations/{consultation_id}").get_data(as_text=True)
    notes = client.get(f"/schedule/consultations/{consultation_id}/notes").get_data(as_text=True)

    assert REASON in page and REASON in notes
    assert "gAAAAA" not in page and "gAAAAA" not in notes


def test_the_subject_access_export_gives_the_reasons_in_plain_text(app, session, now):
    book(session, now)
    session.commit()

    result = app.test_cli_runner().invoke(args=["clinic", "patient", "export", "--email", ADDRESS])

    assert result.exit_code == 0, result.output
    (booking,) = [b for patient in json.loads(result.stdout)["patients"] for b in patient["bookings"]]
    assert (booking["reason"], booking["cancel_reason"]) == (REASON, CANCEL_REASON)


def test_rotation_seals_the_reasons_under_the_new_key_and_seals_those_stored_before(
    database_url, tmp_path, now
):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with app_with_key(database_url, tmp_path, old) as (app, session):
        sealed_id, _ = book(session, now)
        legacy_id, _ = book(session, now, cancel_reason=None, start=TUESDAY_10 + timedelta(hours=2))
        session.execute(  # as stored before reasons were sealed
            text("UPDATE consultation SET reason = 'Chest pain at night' WHERE id = :id"), {"id": legacy_id}
        )
        before = stored(session, sealed_id)
        legacy_read = consultation(session, legacy_id).reason_text

    with app_with_key(database_url, tmp_path, f"{new},{old}") as (app, session):
        result = app.test_cli_runner().invoke(args=["clinic", "notes", "rotate"])
    with app_with_key(database_url, tmp_path, new) as (app, session):
        after, legacy_after = stored(session, sealed_id), stored(session, legacy_id)
        read = consultation(session, sealed_id)
        texts = (read.reason_text, read.cancel_reason_text, consultation(session, legacy_id).reason_text)
        (rotated,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "reasons.keys_rotated"))

    assert result.exit_code == 0 and "the reasons given on 2 consultations" in result.output
    assert legacy_read == "Chest pain at night"
    assert all(a != b for a, b in zip(after, before, strict=True))
    assert legacy_after[0].startswith("gAAAAA") and legacy_after[1] == ""
    assert texts == (REASON, CANCEL_REASON, "Chest pain at night") and rotated.details == {
        "count": 2,
        "unreadable_ids": [],
    }


def test_retention_erases_sealed_reasons(app, session, now):
    consultation_id, _ = book(session, now)
    periods = RetentionPeriods.from_config(app.config)
    session.commit()

    counts = apply_retention(session, periods, now=TUESDAY_10 + periods.reason + timedelta(days=1))

    assert counts["reasons"] == 1
    assert stored(session, consultation_id) == ("", "")
