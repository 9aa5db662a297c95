import email
import email.policy
import socket
import time
from contextlib import closing
from datetime import UTC, datetime
from email.utils import getaddresses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from icalendar import Calendar

import config
from clinic.notify.ics import Invite, Method
from clinic.notify.mail import (
    FileBackend,
    MailPartiallyRefused,
    MailPermanentError,
    MailTemporaryError,
    SMTPBackend,
    mail_backend,
)
from clinic.notify.mime import build_message, make_message_id, recipient_address
from tests.fakes.smtp import DISCONNECT, FakeSMTPServer, smtp_server, tls_certificate  # noqa: F401 (fixtures)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PATIENT = "sam.patient@example.com"
INVITE = Invite(
    Method.REQUEST,
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n",
)


def settings_of(server, **overrides) -> dict:
    """Every setting, with mail going to `server`: for backends made without an app."""
    return config.defaults() | server.settings(**overrides)


def make_message(to: str = PATIENT, key: str = "outbox-1", invite: Invite | None = INVITE):
    return build_message(
        sender="Clinic <appointments@clinic.example>",
        to=to,
        subject="Your video consultation – St Example",
        text="Join at 09:00.\n",
        html="<p>Join at 09:00.</p>\n",
        message_id=make_message_id(key, "clinic.example"),
        date=NOW,
        invite=invite,
    )


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def test_message_id_is_stable_per_idempotency_key():
    first = make_message_id("consultation:42:confirmation:patient", "clinic.example")

    assert first == make_message_id("consultation:42:confirmation:patient", "clinic.example")
    assert first != make_message_id("consultation:42:update:patient", "clinic.example")
    assert first.startswith("<") and first.endswith("@clinic.example>")
    assert ":" not in first


def test_message_is_alternative_text_html_and_calendar_with_the_invite_also_attached():
    message = parse(make_message().as_bytes(policy=email.policy.SMTP))

    assert message.get_content_type() == "multipart/mixed"
    alternative, attached = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    parts = list(alternative.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html", "text/calendar"]
    # For web mail that ignores the inline part: the same invite as a file.
    assert attached.get_content_type() == "application/ics"
    assert attached.get_content_disposition() == "attachment"
    assert attached.get_filename() == "invite.ics"
    assert attached.get_payload(decode=True) == INVITE.data
    assert not message.defects and not any(part.defects for part in message.walk())
    assert parts[2].get_param("method") == "REQUEST"
    assert parts[2].get_content_charset() == "utf-8"
    assert parts[2].get_payload(decode=True) == INVITE.data
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"].datetime == NOW


LONG_NAME_WITH_ADDRESSES = (
    "Jane Doe of the Example Street practice and the Riverside Group, list@third-party.example, Jane"
)


@pytest.mark.parametrize(
    "name",
    [
        LONG_NAME_WITH_ADDRESSES,  # folded, Python's email wrote it unquoted: three recipients
        'Comp Bcc: c@evil.example "><img src=x> and a name long enough to be folded over two lines',
        "Dr. Ana Lee-O'Brien, MD",
        "Zoë Ünal, née Schäfer; of the Straße 12 practice, which is a long enough name to fold",
    ],
)
def test_the_to_header_names_the_one_recipient_whatever_their_name(name):
    """A patient's or companion's name is theirs to type: written out, the To header must still hold
    their address alone, however mail programs parse it (reply-all, relays reading the headers)."""
    message = make_message(to=recipient_address(name, PATIENT))

    to = parse(message.as_bytes())["To"]

    assert [address for _, address in getaddresses([str(to)])] == [PATIENT]


@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=150))
def test_no_name_adds_a_recipient(name):
    message = make_message(to=recipient_address(name, PATIENT))

    to = parse(message.as_bytes())["To"]

    assert [address for _, address in getaddresses([str(to)])] == [PATIENT]


def test_message_without_invite_has_no_calendar_part():
    message = make_message(invite=None)

    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]


def test_smtp_delivers_the_message_as_built(smtp_server):  # noqa: F811
    message = make_message()

    with SMTPBackend.from_settings(settings_of(smtp_server)) as backend:
        backend.send(message)

    [received] = smtp_server.inbox(PATIENT)
    assert received["Message-ID"] == message["Message-ID"]
    assert received["Subject"] == "Your video consultation – St Example"
    assert Calendar.from_ical(received.get_body(("calendar",)).get_content())["METHOD"] == "REQUEST"


def test_smtp_keeps_one_connection_and_reconnects_after_the_server_closes_it():
    server = FakeSMTPServer(idle_timeout=0.3)
    server.start()
    try:
        backend = SMTPBackend(host=server.host, port=server.port)
        backend.send(make_message(key="1"))
        backend.send(make_message(key="2"))
        time.sleep(0.6)
        backend.send(make_message(key="3"))
        backend.close()
    finally:
        server.stop()

    first, second, third = (received.peer for received in server.received)
    assert first == second != third


def test_4xx_reply_is_temporary_and_a_retry_delivers_the_same_message(smtp_server):  # noqa: F811
    smtp_server.reply_to_next_data("451 4.3.0 Try again later")
    message = make_message()

    with closing(mail_backend(settings_of(smtp_server), "unused")) as backend:
        with pytest.raises(MailTemporaryError) as raised:
            backend.send(message)
        backend.send(message)

    assert raised.value.retry_after is None
    assert [m["Message-ID"] for m in smtp_server.inbox(PATIENT)] == [message["Message-ID"]]


def test_5xx_reply_is_permanent(smtp_server):  # noqa: F811
    smtp_server.reply_to_next_data("550 5.7.1 Message rejected")

    with pytest.raises(MailPermanentError, match="550"):
        mail_backend(settings_of(smtp_server), "unused").send(make_message())


