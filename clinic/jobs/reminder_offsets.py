"""Reminders follow REMINDER_OFFSETS as it stands, for consultations booked before a change too.

A booking's reminders are outbox rows, planned once with the offsets of the day (outbox.plan_reminders).
A worker started with other offsets brings every consultation yet to start into step with its own before
it sends anything: pending reminders at offsets removed are cancelled (OFFSET_REMOVED), and those at new
offsets planned as if they had been in force when the booking's were. So one whose time passed while no
worker ran goes out late, as any reminder does after downtime, and gives way to one nearer the start that
is due too (effects._reminded_nearer). None is planned for a time before a reminder the recipient has
been sent: they were reminded since. A reminder keeps its key whatever the offsets do, so none is sent
twice; an offset removed and then restored makes its reminder pending again.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..models import Companion, Consultation, ConsultationStatus, OutboxKind, OutboxMessage, OutboxStatus
from ..models.transactions import write_transaction
from ..notify.notices import Audience
from .outbox import add_reminders, drop_removed_reminders, reminded, unplanned_reminders

# Consultations read at once while looking for those out of step.
BATCH = 500

# A consultation whose reminders were planned, its booking's plan message, and its reminders by key.
Planned = tuple[Consultation, OutboxMessage, dict[str, OutboxMessage]]


def follow_offsets(session: Session, offsets: Sequence[timedelta], now: datetime) -> int:
    """Bring the reminders of every consultation yet to start into step with `offsets`; how many changed.
    Each out of step is changed in a transaction of its own, its row locked as its plan message locks it,
    so that workers starting together change each once."""
    out_of_step, after = [], 0
    while batch := _planned(session, now, after=after):
        out_of_step += [planned[0].id for planned in batch if _out_of_step(planned, offsets)]
        after = batch[-1][0].id
    for consultation_id in out_of_step:
        with write_transaction(session):
            session.get(Consultation, consultation_id, with_for_update=True, populate_existing=True)
            for consultation, plan, reminders in _planned(session, now, only=consultation_id):
                drop_removed_reminders(session, consultation, offsets, now)
                add_reminders(session, consultation, offsets, _recipients(consultation, plan, reminders), now)
    return len(out_of_step)


def _planned(session: Session, now: datetime, *, after: int = 0, only: int | None = None) -> list[Planned]:
    """Up to BATCH consultations yet to start, of ids above `after` (or the one `only`), whose reminders
    were planned at their present time: a plan still waiting will plan with the offsets in force."""
    plan = OutboxMessage
    query = (
        select(Consultation, plan)
        .join(plan, plan.consultation_id == Consultation.id)
        .where(
            Consultation.status != ConsultationStatus.CANCELLED,
            Consultation.starts_at > now,
            Consultation.id > after if only is None else Consultation.id == only,
            plan.kind == OutboxKind.PLAN_REMINDERS,
            plan.status == OutboxStatus.DONE,
            plan.payload["sequence"].as_integer() == Consultation.invite_sequence,
            plan.payload["companion_id"].as_integer().is_(None),  # the booking's, not a companion's
        )
        .order_by(Consultation.id)
        .limit(BATCH)
        .options(selectinload(Consultation.patient), selectinload(Consultation.companions))
    )
    rows = session.execute(query).all()
    reminders: dict[int, dict[str, OutboxMessage]] = {consultation.id: {} for consultation, _ in rows}
    listed = select(OutboxMessage).where(
        OutboxMessage.consultation_id.in_(reminders), OutboxMessage.kind == OutboxKind.REMINDER
    )
    for message in session.scalars(listed) if reminders else ():
        reminders[message.consultation_id][message.idempotency_key] = message
    return [(consultation, plan, reminders[consultation.id]) for consultation, plan in rows]


def _out_of_step(planned: Planned, offsets: Sequence[timedelta]) -> bool:
    """Whether a pending reminder is at an offset removed, or an offset in force lacks its reminder."""
    consultation, plan, reminders = planned
    in_force = {int(offset.total_seconds()) for offset in offsets}
    removed = any(
        m.status is OutboxStatus.PENDING and m.payload["offset_seconds"] not in in_force
        for m in reminders.values()
    )
    recipients = _recipients(consultation, plan, reminders)
    return removed or bool(unplanned_reminders(consultation, offsets, recipients, reminders))


def _recipients(
    consultation: Consultation, plan: OutboxMessage, reminders: Mapping[str, OutboxMessage]
) -> list[tuple[Audience, Companion | None, datetime]]:
    """Each one reminded, with the time from which their reminders are planned: the booking's plan, or the
    companion's invitation if later, or the last reminder they were sent at this time, if later still."""
    recipients = []
    for audience, companion in reminded(consultation):
        invited = plan.created_at if companion is None else max(plan.created_at, companion.created_at)
        sent = [m.done_at for m in reminders.values() if _sent_to(m, consultation, audience, companion)]
        recipients.append((audience, companion, max([invited, *filter(None, sent)])))
    return recipients


def _sent_to(
    message: OutboxMessage, consultation: Consultation, audience: Audience, companion: Companion | None
) -> bool:
    """Whether the reminder went out to this recipient for the consultation's present time."""
    return (
        message.status is OutboxStatus.DONE
        and message.outcome is None
        and message.audience == audience
        and message.payload.get("companion_id") == (companion.id if companion else None)
        and message.payload["sequence"] == consultation.invite_sequence
    )
