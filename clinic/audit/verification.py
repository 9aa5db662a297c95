"""Verifying the chain: every event in id order, its place, link, hash version and hash under the key
it names, the events of keys declared lost within their bounds, then the chain's end against the anchor."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..keys import same_secret
from ..models import AuditEvent
from ..models.transactions import write_transaction
from .anchor import Anchor, read_anchor
from .chain import record
from .events import Actor
from .handovers import KEY_DECLARED_LOST, KEY_ROTATED
from .hashing import FIELDS, GENESIS, KEY_ID_SIGNED, KEYED, UNKEYED, event_hash
from .settings import AuditSettings, settings_for

CHECKED = "audit.checked"


@dataclass(frozen=True)
class Break:
    """The first thing wrong with the chain: the event at fault (None for the anchor) and what."""

    event_id: int | None
    problem: str

    def __str__(self) -> str:
        return self.problem if self.event_id is None else f"event {self.event_id}: {self.problem}"


@dataclass(frozen=True)
class LostKeyEvents:
    """Events signed by a key declared lost: linked in order, but their hashes cannot be checked."""

    key_id: str
    first_id: int
    last_id: int
    declared_at: int | None  # the verified handover after them; None until the next append
    handover: str = KEY_DECLARED_LOST  # its action: audit.key_declared_lost, or audit.key_rotated
    development: bool = False  # a development key, lost with the secret key it was derived from


@dataclass(frozen=True)
class Verified:
    """Every event verified, but those of `lost`: intact, or with `lost` intact with a declared break."""

    count: int
    head_id: int | None
    anchor: Anchor | None
    head_at: datetime | None  # when the last event happened
    lost: tuple[LostKeyEvents, ...] = ()


def verdict(result: Verified | Break) -> str:
    """What `verify` found, in the words both `flask clinic audit verify` and the audit log page give."""
    if isinstance(result, Break):
        where = "" if result.event_id is None else f" at event {result.event_id}"
        return f"Audit chain BROKEN{where}: {result.problem}"
    events = f"{result.count} event{'' if result.count == 1 else 's'}"
    if result.head_at is None:
        return f"Audit chain intact: {events}."
    anchored = f", anchored at event {result.anchor.event_id}" if result.anchor else ""
    intact = "intact with a declared break" if result.lost else "intact"
    said = [
        f"Audit chain {intact}: {events} up to event {result.head_id} "
        f"({result.head_at:%Y-%m-%d %H:%M:%S} UTC){anchored}.",
        *(_unverifiable(lost) for lost in result.lost),
    ]
    return " ".join(said)


def _unverifiable(lost: LostKeyEvents) -> str:
    whose = (
        "the development audit key, derived from a former SECRET_KEY" if lost.development else "declared lost"
    )
    events = f"Events {lost.first_id} to {lost.last_id}, signed by key id {lost.key_id} ({whose}),"
    if lost.declared_at is None:
        return (
            f"{events} cannot be verified, nor the anchor they moved; every event before them is verified, "
            f"and the next audited change records {KEY_DECLARED_LOST}."
        )
    return (
        f"{events} cannot be verified; the chain is verified again from event {lost.declared_at} "
        f"({lost.handover}) on, and every event outside them is verified."
    )


def check(session: Session, actor: Actor, *, now: datetime) -> Verified | Break:
    """`verify` at `actor`'s request, recorded with its outcome (counts and ids) after the events it read.

    The chain is read in a session of its own: a request's session reads outside any transaction on
    PostgreSQL (see `read_without_transaction`), where a streamed SELECT cannot run."""
    with Session(session.get_bind()) as reading:
        result = verify(reading)
    if isinstance(result, Verified):
        details = {"intact": True, "events": result.count, "last_event_id": result.head_id}
        if result.lost:
            details["unverifiable"] = [[lost.first_id, lost.last_id] for lost in result.lost]
    else:
        details = {"intact": False, "event_id": result.event_id}
    with write_transaction(session):
        record(session, actor, CHECKED, entity_type="audit_event", entity_id="*", now=now, details=details)
    return result


def verify(session: Session) -> Verified | Break:
    """Check every event in id order, then the chain's length and head against the newest anchor."""
    settings = settings_for(session)
    try:
        anchor = read_anchor(settings.anchor_path)
    except ValueError as unreadable:
        return Break(None, f"anchor unreadable: {unreadable}")
    # The anchor stays under the former key until the first event under the new one moves it.
    unsigned = None
    if anchor is not None and not any(anchor.is_signed_with(key) for key in settings.keys_by_id.values()):
        unsigned, anchor = anchor, None
    columns = [getattr(AuditEvent, name) for name in FIELDS]
    rows = session.execute(select(*columns).order_by(AuditEvent.id).execution_options(yield_per=5000))
    result = _walk(rows, settings, anchor)
    if isinstance(result, Break):
        return result
    if unsigned is not None:
        if result.lost and result.lost[-1].declared_at is None:
            return result  # the anchor is the lost key's too, until the next append moves it
        return Break(
            None, f"the anchor in {settings.anchor_path} is not signed with the audit key or a fallback"
        )
    if anchor is None and result.count:
        return Break(None, f"no anchor at {settings.anchor_path}: the chain's end cannot be checked")
    if anchor is not None and result.count < anchor.count:
        return Break(
            None,
            f"the chain ends after {result.count} events (last id {result.head_id}), but the anchor "
            f"records {anchor.count} up to event {anchor.event_id}: events were removed from the end",
        )
    return result


