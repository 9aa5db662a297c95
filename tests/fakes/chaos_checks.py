"""What a chaos run of the outbox must leave behind, checked against what the run did (the `Ledger`).

Every patient and clinician mailbox at the SMTP sink holds, per consultation, one invite per change
in the order of the changes (REQUEST for the booking and each move, CANCEL last if cancelled, one UID,
SEQUENCE rising); the provider holds one live meeting per active consultation, at its time, and none
for a cancelled one; the outbox is drained, with no dead letters and the reminders of the current time
planned. Shared by `bench/outbox_chaos.py` and `tests/test_outbox_chaos.py`.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from icalendar import Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic.links import consultation_page_url
from clinic.meetings.base import format_utc, host_links_expire
from clinic.models import Consultation, OutboxKind, OutboxMessage, OutboxStatus
from clinic.notify.ics import Method

from .outbox import invite
from .providers import FakeProviders, LiveMeeting
from .smtp import Received

EXAMPLES = 5  # problems listed per check; the counts say how many there are in all

Invite = tuple[str, int]  # (METHOD, SEQUENCE)


@dataclass
class Expected:
    """One consultation as the run changed it: the invites each side must get, and where it ended."""

    uuid: str
    reference: str
    mailboxes: tuple[str, str]  # patient, clinician
    invites: list[Invite]
    starts_at: datetime
    cancelled: bool = False


class Ledger:
    """What the run did, recorded from the booking service's answers as it went."""

    def __init__(self) -> None:
        self.consultations: dict[str, Expected] = {}
        self.changes: Counter[str] = Counter()

    def booked(self, consultation: Consultation) -> None:
        mailboxes = (consultation.patient.email, consultation.clinician.email)
        self.consultations[consultation.uuid] = Expected(
            consultation.uuid, consultation.reference, mailboxes, [], consultation.starts_at
        )
        self._record("bookings", consultation, Method.REQUEST)

    def rescheduled(self, consultation: Consultation) -> None:
        self.consultations[consultation.uuid].starts_at = consultation.starts_at
        self._record("reschedules", consultation, Method.REQUEST)

    def cancelled(self, consultation: Consultation) -> None:
        self.consultations[consultation.uuid].cancelled = True
        self._record("cancellations", consultation, Method.CANCEL)

    def live(self) -> list[str]:
        """The uuids of consultations not cancelled, in booking order."""
        return [uuid for uuid, expected in self.consultations.items() if not expected.cancelled]

    def held_by(self, email: str, *, moving: str | None = None) -> list[datetime]:
        """When the patient at `email` is booked, leaving out the consultation `moving`."""
        return [
            expected.starts_at
            for uuid in self.live()
            if (expected := self.consultations[uuid]).mailboxes[0] == email and uuid != moving
        ]

    def _record(self, change: str, consultation: Consultation, method: Method) -> None:
        self.changes[change] += 1
        self.consultations[consultation.uuid].invites.append((str(method), consultation.invite_sequence))


@dataclass
class Findings:
    """Figures to print, in order, and the problems that fail the run."""

    figures: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def count(self, name: str, examples: Sequence[str]) -> None:
        """Record a check's count under `name`; any example is a problem."""
        self.figures[name] = len(examples)
        self.problems += [f"{name}: {example}" for example in examples[:EXAMPLES]]
        if len(examples) > EXAMPLES:
            self.problems.append(f"{name}: … {len(examples) - EXAMPLES} more")

    def report(self) -> str:
        lines = [f"{name:<44} {value}" for name, value in self.figures.items()]
        verdict = "all checks passed" if self.ok else f"{len(self.problems)} problem(s):"
        return "\n".join([*lines, verdict, *(f"  {problem}" for problem in self.problems)])


@dataclass(frozen=True)
class Delivered:
    """One invite as a mailbox received it."""

    method: str
    sequence: int
    starts_at: datetime
    link: str | None


