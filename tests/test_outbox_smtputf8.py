"""Addresses with letters outside ASCII before the @ (RFC 6531): sent with SMTPUTF8 where the relay takes
it, a dead letter at once where it does not, and written correctly by the file backend."""

# ruff: noqa: F811 - the fakes' fixtures imported below are the tests' parameters

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from clinic.models import OutboxKind, OutboxStatus
from clinic.notify.mail import FileBackend, mail_backend
from clinic.notify.mailbox import mail_page, parse_mail
from clinic.notify.notices import Audience, MessageKind, Recipient
from tests.test_notify_messages import compose_mail, make_notice

from . import factories
from .fakes.outbox import invite, open_clinic, outbox, text  # noqa: F401 (fixture)
from .fakes.providers import fake_providers  # noqa: F401 (fixture)
from .fakes.smtp import FakeSMTPServer, smtp_server  # noqa: F401 (fixture)

TUESDAY_10 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
ADDRESS = "évè@example.org"


@pytest.fixture
def utf8_server() -> Iterator[FakeSMTPServer]:
    server = FakeSMTPServer(smtputf8=True)
    server.start()
    yield server
    server.stop()


def book_for(session, now, address: str):
    patient = factories.patient_details(email=address)
    return factories.booking(session, open_clinic(session), TUESDAY_10, now=now, patient=patient).consultation


def test_a_relay_offering_smtputf8_delivers_to_an_address_that_is_not_ascii(
    session, now, outbox, utf8_server
):
    outbox.configure(**utf8_server.settings(), MAIL_SMTPUTF8=True)
    consultation = book_for(session, now, ADDRESS)
    outbox.drain()

    row = outbox.only(consultation, OutboxKind.CONFIRMATION, "patient")
    assert (row.status, row.attempts) == (OutboxStatus.DONE, 1)
    (mail,) = utf8_server.inbox(ADDRESS)
    assert [r.smtputf8 for r in utf8_server.received if ADDRESS in r.rcpt_tos] == [True]
    assert mail["To"].addresses[0].addr_spec == ADDRESS
    method, event = invite(mail)
    assert method == "REQUEST" and str(event["ATTENDEE"]) == f"mailto:{ADDRESS}"
    assert len(utf8_server.inbox(consultation.clinician.email)) == 1


def test_a_relay_without_smtputf8_makes_that_mail_a_dead_letter_at_once_and_sends_the_others(
    session, now, outbox, smtp_server
):
    consultation = book_for(session, now, ADDRESS)
    outbox.drain()

    row = outbox.only(consultation, OutboxKind.CONFIRMATION, "patient")
    assert (row.status, row.attempts) == (OutboxStatus.DEAD, 1)
    assert row.last_error == "SMTPUTF8NotOffered: 127.0.0.1 does not offer SMTPUTF8, which the address needs"
    assert smtp_server.inbox(ADDRESS) == []
    assert len(smtp_server.inbox(consultation.clinician.email)) == 1


def test_the_file_backend_writes_the_address_as_utf8_not_as_an_encoded_word(tmp_path):
    notice = make_notice(patient=Recipient("Évè Martin", ADDRESS, "Europe/Paris"))
    backend = mail_backend({"MAIL_BACKEND": "file"}, tmp_path)
    assert isinstance(backend, FileBackend)

    backend.send(compose_mail(MessageKind.CONFIRMATION, Audience.PATIENT, notice))

    (written,) = backend.directory.glob("*.eml")
    raw = written.read_bytes()
    assert f"To: Évè Martin <{ADDRESS}>\r\n".encode() in raw  # RFC 6532: UTF-8, no encoded word
    parsed = parse_mail(raw)
    assert parsed["To"].addresses[0].addr_spec == ADDRESS
    assert not parsed.defects
    # The development mail page reads it back as written.
    (listed,) = mail_page(backend.directory).mails
    assert listed.to == f"Évè Martin <{ADDRESS}>"
