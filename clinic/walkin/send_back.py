"""Sending a called caller back to the queue: by the worker's rounds (walkin.rounds) and by staff from
the call's page.

A caller who did not join their call in time goes back to the front once and is dropped the second
time. One who joined a call that nobody started did nothing wrong: they go back without that counting
against them; so does one left in a call whose clinician vanished (browser closed, machine crashed, signed
out, account deactivated), once no sign-in of the clinician's is live (staff.sessions.live, the rule that
signs staff in: none signed out, past its lifetime, idle for STAFF_IDLE_MINUTES or of an account no longer
active): the call has stalled. A clinician quiet in a long call is not gone while the app would still
keep them signed in; the idle warning asks them first. Staff may send such a caller back at once; the
worker's round does once the call has stalled for the caller's time to answer (`stalled_for`). Either way
the call was not held, so it is called off (cancelled, never "Done"). Those sent back wait ahead of
everyone else, in the order they first joined.
"""

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Exists, func, select
from sqlalchemy.orm import Session

from ..audit import Actor
from ..models import (
    Consultation,
    ConsultationStatus,
    EntryStatus,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    StaffSession,
    StaffUser,
    WalkInEntry,
)
from ..models.transactions import write_transaction
from ..scheduling.errors import NotFound
from ..scheduling.listing import Listed
from ..scheduling.visibility import consultation_for_staff
from ..staff.members import StaffMember
from ..staff.sessions import SessionRules, live
from .errors import SendBackRefused
from .queue import abandon_call, end, record_entry_event


class SentBack(enum.StrEnum):
    """Why a caller waiting again was sent back: what their page and their call's page tell."""

    NOT_ANSWERED = "not-answered"  # called, they did not join in time
    NOT_STARTED = "not-started"  # they joined the call, but nobody started it
    CLINICIAN_GONE = "clinician-gone"  # they were in the call, but its clinician vanished from it


class CallStage(enum.StrEnum):
    """Where a walk-in call stands for the staff on its page, until its caller is taken again."""

    CALLED = "called"  # their page shows the join button; they have not pressed it
    JOINED = "joined"  # they are in the call, and nobody has started it
    NOT_JOINED = "not-joined"  # its clinician started it; they have not joined
    UNDER_WAY = "under-way"  # both are in it: its clinician finishes it
    STALLED = "stalled"  # both were in it, but its clinician has shown no sign for a while: gone
    SENT_BACK = "sent-back"  # not held: the caller waits in the queue again
    DROPPED = "dropped"  # not held: called twice without joining, they are out of the queue
    LEFT = "left"  # not held: they left the queue
    ENDED = "ended"  # finished, or the caller was closed out with the queue


@dataclass(frozen=True)
class WalkInCall:
    """A walk-in call as its page shows it to one staff member."""

    stage: CallStage
    until: datetime | None  # when the worker sends the caller back, unless someone acts first
    clinician_seen: datetime | None  # a stalled call's clinician's last sign in the app (None: none at all)
    why: SentBack | None  # for a caller sent back
    may_send_back: bool  # this staff member may send the caller back now
    drops: bool  # sending them back takes them out of the queue: a second call they did not join


def why_sent_back(entry: WalkInEntry) -> SentBack | None:
    """Why the waiting caller is back in the queue; None unless they wait again after being called."""
    call = entry.consultation
    if entry.status is not EntryStatus.WAITING or call is None:
        return None
    return _why(_answered(entry, call), call)


def _why(answered: bool, call: Consultation) -> SentBack:
    if not answered:
        return SentBack.NOT_ANSWERED
    # A call they joined that was started too was under way: only its clinician vanishing ends it so.
    return SentBack.NOT_STARTED if call.started_at is None else SentBack.CLINICIAN_GONE


def send_back(session: Session, entry: WalkInEntry, now: datetime, actor: Actor) -> None:
    """Send the called caller back, their call called off: to the front of the queue, or out of it (dropped)
    after a second call they did not join. Their row and their call's are locked by the caller, who has
    checked that the call was not held: one under way only once it stalled (its clinician gone)."""
    answered = entry.status is EntryStatus.IN_CALL
    call = entry.consultation
    stalled = answered and call.status is ConsultationStatus.IN_PROGRESS  # under way, yet not held
    missed = not answered and _could_join(call)
    abandon_call(session, entry, now, actor, stalled=stalled)
    if missed and entry.requeued:
        end(session, entry, EntryStatus.DROPPED, now, actor)
        return
    entry.position = _front_position(session, entry)
    entry.status, entry.requeued = EntryStatus.WAITING, entry.requeued or missed
    entry.taken_at = entry.taken_by = None
    why = _why(answered, call)
    record_entry_event(session, entry, "walk_in.requeued", now, actor, why=why.value)