def _walk(rows: Iterable[Any], settings: AuditSettings, anchor: Anchor | None) -> Verified | Break:
    count, prev, previous = 0, GENESIS, None
    began: dict[int, int] = {}  # each hash version met: the first event hashed so
    runs = _LostRuns(settings)
    for row in rows:
        count += 1
        problem = _link_problem(row, count, prev, began, settings)
        if problem is None and row.key_id is not None and row.key_id not in settings.keys_by_id:
            problem = runs.lost(row, previous)
        elif problem is None and (ended := runs.ended_by(row)) is not None:
            return ended
        if problem is None and anchor is not None and count == anchor.count:
            problem = _anchor_problem(row, count, anchor, settings)
        if problem:
            return Break(row.id, problem)
        began.setdefault(row.hash_version, row.id)
        prev, previous = row.hash, row
    head_id, head_at = (previous.id, previous.occurred_at) if previous is not None else (None, None)
    return Verified(count, head_id, anchor, head_at, runs.found)


class _LostRuns:
    """The events of keys declared lost, as `_walk` meets them. Their hashes cannot be checked, so their
    bounds must be: each key's events run without a gap from where key ids begin or from the handover to
    that key, up to a verified handover naming them (`audit.key_rotated` from that key, or
    `audit.key_declared_lost`), or up to the next lost key's handover. Otherwise an event a configured key
    signed could be relabelled as the lost key's to hide an edit."""

    def __init__(self, settings: AuditSettings) -> None:
        self.settings = settings
        self.closed: list[LostKeyEvents] = []
        self.open: list[LostKeyEvents] = []  # not yet followed by a verified handover

    @property
    def found(self) -> tuple[LostKeyEvents, ...]:
        return (*self.closed, *self.open)

    def lost(self, row: Any, previous: Any) -> str | None:
        """`row`, signed by a key declared lost: its place among the lost events, or what is wrong with it."""
        if self.open and self.open[-1].key_id == row.key_id:
            self.open[-1] = replace(self.open[-1], last_id=row.id)
            return None
        if any(run.key_id == row.key_id for run in self.found):
            return f"{_unconfigured(row.key_id)}, and events of a key declared lost are not where it says"
        if not _begins_key(row, previous):
            return (
                f"{_unconfigured(row.key_id)}; it is declared lost, but its events do not begin where key "
                f"ids begin nor at an {KEY_ROTATED} to it"
            )
        development = self.settings.derived and row.key_id not in self.settings.lost_key_ids
        self.open.append(LostKeyEvents(row.key_id, row.id, row.id, None, development=development))
        return None

    def ended_by(self, row: Any) -> Break | None:
        """`row`, verified: if lost events come before it, it must be the handover naming them."""
        if not self.open:
            return None
        run = self.open[-1]
        if not _hands_over(row, run):
            return Break(
                run.first_id,
                f"{_unconfigured(run.key_id)}; it is declared lost, but event {row.id} after the events it "
                f"signed ({run.first_id} to {run.last_id}) is not the {KEY_DECLARED_LOST} or {KEY_ROTATED} "
                "naming them",
            )
        self.closed += [replace(lost, declared_at=row.id, handover=row.action) for lost in self.open]
        self.open = []
        return None


