"""Mail messages (text, HTML and an optional iMIP invite) and the backends that deliver them.

Backends raise `MailTemporaryError` when a later retry may succeed and `MailPermanentError`
when it will not, so the outbox can decide between backing off and a dead letter.
"""

import dataclasses
import functools
import hashlib
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8, Policy, default
from pathlib import Path
from typing import Any, Protocol

from config import SMTP_TLS_MODES

from .ics import Invite

# A connection whose last reply is this recent is used without a NOOP first: messages sent back to
# back cost one round trip less. Should the server have closed it even so, the send fails as
# temporary before anything was accepted, and the message is retried.
FRESH_CONNECTION = 0.25


class _FoldedOnce(BaseHeader):
    """A header that folds itself once per kind of output: a header object met again (see
    `_HeaderClasses`) is written again for free."""

    def fold(self, *, policy: Policy) -> str:
        key = (policy.linesep, policy.max_line_length, policy.utf8)
        folded = self.__dict__.setdefault("_folded", {})
        if key not in folded:
            folded[key] = super().fold(policy=policy)
        return folded[key]


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, making each header class once instead of once per header, and
    each header that recurs from mail to mail once (its parse and its folding are most of the time
    spent building and sending a mail). Header objects are immutable, so one may serve every mail."""

    # Headers whose values repeat across mails: the sender, the subjects and the MIME parts' headers.
    RECURRING = frozenset(
        {"from", "subject", "auto-submitted", "mime-version"}
        | {"content-type", "content-transfer-encoding", "content-disposition"}
    )
    MAX_RECURRING = 1024  # enough for every wording and part; a clinician's subject names a reference

    def __init__(self) -> None:
        super().__init__(base_class=_FoldedOnce)
        self._made: dict[str, type] = {}
        self._recurring: dict[tuple[str, str], BaseHeader] = {}

    def __getitem__(self, name: str) -> type:
        # The stock registry builds a new class with type() for every header set or read: a third of
        # the time spent building a message. The classes it builds for one name are all alike.
        key = name.lower()
        if key not in self._made:
            self._made[key] = super().__getitem__(name)
        return self._made[key]

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if not isinstance(value, str) or name.lower() not in self.RECURRING:
            return super().__call__(name, value)
        key = (name, value)
        header = self._recurring.get(key)
        if header is None:
            if len(self._recurring) >= self.MAX_RECURRING:
                self._recurring.clear()
            header = self._recurring[key] = super().__call__(name, value)
        return header


# email.policy.default with that registry: the same headers and the same bytes on the wire.
POLICY = default.clone(header_factory=_HeaderClasses())
# For a recipient whose address is not ASCII (RFC 6531): headers in UTF-8, not encoded words, which
# cannot carry an address.
POLICY_UTF8 = POLICY.clone(utf8=True)
# The same boundaries in every mail: the generator would otherwise draw one per mail, check it against the
# whole text with a regular expression compiled for it, and rewrite the Content-Type header to hold it.
# Every part is quoted-printable or base64, neither of which can hold "==" after a line's "--", so these
# lines never occur inside a part; the two differ before either ends, as nested boundaries must.
ALTERNATIVE_BOUNDARY = "===============clinic-alternative=="
MIXED_BOUNDARY = "===============clinic-mixed=="


class MailError(Exception):
    """A message could not be delivered: `code` is the SMTP server's reply code if it gave one, `reply` its
    words (which may echo the recipient's address) or what else went wrong."""

    def __init__(self, message: str, *, code: int | None = None, reply: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reply = message if reply is None else reply


class MailTemporaryError(MailError):
    """Worth retrying later: a 4xx reply, a refused or dropped connection, a timeout."""

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        code: int | None = None,
        reply: str | None = None,
    ) -> None:
        super().__init__(message, code=code, reply=reply)
        self.retry_after = retry_after


class MailPermanentError(MailError):
    """A retry would fail the same way: a 5xx reply, bad credentials, a TLS setup the server refuses."""


class SMTPUTF8NotOffered(MailPermanentError):
    """The recipient's address needs SMTPUTF8 (RFC 6531) and the server does not offer it.

    Permanent: only the hospital's mail team can change the relay (or turn CLINIC_MAIL_SMTPUTF8 off
    so that such addresses are refused at booking).
    """


class MailPartiallyRefused(MailPermanentError):
    """Some recipients were refused while the others got the message.

    Permanent because a retry would send a second copy to those who already have it.
    """

    def __init__(self, refused: Mapping[str, tuple[int, bytes]]) -> None:
        code, reply = next(iter(refused.values()))
        super().__init__(
            f"recipients refused: {', '.join(sorted(refused))}",
            code=code,
            reply=reply.decode(errors="replace"),
        )
        self.refused = dict(refused)


def make_message_id(key: str, domain: str) -> str:
    """A Message-ID that is the same for every send of the message with this idempotency key."""
    # Hashed because a key may hold characters a Message-ID cannot.
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def needs_smtputf8(address: str) -> bool:
    """Whether mail to `address` can only travel with SMTPUTF8: its local part or domain is not ASCII."""
    return not address.isascii()


# The characters that make a display name a quoted string (RFC 5322's specials). Python's email folds a
# long quoted name without its quotes (CPython gh-80222, fixed only in later patch releases), so commas and
# @ in a patient's name wrote extra addresses into the To header; as spaces, the name needs no quotes, and
# the mail's text still greets them by their name.
_QUOTED_SPECIALS = str.maketrans(dict.fromkeys('()<>@,:;."[]\\', " "))


def recipient_address(name: str, email: str) -> Address:
    """The To header's value: the name as a display name that needs no quotes, and the address; built
    from its parts because Address(addr_spec=...) refuses a local part that is not ASCII (RFC 6531)."""
    username, _, domain = email.rpartition("@")
    return Address(
        display_name=" ".join(name.translate(_QUOTED_SPECIALS).split()), username=username, domain=domain
    )


def build_message(
    *,
    sender: str,
    to: str | Address,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: datetime,
    invite: Invite | None = None,
) -> EmailMessage:
    """A multipart/alternative message: text/plain, text/html and, with an invite, text/calendar; an
    invite is also attached as invite.ics, the whole then wrapped in multipart/mixed."""
    address = to.addr_spec if isinstance(to, Address) else to
    message = EmailMessage(policy=POLICY_UTF8 if needs_smtputf8(address) else POLICY)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = date
    message["Message-ID"] = message_id
    # RFC 3834: keeps out-of-office robots from answering.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, cte="quoted-printable")
    message.make_alternative(boundary=ALTERNATIVE_BOUNDARY)
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    if invite is not None:
        # RFC 6047: the part's method must equal the METHOD inside, or clients show plain text only.
        # base64 keeps the invite's CRLF line folding byte for byte.
        message.add_alternative(
            invite.data,
            maintype="text",
            subtype="calendar",
            params={"method": str(invite.method), "charset": "utf-8"},
        )
        # For web mail that ignores the inline part; application/ics (as Google Calendar sends it), so a
        # client that reads both does not take it for a second invite.
        message.make_mixed(boundary=MIXED_BOUNDARY)
        message.add_attachment(invite.data, maintype="application", subtype="ics", filename="invite.ics")
    return message


class MailBackend(Protocol):
    """Delivers messages; one instance per worker thread."""

    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


@dataclass
class FileBackend:
    """Writes each message as an .eml file, named so that a listing sorts by sending time."""

    directory: Path

    def send(self, message: EmailMessage) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        token = hashlib.sha256(str(message.get("Message-ID", "")).encode()).hexdigest()[:8]
        path = self.directory / f"{stamp}-{token}.eml"
        partial = path.with_suffix(".part")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(message.as_bytes(policy=SMTPUTF8 if message.policy.utf8 else SMTP))
            # Renamed into place so that a reader never sees half a message.
            partial.replace(path)
        except OSError as error:
            # Not left behind: on a full disk, each retry's would take the room the next one needs.
            partial.unlink(missing_ok=True)
            raise MailTemporaryError(f"cannot write {path}: {error}") from error

    def close(self) -> None:
        """Nothing to release."""


@dataclass(eq=False)
class SMTPBackend:
    """Sends over SMTP, keeping one connection open between messages until `close()`."""

    host: str = "localhost"
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: str = "none"
    timeout: float = 10.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    _smtp: smtplib.SMTP | None = field(default=None, init=False, repr=False)
    _last_reply: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.tls not in SMTP_TLS_MODES:
            raise ValueError(f"SMTP_TLS must be one of {', '.join(SMTP_TLS_MODES)}, not {self.tls!r}")

    @classmethod
    def from_settings(cls, config: Mapping[str, Any]) -> "SMTPBackend":
        """The SMTP_* settings, as config.py read them (a port a number, the TLS mode in lower case)."""
        return cls(
            host=config["SMTP_HOST"],
            port=config["SMTP_PORT"],
            username=config["SMTP_USERNAME"] or None,
            password=config["SMTP_PASSWORD"] or None,
            tls=config["SMTP_TLS"],
            timeout=config["SMTP_TIMEOUT"],
        )

    def send(self, message: EmailMessage) -> None:
        """Send one message; raises MailTemporaryError or MailPermanentError."""
        try:
            connection = self._connection()
            if message.policy.utf8:  # the recipient's address is not ASCII: see build_message
                connection.ehlo_or_helo_if_needed()
                if not connection.has_extn("smtputf8"):
                    raise SMTPUTF8NotOffered(f"{self.host} does not offer SMTPUTF8, which the address needs")
            # send_message itself adds SMTPUTF8 and BODY=8BITMIME to MAIL FROM for such an address.
            refused = connection.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            raise _mail_error(error) from error
        self._last_reply = time.monotonic()
        # send_message raises only when every recipient is refused; a partial refusal is returned.
        if refused:
            raise MailPartiallyRefused(refused)

    def close(self) -> None:
        """Say goodbye to the server, if connected."""
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        self._drop()

    def __enter__(self) -> "SMTPBackend":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None and time.monotonic() - self._last_reply < FRESH_CONNECTION:
            return self._smtp
        if self._smtp is not None:
            # The server may have closed an idle connection; a NOOP is cheaper than a new session.
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()
        self._smtp = self.connect()
        return self._smtp

    def connect(self) -> smtplib.SMTP:
        """A new connection, secured and logged in as the settings say (the admin's test mail talks on it)."""
        if self.tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._ssl_context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.tls == "starttls":
                smtp.starttls(context=self._ssl_context())
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _ssl_context(self) -> ssl.SSLContext:
        # The default context verifies the certificate and the host name.
        return self.ssl_context or ssl.create_default_context()

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None


def mail_folder(instance_path: str | os.PathLike[str]) -> Path:
    """Where the file backend writes: <instance>/mail."""
    return Path(instance_path) / "mail"


def mail_backends(
    settings: Mapping[str, Any], instance_path: str | os.PathLike[str]
) -> Callable[[], MailBackend]:
    """What makes a new backend as MAIL_BACKEND says, "file" (under <instance>/mail) or "smtp": the
    settings are read now, once, so a worker that cannot use them stops as it starts."""
    name = settings["MAIL_BACKEND"]
    if name == "file":
        return functools.partial(FileBackend, mail_folder(instance_path))
    if name == "smtp":
        return functools.partial(dataclasses.replace, SMTPBackend.from_settings(settings))  # a fresh copy
    raise ValueError(f"MAIL_BACKEND must be 'file' or 'smtp', not {name!r}")


def mail_backend(settings: Mapping[str, Any], instance_path: str | os.PathLike[str]) -> MailBackend:
    """A backend as MAIL_BACKEND says (see `mail_backends`)."""
    return mail_backends(settings, instance_path)()


def _mail_error(error: smtplib.SMTPException | OSError) -> MailError:
    kind = MailPermanentError if _is_permanent(error) else MailTemporaryError
    said = _server_reply(error) or {"reply": str(error) or type(error).__name__}
    return kind(f"{type(error).__name__}: {error}", **said)


def _is_permanent(error: smtplib.SMTPException | OSError) -> bool:
    if isinstance(error, smtplib.SMTPAuthenticationError | smtplib.SMTPNotSupportedError):
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return not all(_is_temporary(code) for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return not _is_temporary(error.smtp_code)
    if isinstance(error, ssl.SSLCertVerificationError):
        return True
    if isinstance(error, smtplib.SMTPServerDisconnected | OSError):
        return False
    # Any other SMTPException is a client-side refusal, e.g. no AUTH mechanism in common.
    return True


def _server_reply(error: smtplib.SMTPException | OSError) -> dict[str, Any] | None:
    """The code and words of the server's refusal, if it answered (the first recipient's, for RCPT)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        code, words = next(iter(error.recipients.values()))
    elif isinstance(error, smtplib.SMTPResponseException):
        code, words = error.smtp_code, error.smtp_error
    else:
        return None
    return {"code": code, "reply": words.decode(errors="replace") if isinstance(words, bytes) else str(words)}


def _is_temporary(smtp_code: int) -> bool:
    return 400 <= smtp_code < 500