def check_all(
    session: Session,
    ledger: Ledger,
    mail: Iterable[Received],
    providers: FakeProviders,
    provider: str,
    reminder_offsets: Sequence[timedelta],
) -> Findings:
    """Run every check of the module; the session reads the database after the outbox has drained."""
    findings = Findings()
    findings.figures.update(ledger.changes)
    rows = {
        c.uuid: c
        for c in session.scalars(select(Consultation).where(Consultation.uuid.in_(ledger.consultations)))
    }
    check_mailboxes(findings, ledger, rows, mail)
    check_meetings(findings, ledger, rows, providers.live_meetings(provider), provider)
    check_outbox(findings, session, ledger, rows, reminder_offsets)
    return findings


def check_mailboxes(
    findings: Findings, ledger: Ledger, rows: dict[str, Consultation], mail: Iterable[Received]
) -> None:
    """One invite per change per mailbox, in order, none twice; the last one at the final time and link. A
    cancelled consultation's invites still waiting when it was cancelled are not sent: its mailboxes get
    those sent before, in order, then the CANCEL."""
    boxes, plain, malformed = _sort_mail(mail)
    delivered = sum(len(box) for box in boxes.values()) + len(plain)
    duplicates, missing, unexpected, disorder, final, expected = [], [], [], [], [], 0
    for uuid, want in ledger.consultations.items():
        for address in want.mailboxes:
            have = boxes.pop((address, uuid), [])
            got = [(d.method, d.sequence) for d in have]
            required = want.invites
            if want.cancelled:
                sent_before = len(set(got) & set(want.invites[:-1]))
                required = want.invites[:sent_before] + want.invites[-1:]
            expected += len(required)
            label = f"{want.reference} to {address}: expected {required}, got {got}"
            duplicates += [label] * (len(got) - len(set(got)))
            missing += [label] * len(set(required) - set(got))
            unexpected += [label] * len(set(got) - set(want.invites))
            if set(got) == set(required) and list(dict.fromkeys(got)) != required:
                disorder.append(label)
            if have and not want.cancelled and not _is_final(have[-1], want, rows[uuid], address):
                final.append(f"{want.reference} to {address}: last invite {have[-1]}")
    unexpected += [f"{address}: {have} for unknown UID {uuid}" for (address, uuid), have in boxes.items()]
    findings.figures["mails expected"], findings.figures["mails delivered"] = expected, delivered
    findings.count("mails duplicated", duplicates)
    findings.count("mails missing", missing)
    findings.count("mails unexpected", unexpected)
    findings.count("mailboxes out of order", disorder)
    findings.count("last invite not at the final time and link", final)
    findings.count("invites whose MIME method ≠ METHOD", malformed)
    findings.count("reminders sent (none falls due in a run)", plain)


def check_meetings(
    findings: Findings,
    ledger: Ledger,
    rows: dict[str, Consultation],
    live: Iterable[LiveMeeting],
    provider: str,
) -> None:
    """One live meeting at the provider per active consultation, at its time; none once cancelled."""
    by_reference = defaultdict(list)
    for meeting in live:
        by_reference[meeting.subject.rsplit(" ", 1)[-1]].append(meeting)
    per_active: Counter[int] = Counter()
    per_cancelled: Counter[int] = Counter()
    wrong, orphans, left_live = [], [], []
    for uuid, want in ledger.consultations.items():
        row, meetings = rows[uuid], by_reference.pop(want.reference, [])
        (per_cancelled if want.cancelled else per_active)[len(meetings)] += 1
        if want.cancelled:
            left_live += [f"{want.reference}: {m}" for m in meetings]
        elif row.meeting_provider != provider:  # a fallback: the provider should hold nothing
            orphans += [f"{want.reference} ({row.meeting_provider}): {m}" for m in meetings]
        elif [(m.external_id, m.starts_at) for m in meetings] != [
            (row.meeting_external_id, format_utc(row.starts_at))
        ]:
            wrong.append(f"{want.reference}: {meetings} for {row.meeting_external_id} at {row.starts_at}")
    orphans += [f"{reference}: {m}" for reference, ms in by_reference.items() for m in ms]
    findings.figures[f"{provider} meetings per active consultation"] = _histogram(per_active)
    findings.figures[f"{provider} meetings per cancelled consultation"] = _histogram(per_cancelled)
    findings.count("active consultations without exactly their meeting", wrong)
    findings.count("orphaned meetings (left by a fallback)", orphans)
    findings.count("meetings left live after cancelling", left_live)


