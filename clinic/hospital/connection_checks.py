"""An admin's checks of the outside services the hospital is configured with: the video provider
(a real meeting made and cancelled; for one with no meeting API, Jitsi, what it can check of its server
and settings) and the mail server (a real message, with the server's replies).

Neither carries patient data: the meeting is for a stand-in consultation with the admin as its
clinician, the mail says only that it is a test. Each check is an audit event that names the outcome,
never the address typed.
"""

import secrets
import smtplib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..meetings.base import ProviderError, get_provider, is_probed, may_have_made, meeting_subject
from ..models.transactions import write_transaction
from ..notify.mail import FileBackend, SMTPBackend, mail_backend
from ..notify.mime import build_message, make_message_id, needs_smtputf8

TEST_MEETING_LENGTH = timedelta(minutes=15)


@dataclass(frozen=True)
class Organiser:
    """Who the test meeting is for: the admin who asked, as a clinician would be."""

    display_name: str
    email: str


@dataclass(frozen=True)
class StandInConsultation:
    """What a provider adapter reads of a consultation, and nothing about any patient."""

    uuid: str
    reference: str
    starts_at: datetime
    ends_at: datetime
    clinician: Organiser
    clinician_id: int = 0  # no clinician of the hospital's (ids start at 1): the admin stands in
    meetings_replaced: int = 0  # the check makes a first meeting, never one replacing another


@dataclass(frozen=True)
class ProviderCheck:
    provider: str
    create_ms: float | None = None
    cancel_ms: float | None = None
    error: str | None = None  # "ProviderAuthError (HTTP 401): ..." from the step that failed
    failed_step: str | None = None  # "create" or "cancel"
    meeting_id: str | None = None  # made but not cancelled: an admin removes it at the provider
    maybe_made: str | None = None  # the title of a meeting a create with no usable answer may have made
    probed: tuple[str, ...] = ()  # a provider with no meeting API (base.Probed): what its probe checked

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class MailCheck:
    backend: str
    accepted: bool = False
    dialogue: list[tuple[str, int | None, str]] = field(default_factory=list)  # (command, code, reply)
    error: str | None = None
    elapsed_ms: float = 0.0


def check_provider(
    session: Session,
    name: str,
    settings: Mapping[str, Any],
    *,
    now: datetime,
    actor: Actor,
    organiser: Organiser,
) -> ProviderCheck:
    """Make a meeting tomorrow with provider `name`, then cancel it; times each call; audited, commits."""
    result = _round_trip(name, settings, _stand_in(now, organiser))
    details = {"provider": name, "ok": result.ok, "failed_step": result.failed_step}
    _record(session, actor, "settings.provider_tested", name, now, details)
    return result


def check_mail(
    session: Session, to: str, settings: Mapping[str, Any], instance_path: str, *, now: datetime, actor: Actor
) -> MailCheck:
    """Send a test message to `to` through the configured backend, keeping the SMTP dialogue; audited."""
    message = _test_message(to, settings, now)
    started = time.perf_counter()
    backend = mail_backend(settings, instance_path)  # its settings were checked when the app started
    if isinstance(backend, SMTPBackend):
        result = _smtp_dialogue(backend, message, to)
    else:
        result = _file_delivery(backend, message)
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    last_code = next((code for _, code, _ in reversed(result.dialogue) if code is not None), None)
    details = {"backend": result.backend, "accepted": result.accepted, "last_reply_code": last_code}
    _record(session, actor, "settings.mail_tested", result.backend, now, details)
    return result


