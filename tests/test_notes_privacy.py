"""Notes never leave the app: not by mail or invite, not in an outbox payload, an audit row or a log line."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from clinic.audit import Actor
from clinic.extensions import db
from clinic.models import AuditEvent, OutboxMessage, StaffRole
from clinic.notes.content import FIELDS, SoapNote
from clinic.scheduling.lifecycle import cancel, reschedule

from . import factories
from .fakes.outbox import open_clinic, outbox, text  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import smtp_server  # noqa: F401 (fixture)
from .notes_support import form

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
WEDNESDAY_11 = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)
THURSDAY_14 = datetime(2026, 3, 5, 14, 0, tzinfo=UTC)


@pytest.fixture
def every_log_record(caplog) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at DEBUG from every logger, SQLAlchemy's statements and parameters included, and those an
    earlier logging config disabled (Alembic's, when the migrations ran) too."""
    loggers = [
        logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
    caplog.set_level(logging.DEBUG)
    yield caplog
    for logger, level, disabled in saved:
        logger.setLevel(level)
        logger.disabled = disabled


def test_a_signed_note_is_in_no_mail_invite_outbox_payload_audit_row_or_log(
    app, session, now, outbox, smtp_server, every_log_record
):
    marker = f"NOTE-MARKER-{uuid.uuid4().hex}"
    service = open_clinic(session)
    first = factories.booking(session, service, TUESDAY_10, now=now).consultation
    second = factories.booking(session, service, WEDNESDAY_11, now=now).consultation
    login = factories.staff(session, role=StaffRole.CLINICIAN, clinician_id=first.clinician_id)
    outbox.drain()

    client = factories.browser(app)
    factories.sign_in(client, login)
    notes = f"/schedule/consultations/{first.id}/notes"
    note = SoapNote(*(f"{part} {marker}" for part in FIELDS))
    assert client.post(f"{notes}/sign", data=form(note)).status_code == 303
    assert marker in client.get(notes).get_data(as_text=True)  # the note holds the marker
    draft = form(SoapNote(subjective=f"draft {marker}"))
    assert client.post(f"/schedule/consultations/{second.id}/notes", data=draft).status_code == 303
    reschedule(session, first.id, THURSDAY_14, now=now, actor=Actor())
    cancel(session, second.id, now=now, actor=Actor(), enforce_cutoff=False)
    outbox.drain(until=THURSDAY_14 + timedelta(days=1))  # the updates, the cancellation and the reminders

    mails = smtp_server.received
    assert len(mails) >= 6
    for mail in mails:
        assert marker.encode() not in mail.content
        assert marker not in text(mail.message)  # decoded: every part, the invites included
    db.session.commit()
    for message in db.session.scalars(select(OutboxMessage)):
        assert marker not in json.dumps([message.payload, message.last_error, message.outcome])
    events = list(db.session.scalars(select(AuditEvent)))
    assert {"note.signed", "note.saved", "note.read"} <= {e.action for e in events}
    for event in events:
        assert marker not in json.dumps([event.actor, event.action, event.entity_id, event.details])
    records = every_log_record.records
    assert any("INSERT INTO consultation_note" in record.getMessage() for record in records)
    for record in records:
        assert marker not in record.getMessage() and marker not in (record.exc_text or "")