def _begins_key(row: Any, previous: Any) -> bool:
    """Whether `row` may be the first event its key signed: where key ids begin, or the handover to it."""
    if previous is None or previous.key_id is None:
        return True
    details = row.details or {}
    return (row.action, row.entity_id, details.get("from")) == (KEY_ROTATED, row.key_id, previous.key_id)


def _hands_over(row: Any, run: LostKeyEvents) -> bool:
    """Whether `row` is the handover from the key of `run`, naming its events. A `audit.key_rotated` written
    before handovers named them (before KEY_ID_SIGNED) leaves where they begin to `_begins_key` alone."""
    details = row.details or {}
    named = (row.action, row.entity_id) == (KEY_DECLARED_LOST, run.key_id) or (
        row.action,
        details.get("from"),
    ) == (KEY_ROTATED, run.key_id)
    bounds = (details.get("first_event", run.first_id), details.get("last_event", run.last_id))
    return named and bounds == (run.first_id, run.last_id)


def _anchor_problem(row: Any, count: int, anchor: Anchor, settings: AuditSettings) -> str | None:
    """What is wrong with `row`, number `count`, against an anchor signed by a configured key."""
    if (row.id, row.hash) != (anchor.event_id, anchor.hash):
        return f"the anchor records event {anchor.event_id} with another hash at number {count}"
    if row.key_id is not None and row.key_id not in settings.keys_by_id:  # the anchor's key signed it
        return f"the anchor, signed by a configured key, records it, but it claims key id {row.key_id}"
    return None


def _unconfigured(signed_by: str) -> str:
    return (
        f"it is signed by key id {signed_by}, which is not configured "
        "(add that key to CLINIC_AUDIT_KEY_FALLBACKS)"
    )


def _link_problem(
    row: Any, count: int, prev: str, began: Mapping[int, int], settings: AuditSettings
) -> str | None:
    """What is wrong with `row` after `count - 1` events ending in `prev`, hashed in the versions `began`; of
    an event signed by a key declared lost only its place, link and version can be checked (see `_walk`)."""
    if row.seq != count:
        return f"it is number {row.seq} in the chain where {count} comes next (one was deleted)"
    if row.prev_hash != prev:
        return "it does not link to the event before it (that one was deleted or changed)"
    if (problem := _version_problem(row.hash_version, began)) is not None:
        return problem
    keys = settings.keys_by_id
    if row.key_id is not None and row.key_id not in keys:
        return None if settings.declared_lost(row.key_id) else _unconfigured(row.key_id)
    if not any(same_secret(row.hash, event_hash(row, key)) for key in _candidate_keys(row, keys)):
        return "its hash does not match its contents (edited, or rehashed without the key)"
    return None


def _version_problem(version: int, began: Mapping[int, int]) -> str | None:
    """A hash version unknown, or older than one met before: a chain is never downgraded."""
    if version not in (UNKEYED, KEYED, KEY_ID_SIGNED):
        return f"its hash version {version} is unknown"
    newer = [met for met in began if met > version]
    if not newer:
        return None
    if version == UNKEYED:
        return f"it is unkeyed although keyed hashing began at event {began[min(newer)]}"
    latest = max(newer)
    return (
        f"it is hashed the older way (version {version}) although version {latest} began at event "
        f"{began[latest]}"
    )


def _candidate_keys(row: Any, keys: Mapping[str, bytes]) -> Iterable[bytes]:
    """The key that may have signed `row`: its own; any configured one for a keyed event from before
    key ids (migration 0012); none needed for an unkeyed one."""
    if row.hash_version == UNKEYED:
        return [b""]  # event_hash ignores the key
    return [keys[row.key_id]] if row.key_id is not None else keys.values()