def send_back_for_staff(
    session: Session, consultation_id: int, staff: StaffMember, *, now: datetime, rules: SessionRules
) -> WalkInEntry:
    """Send back the caller of a walk-in call `staff` may see (NotFound otherwise), if `staff_refusal`
    allows: else SendBackRefused, and nothing changes."""
    consultation_for_staff(session, staff, consultation_id)
    with write_transaction(session):
        entry = session.scalar(
            select(WalkInEntry)
            .where(WalkInEntry.consultation_id == consultation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if entry is None:
            raise NotFound("No such walk-in call.")
        call = session.get(Consultation, consultation_id, with_for_update=True, populate_existing=True)
        if (refused := staff_refusal(entry, call, staff, _gone(session, call, now, rules))) is not None:
            raise SendBackRefused(refused)
        send_back(session, entry, now, staff.actor)
    return entry


def staff_refusal(entry: WalkInEntry, call: Consultation, staff: StaffMember, gone: bool) -> str | None:
    """Why `staff`, who may see the call, may not send its caller back now; None if they may (see
    `_refusal`); `gone`: its clinician vanished from it (see _gone)."""
    return _refusal(_stage(entry.status, call.status, gone), staff.is_clinician_of(call))


def _refusal(stage: CallStage, own: bool) -> str | None:
    """Why staff may not send back the caller of a call at `stage` (`own`: they are its clinician); None if
    they may. Anyone who sees it may, once the caller joined a call nobody started, or one that stalled;
    only its clinician, when they started it and the caller has not joined (others would take the caller
    from under them)."""
    if stage in _ANYONE_SENDS_BACK or (stage is CallStage.NOT_JOINED and own):
        return None
    return _REFUSALS.get(stage, "This caller is no longer waiting for this call.")


_ANYONE_SENDS_BACK = (CallStage.JOINED, CallStage.STALLED)
_REFUSALS = {
    CallStage.CALLED: "They have just been called: if they do not join in time, they go back to the queue.",
    CallStage.NOT_JOINED: "Their clinician started the call and is waiting for them.",
    CallStage.UNDER_WAY: "The call is under way: its clinician finishes it.",
}


def walk_in_call(
    session: Session,
    entry: WalkInEntry,
    call: Consultation,
    staff: StaffMember,
    *,
    now: datetime,
    answer_within: timedelta,
    rules: SessionRules,
) -> WalkInCall:
    """The walk-in call `call` of the caller `entry` (their latest call), as `staff` sees it at `now`;
    `rules`: the staff sessions', by which a clinician is signed in or gone."""
    gone = _gone(session, call, now, rules)
    stage = _stage(entry.status, call.status, gone)
    until = _acts_at(session, stage, entry, call, answer_within)
    why = why_sent_back(entry) if stage is CallStage.SENT_BACK else None
    may = staff_refusal(entry, call, staff, gone) is None
    drops = stage is CallStage.NOT_JOINED and entry.requeued and _could_join(call)
    seen = clinician_last_seen(session, call) if gone else None
    return WalkInCall(stage, until, seen, why, may, drops)


def clinician_last_seen(session: Session, call: Consultation) -> datetime | None:
    """The last sign in the app of the call's clinician: the last request of any sign-in of theirs that
    counted as activity (staff_session.last_seen_at; the notes' keep-alive too, not a page's polling)."""
    return session.scalar(
        select(func.max(StaffSession.last_seen_at))
        .join(StaffUser, StaffUser.id == StaffSession.staff_user_id)
        .where(StaffUser.clinician_id == call.clinician_id)
    )


def stalled_calls(
    session: Session, calls: Iterable[Listed], staff: StaffMember, *, now: datetime, rules: SessionRules
) -> dict[int, bool]:
    """The walk-in calls among `calls` (a day's listing) that have stalled at `now` (CallStage.STALLED:
    `_stage`, with `_gone` for each), by id, each with whether `staff` may send its caller back now: in one
    statement for them all, and none when no call is in progress (only a call under way stalls)."""
    in_progress = {call.id: call for call in calls if call.status is ConsultationStatus.IN_PROGRESS}
    if not in_progress:
        return {}
    rows = session.execute(
        select(
            Consultation.id,
            Consultation.status,
            Consultation.started_at,
            WalkInEntry.status,
            _live_sign_in(Consultation.clinician_id, now, rules),
        )
        .join(WalkInEntry, WalkInEntry.consultation_id == Consultation.id)  # the caller's latest call
        .where(Consultation.id.in_(in_progress))
    )
    stalled = {}
    for call_id, status, started_at, entry_status, signed_in in rows:
        stage = _stage(entry_status, status, _under_way(status, started_at) and not signed_in)
        if stage is CallStage.STALLED:
            stalled[call_id] = _refusal(stage, staff.is_clinician_of(in_progress[call_id])) is None
    return stalled


def _gone(session: Session, call: Consultation, now: datetime, rules: SessionRules) -> bool:
    """Whether the clinician of `call`, if started, has vanished from it: no sign-in of theirs is live at
    `now` (see _live_sign_in). A clinician still signed in is never gone."""
    if not _under_way(call.status, call.started_at):
        return False
    return not session.scalar(select(_live_sign_in(call.clinician_id, now, rules)))


def _under_way(status: ConsultationStatus, started_at: datetime | None) -> bool:
    """Whether a call has been started and not ended: only then may its clinician vanish from it."""
    return status is ConsultationStatus.IN_PROGRESS and started_at is not None


def stalled_for(now: datetime, grace: timedelta, rules: SessionRules) -> ColumnElement[bool]:
    """Whether a walk-in call has stalled (CallStage.STALLED: its caller in it, under way, its clinician gone,
    see _gone) and stayed so for `grace` up to `now`: no sign-in of its clinician was live at any moment of
    it. In SQL over `walk_in_entry` joined with its call's `consultation`, for the worker's round."""
    return (
        (WalkInEntry.status == EntryStatus.IN_CALL)
        & (Consultation.status == ConsultationStatus.IN_PROGRESS)
        & Consultation.started_at.is_not(None)
        & ~_live_sign_in(Consultation.clinician_id, now, rules, since=now - grace)
    )


def _acts_at(
    session: Session, stage: CallStage, entry: WalkInEntry, call: Consultation, answer_within: timedelta
) -> datetime | None:
    """When the round acts on the call at `stage`, if it will: the link's time looked up only for a call
    not yet answered."""
    if stage is CallStage.CALLED and entry.taken_at:
        return (session.scalar(select(link_made_at(call.id))) or entry.taken_at) + answer_within
    if stage is CallStage.JOINED and entry.answered_at:
        return entry.answered_at + answer_within
    return call.ends_at if stage is CallStage.NOT_JOINED else None


def link_made_at(consultation_id: int | ColumnElement[int]) -> ColumnElement[datetime | None]:
    """When the worker made the link of the walk-in call `consultation_id` (a value, or a column of the
    statement it is in), or NULL while it has not: its caller's page shows the join button only then, and a
    backlog ahead of its message may hold it for minutes, so their time to join begins then, not at the take
    (a call whose link never came does not count against them: `_could_join`)."""
    return (
        select(func.max(OutboxMessage.done_at))
        .where(
            OutboxMessage.consultation_id == consultation_id,
            OutboxMessage.kind == OutboxKind.MEETING_CREATE,
            OutboxMessage.status == OutboxStatus.DONE,
        )
        .scalar_subquery()
    )


def _live_sign_in(
    clinician_id: int | ColumnElement[int], now: datetime, rules: SessionRules, since: datetime | None = None
) -> Exists:
    """Whether the clinician has a sign-in live at `now` (or at any moment `since` then), by the rule that
    signs staff in (staff.sessions.live); `clinician_id` a value, or a column of the statement it is in."""
    return (
        select(StaffSession.id)
        .join(StaffUser, StaffUser.id == StaffSession.staff_user_id)
        .where(StaffUser.clinician_id == clinician_id, live(now, rules, since=since))
        .exists()
    )


def _stage(entry_status: EntryStatus, call_status: ConsultationStatus, gone: bool = False) -> CallStage:
    """The stage of a caller's latest call by their entry's status and the call's (once the caller is
    taken again, the earlier call's history tells); `gone`: its clinician vanished from it (see _gone)."""
    if entry_status in (EntryStatus.TAKEN, EntryStatus.IN_CALL) and call_status in _OPEN:
        answered, started = entry_status is EntryStatus.IN_CALL, call_status is ConsultationStatus.IN_PROGRESS
        if answered and started and gone:
            return CallStage.STALLED
        return _OPEN_STAGES[answered, started]
    return _ENDED_STAGES.get(entry_status, CallStage.ENDED)


_OPEN = (ConsultationStatus.ARRIVED, ConsultationStatus.IN_PROGRESS)
# By (the caller joined, the clinician started it).
_OPEN_STAGES = {
    (False, False): CallStage.CALLED,
    (True, False): CallStage.JOINED,
    (False, True): CallStage.NOT_JOINED,
    (True, True): CallStage.UNDER_WAY,
}
_ENDED_STAGES = {
    EntryStatus.WAITING: CallStage.SENT_BACK,
    EntryStatus.DROPPED: CallStage.DROPPED,
    EntryStatus.LEFT: CallStage.LEFT,
}


def _answered(entry: WalkInEntry, call: Consultation) -> bool:
    """Whether the caller pressed join for `call` (their latest): answering stamps the entry once a call."""
    return entry.answered_at is not None and entry.answered_at >= call.starts_at


def _front_position(session: Session, entry: WalkInEntry) -> int:
    """Where a caller sent back waits: at the position those sent back before share, ahead of everyone
    else waiting, so that among them the order they joined in (their ids) decides."""
    others = (
        WalkInEntry.queue_id == entry.queue_id,
        WalkInEntry.status == EntryStatus.WAITING,
        WalkInEntry.id != entry.id,
    )
    sent_back = session.scalar(
        select(func.min(WalkInEntry.position)).where(*others, WalkInEntry.consultation_id.is_not(None))
    )
    if sent_back is not None:
        return sent_back
    front = session.scalar(select(func.min(WalkInEntry.position)).where(*others))
    return entry.position if front is None else min(front, entry.position) - 1


def _could_join(call: Consultation) -> bool:
    """Whether the caller was shown a way into `call`: not joining counts against them only then, and a link
    never made showed no join button."""
    return call.meeting_join_url is not None