def check_outbox(
    findings: Findings,
    session: Session,
    ledger: Ledger,
    rows: dict[str, Consultation],
    offsets: Sequence[timedelta],
) -> None:
    """Drained, no dead letters, fallbacks counted, and exactly the reminders of the current time planned."""
    messages = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    uuid_of = {row.id: uuid for uuid, row in rows.items()}
    unfinished = [
        f"{m.id} {m.kind} {m.status}"
        for m in messages
        if m.status in (OutboxStatus.PENDING, OutboxStatus.RUNNING) and m.kind is not OutboxKind.REMINDER
    ]
    dead = [
        f"{m.id} {m.kind} {m.audience or ''} after {m.attempts} attempts: {m.last_error}"
        for m in messages
        if m.status is OutboxStatus.DEAD
    ]
    fallbacks = Counter(m.outcome for m in messages if (m.outcome or "").startswith("fallback:"))
    findings.figures["outbox messages"] = _histogram(Counter(str(m.status) for m in messages))
    findings.figures["provider fallbacks"] = _histogram(fallbacks) or 0
    findings.count("outbox messages unfinished", unfinished)
    findings.count("dead letters", dead)
    reminders = defaultdict(list)
    for m in messages:
        if m.kind is OutboxKind.REMINDER and m.status is OutboxStatus.PENDING:
            reminders[uuid_of[m.consultation_id]].append((m.payload["sequence"], m.due_at))
    wrong = []
    for uuid, want in ledger.consultations.items():
        row = rows[uuid]
        planned = [] if want.cancelled else [(row.invite_sequence, row.starts_at - o) for o in offsets]
        if sorted(reminders[uuid]) != sorted(planned):
            wrong.append(f"{want.reference}: planned {reminders[uuid]}, expected {planned}")
    findings.count("consultations with wrong reminders pending", wrong)


def _sort_mail(
    mail: Iterable[Received],
) -> tuple[dict[tuple[str, str], list[Delivered]], list[str], list[str]]:
    """Invites per (recipient, consultation uuid) in arrival order; mails without one; malformed ones."""
    boxes: dict[tuple[str, str], list[Delivered]] = defaultdict(list)
    plain, malformed = [], []
    for received in mail:
        message = received.message
        if message.get_body(("calendar",)) is None:
            plain += [f"{address}: {message['Subject']}" for address in received.rcpt_tos]
            continue
        try:
            method, event = invite(message)
        except AssertionError:
            malformed.append(str(message["Message-ID"]))
            continue
        for address in received.rcpt_tos:
            boxes[(address, _uuid(event))].append(_delivered(method, event))
    return boxes, plain, malformed


def _delivered(method: str, event: Event) -> Delivered:
    link = event.get("URL")
    return Delivered(
        method, int(event["SEQUENCE"]), event.decoded("DTSTART").astimezone(UTC), link and str(link)
    )


def _uuid(event: Event) -> str:
    return str(event["UID"]).split("@", 1)[0]


def _is_final(last: Delivered, want: Expected, row: Consultation, address: str) -> bool:
    if address == want.mailboxes[0]:
        linked = last.link == row.meeting_join_url
    elif host_links_expire(row.meeting_provider):  # Zoom's: the clinician is sent to the call's page
        linked = bool(last.link) and last.link.endswith(consultation_page_url("", row.id))
    else:
        linked = last.link == row.meeting_host_url
    return (last.method, last.sequence) == want.invites[-1] and last.starts_at == want.starts_at and linked


def _histogram(counts: Counter) -> str:
    return ", ".join(f"{key}: {n}" for key, n in sorted(counts.items()))
