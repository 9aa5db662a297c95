"""Driving the outbox in tests: the real worker, pointed at the fake SMTP server and providers, on a clock
the test moves.

`outbox.drain(until=...)` runs the worker, then jumps the clock to the next message that falls due and
runs it again, so an hour of backoff or a day until a reminder passes in an instant. Import the fixture
with `from tests.fakes.outbox import outbox` (it needs `smtp_server` and `fake_providers` imported too).
"""

from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from icalendar import Calendar, Event
from sqlalchemy import func, select

from clinic.extensions import db
from clinic.jobs.context import Context
from clinic.jobs.worker import Worker
from clinic.models import Consultation, OutboxKind, OutboxMessage, OutboxStatus, Service
from clinic.notify.mail import mail_backend

from .. import factories
from .providers import FakeProviders
from .smtp import FakeSMTPServer

# Jitsi with tokens, so the patient's join link and the clinician's host link differ.
JITSI = {"JITSI_APP_ID": "clinic-test", "JITSI_APP_SECRET": "jitsi-test-secret-of-at-least-32-bytes"}


class Clock:
    """A settable 'now' that the worker reads through `clock()`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


class OutboxDriver:
    def __init__(self, app: Flask, clock: Clock) -> None:
        self.app = app
        self.clock = clock

    def configure(self, **settings: Any) -> None:
        """Change settings for the next runs (e.g. MEETING_PROVIDER="zoom")."""
        self.app.config.update(settings)

    def worker(self) -> Worker:
        return Worker(self.app, clock=self.clock)

    def context(self) -> Context:
        """What a worker's effects use, for tests that run single messages by hand."""
        settings = self.worker().settings
        return Context(settings, mail_backend(settings.config, settings.instance_path), db.engine)

    def drain(self, *, until: datetime | None = None) -> int:
        """Run everything due now; with `until`, also everything falling due up to then. Returns runs."""
        ran = 0
        while True:
            db.session.commit()  # the test's own transaction must not hide the worker's writes
            ran += self.worker().tick()
            due = self.next_due()
            if until is None or due is None or due > until:
                return ran
            self.clock.now = due

    def next_due(self) -> datetime | None:
        """When the next pending message falls due; a tick has run everything due up to now."""
        db.session.commit()
        pending = (OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at > self.clock.now)
        return db.session.scalar(select(func.min(OutboxMessage.due_at)).where(*pending))

    def messages(self, consultation: Consultation | int, *kinds: OutboxKind) -> list[OutboxMessage]:
        """The consultation's outbox rows (of `kinds`, if given), oldest first, freshly read."""
        db.session.commit()
        consultation_id = consultation if isinstance(consultation, int) else consultation.id
        query = select(OutboxMessage).where(OutboxMessage.consultation_id == consultation_id)
        if kinds:
            query = query.where(OutboxMessage.kind.in_(kinds))
        query = query.order_by(OutboxMessage.id).execution_options(populate_existing=True)
        return list(db.session.scalars(query))

    def only(
        self, consultation: Consultation, kind: OutboxKind, audience: str | None = None
    ) -> OutboxMessage:
        rows = [m for m in self.messages(consultation, kind) if audience in (None, m.audience)]
        assert len(rows) == 1, rows
        return rows[0]

    def statuses(self, consultation: Consultation, *kinds: OutboxKind) -> list[OutboxStatus]:
        return [m.status for m in self.messages(consultation, *kinds)]

    def refreshed(self, consultation: Consultation) -> Consultation:
        db.session.commit()
        return db.session.get(Consultation, consultation.id, populate_existing=True)


@pytest.fixture
def outbox(
    app: Flask, now: datetime, smtp_server: FakeSMTPServer, fake_providers: FakeProviders
) -> Iterator[OutboxDriver]:
    """The worker wired to this test's SMTP server and provider fakes, on a clock starting at `now`."""
    app.config.update(smtp_server.settings(), **fake_providers.settings(), **JITSI)
    yield OutboxDriver(app, Clock(now))


def open_clinic(session, **service_fields: Any) -> Service:
    """A service (changes allowed up to the start) with one clinician, committed."""
    service = factories.service(session, **{"cancel_cutoff_minutes": 0, **service_fields})
    factories.clinician(session, [service])
    session.commit()
    return service


def invite(message: EmailMessage) -> tuple[str, Event]:
    """The METHOD and the VEVENT of a mail's text/calendar part."""
    part = message.get_body(("calendar",))
    assert part is not None, "no text/calendar part"
    calendar = Calendar.from_ical(part.get_content())
    assert part.get_param("method") == calendar["METHOD"]
    (event,) = calendar.walk("VEVENT")
    return str(calendar["METHOD"]), event


def last_invite(mails: list[EmailMessage]) -> tuple[str, Event]:
    """The METHOD and the VEVENT of the newest of `mails` that carries an invite: a test that runs the
    worker ahead of the wall clock can meet a reminder, which carries none, after it."""
    return invite([mail for mail in mails if mail.get_body(("calendar",)) is not None][-1])


def text(message: EmailMessage) -> str:
    """The decoded text of every part of a mail (the attached invite.ics too), headers included."""
    parts = [str(value) for value in message.values()]
    parts += [part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart()]
    return "\n".join(parts)