def _round_trip(name: str, settings: Mapping[str, Any], consultation: StandInConsultation) -> ProviderCheck:
    probed = is_probed(name)  # a meeting made there calls nothing, so proves nothing: probed instead
    try:
        provider = get_provider(name, settings)
        if probed:
            return ProviderCheck(name, probed=tuple(provider.probe(consultation)))
        started = time.perf_counter()
        meeting = provider.create(consultation)
        create_ms = (time.perf_counter() - started) * 1000
    except (ProviderError, ValueError) as error:  # ValueError: a setting the adapter cannot read
        if probed:
            return ProviderCheck(name, error=_described(error), failed_step="check")
        unheard = _made_unheard(error, consultation)
        return ProviderCheck(name, error=_described(error), failed_step="create", maybe_made=unheard)
    try:
        started = time.perf_counter()
        provider.cancel(consultation, meeting)
    except ProviderError as error:
        return ProviderCheck(
            name, create_ms, error=_described(error), failed_step="cancel", meeting_id=meeting.external_id
        )
    return ProviderCheck(name, create_ms, (time.perf_counter() - started) * 1000)


def _made_unheard(error: Exception, consultation: StandInConsultation) -> str | None:
    """The title of the test meeting a create that failed with `error` may have made all the same
    (meetings.base.may_have_made), for the admin to look for; None for a refusal, which made nothing."""
    return (
        meeting_subject(consultation) if isinstance(error, ProviderError) and may_have_made(error) else None
    )


def _smtp_dialogue(backend: SMTPBackend, message: EmailMessage, to: str) -> MailCheck:
    result = MailCheck("smtp")
    sender = parseaddr(message["From"])[1]
    options = ["SMTPUTF8", "BODY=8BITMIME"] if needs_smtputf8(to) else []
    try:
        smtp = backend.connect()
        try:
            smtp.ehlo_or_helo_if_needed()
            greeting = (smtp.ehlo_resp or smtp.helo_resp or b"").decode(errors="replace").splitlines()
            result.dialogue.append(("EHLO", None, greeting[0] if greeting else ""))
            for command, (code, reply) in _commands(smtp, sender, to, options, message):
                result.dialogue.append((command, code, reply.decode(errors="replace")))
                if not 200 <= code < 400:
                    break
            else:
                result.accepted = True
        finally:
            smtp.quit()
    except (smtplib.SMTPException, OSError) as error:
        result.error = f"{type(error).__name__}: {error}"
    return result


def _commands(smtp: smtplib.SMTP, sender: str, to: str, options: list[str], message: EmailMessage):
    """MAIL FROM, RCPT TO and DATA, each sent only while the one before was accepted."""
    yield "MAIL FROM", smtp.mail(sender, options)
    yield "RCPT TO", smtp.rcpt(to)
    yield "DATA", smtp.data(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))


def _file_delivery(backend: FileBackend, message: EmailMessage) -> MailCheck:
    result = MailCheck("file")
    try:
        backend.send(message)
    except OSError as error:
        result.error = f"{type(error).__name__}: {error}"
        return result
    result.accepted = True
    result.dialogue.append(("FILE", None, f"Written to {backend.directory} (the file backend sends nothing)"))
    return result


def _test_message(to: str, settings: Mapping[str, Any], now: datetime) -> EmailMessage:
    text = "This is a test message from the Clinic admin pages: the mail settings work. No reply is needed."
    return build_message(
        sender=settings["MAIL_FROM"],
        to=to,
        subject="Clinic test message",
        text=text,
        html=f"<p>{text}</p>",
        message_id=make_message_id(f"mail-check:{secrets.token_hex(8)}", settings["INVITE_DOMAIN"]),
        date=now,
    )


def _stand_in(now: datetime, organiser: Organiser) -> StandInConsultation:
    starts_at = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    return StandInConsultation(
        uuid=secrets.token_hex(16),
        reference=f"TEST-{secrets.token_hex(3).upper()}",
        starts_at=starts_at,
        ends_at=starts_at + TEST_MEETING_LENGTH,
        clinician=organiser,
    )


def _described(error: Exception) -> str:
    status = f" (HTTP {error.status})" if getattr(error, "status", None) is not None else ""
    return f"{type(error).__name__}{status}: {error}"


def _record(
    session: Session, actor: Actor, action: str, entity_id: str, now: datetime, details: dict
) -> None:
    with write_transaction(session):
        audit.record(
            session, actor, action, entity_type="setting", entity_id=entity_id, now=now, details=details
        )