def test_disconnect_during_data_is_temporary(smtp_server):  # noqa: F811
    smtp_server.reply_to_next_data(DISCONNECT)

    with pytest.raises(MailTemporaryError, match="SMTPServerDisconnected"):
        mail_backend(settings_of(smtp_server), "unused").send(make_message())


def test_one_refused_recipient_among_several_is_reported(smtp_server):  # noqa: F811
    smtp_server.refuse_recipient("gone@example.com")

    with closing(mail_backend(settings_of(smtp_server), "unused")) as backend:
        with pytest.raises(MailPartiallyRefused) as raised:
            backend.send(make_message(to=f"{PATIENT}, gone@example.com"))

    assert list(raised.value.refused) == ["gone@example.com"]
    assert raised.value.refused["gone@example.com"][0] == 550
    assert len(smtp_server.inbox(PATIENT)) == 1


def test_the_only_recipient_refused_is_permanent(smtp_server):  # noqa: F811
    smtp_server.refuse_recipient(PATIENT)

    with pytest.raises(MailPermanentError, match="SMTPRecipientsRefused"):
        mail_backend(settings_of(smtp_server), "unused").send(make_message())


def test_connection_refused_is_temporary(smtp_server):  # noqa: F811
    smtp_server.stop()

    with pytest.raises(MailTemporaryError, match="ConnectionRefused"):
        mail_backend(settings_of(smtp_server), "unused").send(make_message())


def test_a_silent_server_times_out_as_temporary():
    with socket.create_server(("127.0.0.1", 0)) as silent:
        settings = config.defaults() | {
            "MAIL_BACKEND": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": silent.getsockname()[1],
        }
        backend = mail_backend({**settings, "SMTP_TIMEOUT": 0.2}, "unused")

        started = time.monotonic()
        with pytest.raises(MailTemporaryError, match="timed out"):
            backend.send(make_message())

    assert time.monotonic() - started < 2


@pytest.fixture
def starttls_server(tls_certificate):  # noqa: F811
    server = FakeSMTPServer(tls_context=tls_certificate.server_context(), login=("clinic", "s3cret"))
    server.start()
    yield server
    server.stop()


def test_starttls_with_login_delivers(starttls_server, tls_certificate):  # noqa: F811
    settings = settings_of(
        starttls_server, SMTP_TLS="starttls", SMTP_USERNAME="clinic", SMTP_PASSWORD="s3cret"
    )
    backend = SMTPBackend.from_settings(settings)
    backend.ssl_context = tls_certificate.client_context()

    backend.send(make_message())
    backend.close()

    assert len(starttls_server.inbox(PATIENT)) == 1


@pytest.mark.parametrize(
    ("settings", "trusted", "error"),
    [
        (
            {"SMTP_TLS": "starttls", "SMTP_USERNAME": "clinic", "SMTP_PASSWORD": "wrong"},
            True,
            "Authentication",
        ),
        ({"SMTP_TLS": "starttls"}, False, "CERTIFICATE_VERIFY_FAILED"),
        ({"SMTP_TLS": "none"}, True, "STARTTLS"),
    ],
    ids=["bad-password", "untrusted-certificate", "plain-text-refused"],
)
def test_tls_and_login_failures_are_permanent(starttls_server, tls_certificate, settings, trusted, error):  # noqa: F811
    backend = SMTPBackend.from_settings(settings_of(starttls_server, **settings))
    if trusted:
        backend.ssl_context = tls_certificate.client_context()

    with pytest.raises(MailPermanentError, match=error):
        backend.send(make_message())
    assert starttls_server.received == []


def test_implicit_tls_delivers(tls_certificate):  # noqa: F811
    server = FakeSMTPServer(ssl_context=tls_certificate.server_context())
    server.start()
    try:
        backend = SMTPBackend(
            host=server.host, port=server.port, tls="ssl", ssl_context=tls_certificate.client_context()
        )
        backend.send(make_message())
        backend.close()
    finally:
        server.stop()

    assert len(server.inbox(PATIENT)) == 1


def test_file_backend_is_the_default_and_writes_parseable_eml_files_in_sending_order(tmp_path):
    backend = mail_backend(config.defaults(), tmp_path)
    messages = [make_message(key=f"outbox-{n}") for n in range(3)]

    for message in messages:
        backend.send(message)

    assert isinstance(backend, FileBackend)
    files = sorted((tmp_path / "mail").iterdir())
    assert [path.suffix for path in files] == [".eml"] * 3
    parsed = [parse(path.read_bytes()) for path in files]
    assert [m["Message-ID"] for m in parsed] == [m["Message-ID"] for m in messages]
    calendar = parsed[0].get_body(("calendar",))
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_payload(decode=True) == INVITE.data


def test_smtp_settings_are_read_with_their_types():
    settings = config.defaults() | {
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "mail.hospital.example",
        "SMTP_PORT": "587",
        "SMTP_TLS": "STARTTLS",
        "SMTP_TIMEOUT": "2.5",
        "SMTP_USERNAME": "",
        "SMTP_PASSWORD": None,
    }
    assert config.check(settings, "development") == []  # as the app reads them when it starts

    backend = mail_backend(settings, "unused")

    assert isinstance(backend, SMTPBackend)
    assert (backend.host, backend.port, backend.tls, backend.timeout) == (
        "mail.hospital.example",
        587,
        "starttls",
        2.5,
    )
    assert backend.username is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (config.defaults() | {"MAIL_BACKEND": "pigeon"}, "MAIL_BACKEND"),
        (config.defaults() | {"MAIL_BACKEND": "smtp", "SMTP_TLS": "maybe"}, "SMTP_TLS"),
    ],
)
def test_unknown_backend_or_tls_mode_is_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        mail_backend(settings, "unused")
