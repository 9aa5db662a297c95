"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it receives and fails on demand.

Use the `smtp_server` fixture; `tls_certificate` gives a throwaway self-signed certificate for
STARTTLS and implicit-TLS servers built with `FakeSMTPServer(...)`.
"""

import asyncio
import multiprocessing
import shutil
import socket
import ssl
import subprocess
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from clinic.notify.mailbox import parse_mail

HOST = "127.0.0.1"
DISCONNECT = "disconnect"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    # The client's (host, port): equal for messages sent over one connection.
    peer: tuple[str, int]
    smtputf8: bool = False  # whether MAIL FROM asked for SMTPUTF8

    @property
    def message(self) -> EmailMessage:
        return parse_mail(self.content)


class RecordingHandler:
    """Stores each message per recipient; answers DATA or RCPT with failures it has been told to give."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.by_recipient: defaultdict[str, list[Received]] = defaultdict(list)
        self.data_replies: deque[str] = deque()
        self.refused: Counter[str] = Counter()
        self.deferred: Counter[str] = Counter()
        # An outage of `outage_seconds` begins at the first message after `refuse_for`.
        self.outage_seconds = 0.0
        self.outage_until: float | None = None
        self.outage_reply = ""
        self.outage_refusals = 0
        # Seconds each message's DATA is answered after, and how many messages have begun their DATA.
        self.data_seconds = 0.0
        self.data_begun = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if self.refused[address] > 0:
            self.refused[address] -= 1
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        if self.deferred[address] > 0:
            self.deferred[address] -= 1
            return f"450 4.1.2 <{address}>: Recipient address rejected: Domain not found"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        self.data_begun += 1
        await asyncio.sleep(self.data_seconds)
        if self.data_replies:
            reply = self.data_replies.popleft()
            if reply == DISCONNECT:
                server.transport.close()
            return reply
        if self._in_outage():
            self.outage_refusals += 1
            return self.outage_reply
        received = Received(
            envelope.mail_from, tuple(envelope.rcpt_tos), envelope.content, session.peer, envelope.smtp_utf8
        )
        self.received.append(received)
        for rcpt in envelope.rcpt_tos:
            self.by_recipient[rcpt].append(received)
        return "250 Message accepted for delivery"

    def _in_outage(self) -> bool:
        if self.outage_until is None and self.outage_seconds:
            self.outage_until = time.monotonic() + self.outage_seconds
        return self.outage_until is not None and time.monotonic() < self.outage_until


