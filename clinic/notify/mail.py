"""The backends that deliver mails (built by `mime`): .eml files or SMTP, and their errors.

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
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from pathlib import Path
from typing import Any, Protocol

from config import SMTP_TLS_MODES

# A connection whose last reply is this recent is used without a NOOP first: messages sent back to
# back cost one round trip less. Should the server have closed it even so, the send fails as
# temporary before anything was accepted, and the message is retried.
FRESH_CONNECTION = 0.25


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
            if message.policy.utf8:  # the recipient's address is not ASCII: see mime.build_message
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