class FakeSMTPServer:
    """An aiosmtpd server on a free loopback port; optional STARTTLS, implicit TLS and a login.

    `idle_timeout` is how long the server keeps a silent connection open; `smtputf8` makes it offer
    SMTPUTF8 (RFC 6531), for addresses that are not ASCII.
    """

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        ssl_context: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
        idle_timeout: float = 300,
        smtputf8: bool = False,
        handler: RecordingHandler | None = None,
    ) -> None:
        self.host = HOST
        self.port = _free_port()
        self.handler = handler or RecordingHandler()
        self._running = False
        options: dict[str, Any] = {"timeout": idle_timeout, "enable_SMTPUTF8": smtputf8}
        if tls_context is not None:
            options.update(tls_context=tls_context, require_starttls=True)
        if login is not None:
            options["authenticator"] = _authenticator(*login)
        self._controller = Controller(
            self.handler, hostname=self.host, port=self.port, ssl_context=ssl_context, **options
        )

    def start(self) -> None:
        self._controller.start()
        self._running = True

    def stop(self) -> None:
        """Stop listening: connections are refused from now on. Stopping twice is harmless."""
        if self._running:
            self._controller.stop()
            self._running = False

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Mail settings that point the smtp backend at this server."""
        return {
            "MAIL_BACKEND": "smtp",
            "SMTP_HOST": self.host,
            "SMTP_PORT": self.port,
            **overrides,
        }

    def reply_to_next_data(self, reply: str, times: int = 1) -> None:
        """Answer the next `times` messages with `reply` (e.g. "451 4.3.0 Try later") or DISCONNECT."""
        self.handler.data_replies.extend([reply] * times)

    def refuse_for(
        self, seconds: float, reply: str = "451 4.3.0 Mail server temporarily unavailable"
    ) -> None:
        """Answer every message with `reply` for `seconds` from the next one on, as a server in trouble
        does; `handler.outage_refusals` counts the refusals."""
        self.handler.outage_reply = reply
        self.handler.outage_seconds, self.handler.outage_until = seconds, None

    def defer_recipient(self, address: str, times: int = 1) -> None:
        """Refuse `address` with 450 (try again later) in the next `times` messages, as Postfix answers for
        a domain it cannot find."""
        self.handler.deferred[address] += times

    def refuse_recipient(self, address: str, times: int = 1) -> None:
        """Refuse `address` with 550 in the next `times` messages."""
        self.handler.refused[address] += times

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def inbox(self, address: str) -> list[EmailMessage]:
        """The parsed messages delivered to `address`, oldest first."""
        return [received.message for received in self.handler.by_recipient[address]]

    def wait_for(self, predicate: Callable[[EmailMessage], bool], timeout: float = 15) -> EmailMessage:
        """The first message received that `predicate` accepts, once it arrives: mail sent by another
        process (the outbox worker) lands here some time after the action that caused it."""
        deadline, checked = time.monotonic() + timeout, 0
        while True:
            arrived = list(self.received)
            found = next((m for m in (r.message for r in arrived[checked:]) if predicate(m)), None)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"no such mail within {timeout} s among {len(arrived)} received")
            checked = len(arrived)
            time.sleep(0.1)


class SMTPServerProcess:
    """A plain FakeSMTPServer in a process of its own, for mail sent as fast as other processes can.

    In the test's process the server shares one interpreter lock with whatever else runs there, and
    every sender's mail queues for the one thread that serves them all; here it does not. `count` is
    live; what arrived comes back when the server stops.
    """

    def __init__(self) -> None:
        processes = multiprocessing.get_context("spawn")  # a fork would copy this process's threads' locks
        self._count = processes.RawValue("l", 0)
        self._commands, theirs = processes.Pipe()
        self._process = processes.Process(target=_serve, args=(theirs, self._count), daemon=True)
        self._process.start()
        self.host, self.port = HOST, self._commands.recv()
        self._received: list[Received] | None = None

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def count(self) -> int:
        """Messages accepted so far."""
        return self._count.value

    def stop(self) -> list[Received]:
        """Stop listening; every message it accepted, in order. Stopping twice is harmless."""
        if self._received is None:
            self._commands.send("stop")
            self._received = self._commands.recv()
            self._process.join()
        return self._received


class _CountingHandler(RecordingHandler):
    def __init__(self, count) -> None:
        super().__init__()
        self.count = count

    async def handle_DATA(self, server, session, envelope) -> str:
        before = len(self.received)
        reply = await super().handle_DATA(server, session, envelope)
        self.count.value += len(self.received) - before
        return reply


def _serve(commands, count) -> None:
    """SMTPServerProcess's side: serve until told to stop, then hand back what arrived."""
    server = FakeSMTPServer(handler=_CountingHandler(count))
    server.start()
    commands.send(server.port)
    commands.recv()
    server.stop()
    commands.send(server.received)


@pytest.fixture
def smtp_server() -> Iterator[FakeSMTPServer]:
    """A plain SMTP server, fresh for each test."""
    server = FakeSMTPServer()
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate only."""
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, valid for one day."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    certificate = Certificate(cert=folder / "cert.pem", key=folder / "key.pem")
    key_options = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    subject = ["-subj", f"/CN={HOST}", "-addext", f"subjectAltName=IP:{HOST}"]
    files = ["-keyout", str(certificate.key), "-out", str(certificate.cert)]
    command = [openssl, "req", "-x509", "-days", "1", *key_options, *subject, *files]
    subprocess.run(command, check=True, capture_output=True)
    return certificate


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _authenticator(login: str, password: str):
    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == login.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    return authenticate
