"""The audit trail: append-only events, each chained to the one before by an HMAC under a key kept
outside the database, and anchored outside it by a signed checkpoint of the chain's head.

Changing, deleting or inserting a row breaks the chain at that row; rehashing it needs the key;
cutting rows off the end leaves the chain shorter than the newest anchor. `verify` finds each.

Each keyed event names the key that signed it by its key id, so the key can be rotated: the current
key (CLINIC_AUDIT_KEY) signs new events and the anchor, former ones (CLINIC_AUDIT_KEY_FALLBACKS)
still verify the events they signed, and the first event under a new key is preceded by an
`audit.key_rotated` event, signed by the new key over the old key's last hash: the handover is a
link of the chain like any other. Only from a key still configured: nothing chains on after an event
whose key is not (see `UnconfiguredHeadKey`), and production refuses to start on such a chain, unless
that key is declared lost (CLINIC_AUDIT_LOST_KEY_IDS): then the chain goes on after an
`audit.key_declared_lost` event, and verify reports the events the lost key signed as unverifiable.
"""

import errno
import fcntl
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, func, insert, or_, select, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.orm import Session

from .keys import derived_key, same_secret, secret_keys
from .models import AuditEvent
from .models.driver import Statement, driver_batch, driver_rows
from .models.inserts import insert_returning
from .models.transactions import write_transaction

GENESIS = "0" * 64
# AuditEvent.hash_version, how each event was hashed: plain SHA-256 (before migration 0009); HMAC-SHA256 of
# its place, link and contents; the same with its key id signed too, so that no one can change which key an
# event claims (every event written since). A version is never followed by an older one.
UNKEYED, KEYED, KEY_ID_SIGNED = 0, 1, 2
KEY_SETTING = "AUDIT_KEY"
KEY_ROTATED = "audit.key_rotated"
KEY_DECLARED_LOST = "audit.key_declared_lost"
CHECKED = "audit.checked"
REFUSED = "access.refused"  # a signed-in staff member refused a page or an API call (see staff.refusals)
_PENDING_ANCHOR = "clinic.audit.anchor"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who asks, for the audit trail: "patient", "staff:<id>", "system" or "anonymous", and from where."""

    name: str = "patient"
    remote_addr: str | None = None

    @classmethod
    def staff(cls, user_id: int, remote_addr: str | None = None) -> "Actor":
        return cls(f"staff:{user_id}", remote_addr)

    @property
    def is_staff(self) -> bool:
        return self.name.startswith("staff:")


SYSTEM = Actor("system")


def key_id(key: bytes) -> str:
    """The name an event keeps of the key that signed it: it tells keys apart and reveals none."""
    return hmac.new(key, b"audit-key-id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class AuditSettings:
    """The chain's keys and where its anchor lives: all outside the database."""

    key: bytes = field(repr=False)  # signs new events and the anchor
    anchor_path: Path
    fallbacks: tuple[bytes, ...] = field(default=(), repr=False)  # still verify what they signed
    lost_key_ids: frozenset[str] = frozenset()  # declared lost: what they signed stays unverifiable
    # Keys derived from the secret key (outside production, no CLINIC_AUDIT_KEY): a development secret key
    # changed with no fallback leaves nothing to recover, so any key not configured counts as lost.
    derived: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any], instance_path: str) -> "AuditSettings":
        """CLINIC_AUDIT_KEY and its fallbacks, or outside production keys derived from the secret key
        and its fallbacks."""
        derived = not config[KEY_SETTING]
        if derived:
            keys = [derived_key(secret, "audit chain") for secret in secret_keys(config)]
        else:
            keys = [key.encode() for key in (config[KEY_SETTING], *config["AUDIT_KEY_FALLBACKS"])]
        anchor = config["AUDIT_ANCHOR_PATH"] or os.path.join(instance_path, "audit-anchor.json")
        lost = frozenset(config.get("AUDIT_LOST_KEY_IDS") or ())
        return cls(keys[0], Path(anchor), tuple(keys[1:]), lost, derived)

    def declared_lost(self, key_id: str) -> bool:
        """Whether events signed by the key `key_id`, not configured, may be handed over as unverifiable."""
        return self.derived or key_id in self.lost_key_ids

    @cached_property
    def key_id(self) -> str:
        return key_id(self.key)

    @cached_property
    def keys_by_id(self) -> dict[str, bytes]:
        """Every configured key, the current one first, by its key id."""
        return {key_id(key): key for key in (self.key, *self.fallbacks)}


class UnconfiguredHeadKey(RuntimeError):
    """The chain's latest event is signed by a key that is not configured: CLINIC_AUDIT_KEY changed without
    the former key among the fallbacks. An event chained on after it, the handover to the new key first,
    could never be verified, nor could anything before it: nothing is appended until the key is back."""

    def __init__(self, event_id: int, signed_by: str) -> None:
        super().__init__(
            f"the audit chain's latest event ({event_id}) is signed by key id {signed_by}, which is not "
            "configured: add that key (the former CLINIC_AUDIT_KEY) to CLINIC_AUDIT_KEY_FALLBACKS, or no "
            "event chained on after it can be verified; if that key is truly lost, declare it so with "
            f"CLINIC_AUDIT_LOST_KEY_IDS={signed_by} (the events it signed stay unverifiable)"
        )


# By database URL: the key belongs to the database's chain, whichever engine writes to it.
_settings: dict[URL, AuditSettings] = {}


def configure(engine: Engine, settings: AuditSettings) -> None:
    """Chain the audit events written to `engine`'s database with these settings (at app start)."""
    _settings[engine.url] = settings


def settings_for(session: Session) -> AuditSettings:
    try:
        return _settings[session.get_bind().url]
    except KeyError:
        raise RuntimeError("the audit chain has no key for this database: create the app first") from None


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    entity_type: str,
    entity_id: str | int,
    now: datetime,
    details: dict | None = None,
    first: Sequence[Statement] = (),
) -> AuditEvent:
    """Append an event in the caller's transaction. `details` holds ids and field names, never values.
    `first`: statements of the caller's whose results it does not read, sent ahead of the chain's lock in
    its round trip (see `driver_batch`).

    Returns a detached copy of the row as written. The anchor moves to this event once the
    transaction commits (see `_write_pending_anchor`).
    """
    settings = settings_for(session)
    session.flush()  # the transaction's own writes go in before the chain's lock is taken
    # From here to the commit every other append waits: hashes and INSERTs only, no ORM work.
    seq, prev, signed_by = _locked_head(session, first)
    if signed_by not in (None, settings.key_id):  # the first event since CLINIC_AUDIT_KEY changed
        seq, prev = _chain_on(session, settings, _handover(session, settings, signed_by, now), seq, prev)
    audit_event = _event(actor, action, entity_type, entity_id, now, details)
    _chain_on(session, settings, audit_event, seq, prev)
    head = Anchor(audit_event.seq, audit_event.id, audit_event.hash)
    session.info[_PENDING_ANCHOR] = (settings, head.signed(settings.key))
    return audit_event


def _event(
    actor: Actor, action: str, entity_type: str, entity_id: str | int, now: datetime, details: dict | None
) -> AuditEvent:
    return AuditEvent(
        occurred_at=now.astimezone(UTC),
        actor=actor.name,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        remote_addr=actor.remote_addr,
        details=details or {},
    )


def _handover(session: Session, settings: AuditSettings, signed_by: str, now: datetime) -> AuditEvent:
    """The event that hands the chain from the head's key to the current one, naming the events that key
    signed at the chain's end (first and last id), so that a verified event says where they begin should that
    key be lost one day: `audit.key_rotated` from a configured key; from a key declared lost,
    `audit.key_declared_lost`, and verify reports those events as unverifiable; from any other, none."""
    connection = session.connection()
    if signed_by not in settings.keys_by_id and (refused := unconfigured_head_key(connection, settings)):
        raise refused
    first, last = _signed_last_by(connection, signed_by)
    if signed_by in settings.keys_by_id:
        rotated = {"from": signed_by, "first_event": first, "last_event": last}
        return _event(SYSTEM, KEY_ROTATED, "audit_key", settings.key_id, now, rotated)
    details = {"lost": signed_by, "first_event": first, "last_event": last, "to": settings.key_id}
    # Declared by the admin, it was warned of at start; a development key (`derived`) is lost unannounced.
    level = logging.INFO if signed_by in settings.lost_key_ids else logging.WARNING
    log.log(level, "audit key id %s declared lost: events %s to %s unverifiable", signed_by, first, last)
    return _event(SYSTEM, KEY_DECLARED_LOST, "audit_key", signed_by, now, details)


def _chain_on(
    session: Session, settings: AuditSettings, audit_event: AuditEvent, seq: int, prev: str
) -> tuple[int, str]:
    """Insert `audit_event` after the event numbered `seq` with hash `prev`, signed by the current key."""
    audit_event.seq, audit_event.prev_hash = seq + 1, prev
    audit_event.hash_version, audit_event.key_id = KEY_ID_SIGNED, settings.key_id
    audit_event.hash = event_hash(audit_event, settings.key)
    row = {name: getattr(audit_event, name) for name in _FIELDS if name != "id"}
    (audit_event.id,) = insert_returning(session, _INSERT, row)
    return audit_event.seq, audit_event.hash


# Serialises appends on PostgreSQL, so two transactions cannot both chain onto the same last row. The
# head is read by a statement sent after it in the same round trip: it must see the rows committed by
# the lock's previous holder, and under READ COMMITTED only a statement that starts after the lock does.
_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('clinic.audit_event'))")
_HEAD = select(AuditEvent.seq, AuditEvent.hash, AuditEvent.key_id).order_by(AuditEvent.id.desc()).limit(1)
# The newest event's id and key id, by the primary key: read at start, and when the head's key is not
# the current one.
_NEWEST_KEY = select(AuditEvent.id, AuditEvent.key_id).order_by(AuditEvent.id.desc()).limit(1)
_INSERT = insert(AuditEvent.__table__).returning(AuditEvent.id)  # past the ORM and the execution


def _locked_head(session: Session, first: Sequence[Statement]) -> tuple[int, str, str | None]:
    """The chain's last (seq, hash, key id), or (0, GENESIS, None), with appends locked until the
    transaction ends; `first` sent ahead of the lock. On the DB-API cursor: every booking runs it.

    SQLite needs no lock: the write transaction (BEGIN IMMEDIATE) already excludes other writers.
    """
    lock = [(_LOCK, {})] if session.get_bind().dialect.name == "postgresql" else []
    *_, head = driver_batch(session, *first, *lock, (_HEAD, {}))
    return (head[0][0], head[0][1], head[0][2]) if head else (0, GENESIS, None)


def unconfigured_head_key(connection: Connection, settings: AuditSettings) -> UnconfiguredHeadKey | None:
    """Why nothing can chain on (at start, before anything tries to): the chain's latest event signed by
    a key neither among `settings`' keys nor declared lost. One read of the newest row by its primary key;
    an empty chain, or a latest event from before key ids (migration 0012), is fine."""
    head = _unconfigured_head(connection, settings)
    if head is None or settings.declared_lost(head.key_id):
        return None
    return UnconfiguredHeadKey(head.id, head.key_id)


def lost_key_warnings(connection: Connection, settings: AuditSettings) -> list[str]:
    """What the key ids declared lost come to, at start: the head's is handed over at the next append (a
    warning, naming it); one that no key handover in the chain names either (a key rotated to or from, or
    declared lost) signed nothing there and is ignored (a warning: mistyped, or nothing of it to declare).
    By the newest row and the (entity) index: a chain has few handovers."""
    head = _unconfigured_head(connection, settings)
    named = {
        name
        for row in connection.execute(_HANDOVERS)
        for name in (row.entity_id, (row.details or {}).get("from"))
    }
    warnings = []
    for lost in sorted(settings.lost_key_ids):
        if head is not None and lost == head.key_id:
            warnings.append(
                f"the audit key with key id {lost} is declared lost (CLINIC_AUDIT_LOST_KEY_IDS): the next "
                f"audited change records {KEY_DECLARED_LOST} after event {head.id}, and the events that "
                "key signed cannot be verified"
            )
        elif lost not in named:
            warnings.append(
                f"CLINIC_AUDIT_LOST_KEY_IDS names key id {lost}, which signed neither the audit chain's "
                "latest event nor any events a key handover in it names: ignored"
            )
    return warnings


def _unconfigured_head(connection: Connection, settings: AuditSettings) -> Any:
    """The newest event (id, key_id) if a key id it has is not configured; else None."""
    head = connection.execute(_NEWEST_KEY).first()
    if head is None or head.key_id is None or head.key_id in settings.keys_by_id:
        return None
    return head


_HANDOVERS = select(AuditEvent.entity_id, AuditEvent.details).where(AuditEvent.entity_type == "audit_key")


def _signed_last_by(connection: Connection, signed_by: str) -> tuple[int, int]:
    """The first and last id of the events at the chain's end signed by key id `signed_by`: back from the
    newest by the primary key, as far as they go (at a key's handover only)."""
    last = connection.execute(_NEWEST_KEY).one().id
    before = connection.execute(
        select(func.max(AuditEvent.id)).where(
            or_(AuditEvent.key_id != signed_by, AuditEvent.key_id.is_(None))
        )
    ).scalar()
    first = connection.execute(select(func.min(AuditEvent.id)).where(AuditEvent.id > (before or 0))).scalar()
    return first, last


def events_for(session: Session, entity_type: str, entity_id: str | int) -> list[AuditEvent]:
    """Every event about one record, oldest first: a consultation's history on the staff pages."""
    query = select(AuditEvent).where(
        AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id)
    )
    return list(session.scalars(query.order_by(AuditEvent.id)))


# Through the (entity_type, entity_id) index: the events of one record (a list, a consultation) are few,
# however long the trail grows; the day page's polls look here at every poll.
_RECORDED_SINCE = (
    select(AuditEvent.id)
    .where(
        AuditEvent.entity_type == bindparam("entity_type"),
        AuditEvent.entity_id == bindparam("entity_id"),
        AuditEvent.action == bindparam("action"),
        AuditEvent.actor == bindparam("actor"),
        AuditEvent.occurred_at >= bindparam("since"),
    )
    .limit(1)
)


def recorded_since(
    session: Session, actor: Actor, action: str, entity_type: str, entity_id: str, since: datetime
) -> bool:
    """Whether `actor` has an event `action` about the record since `since`: for events recorded once in
    a while however often their cause repeats (a page polled, a refusal reloaded)."""
    parameters = {
        "entity_type": entity_type,
        "entity_id": entity_id,
        "action": action,
        "actor": actor.name,
        "since": since,
    }
    return bool(driver_rows(session, _RECORDED_SINCE, parameters))


# The anchor: the chain's head as the app last committed it, signed, kept outside the database.


@dataclass(frozen=True)
class Anchor:
    """A checkpoint of the chain: `count` events, the last being `event_id` with `hash`."""

    count: int
    event_id: int
    hash: str
    signature: str = ""

    def _mac(self, key: bytes) -> str:
        body = f"clinic audit anchor:{self.count}:{self.event_id}:{self.hash}".encode()
        return hmac.new(key, body, hashlib.sha256).hexdigest()

    def signed(self, key: bytes) -> "Anchor":
        return Anchor(self.count, self.event_id, self.hash, self._mac(key))

    def is_signed_with(self, key: bytes) -> bool:
        return same_secret(self.signature, self._mac(key))


def read_anchor(path: Path) -> Anchor | None:
    """The anchor in `path`: of the checkpoints it holds, one per line, the one with the highest count.
    None if there is no file; ValueError if it holds no checkpoint."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return None
    # A line cut short by a crash mid-append does not parse, and is skipped (see write_anchor).
    anchors = [anchor for line in content.splitlines() if (anchor := _parsed(line)) is not None]
    if not anchors:
        raise ValueError(f"{path} is not an audit anchor")
    return max(anchors, key=lambda anchor: anchor.count)


def _parsed(line: bytes) -> Anchor | None:
    try:
        fields = json.loads(line)
        # Text whatever the file holds, so that a tampered value fails the signature check.
        head, signature = str(fields["hash"]), str(fields["signature"])
        return Anchor(int(fields["count"]), int(fields["event_id"]), head, signature)
    except (ValueError, KeyError, TypeError):
        return None


def write_anchor(path: Path, anchor: Anchor) -> None:
    """Add `anchor` to the file at `path` as one line. The line with the highest count is the anchor, so
    processes commit in chain order but may get here in any order.

    Appended rather than written to a new file renamed over the old one: every booking commits through
    here, and with 8 booking processes on 2 cores a rename per commit cost 0.5 ms of CPU per booking.
    Once the file outgrows `_COMPACT_AT` it is replaced by its newest line, atomically, under an
    exclusive lock that waits for the appends in flight (each holds a shared one): none is lost with
    the file replaced.
    """
    content = json.dumps(asdict(anchor))
    with _locked(path, fcntl.LOCK_SH):
        # Opened with a newline too, so it never runs on from a line that a crash cut short.
        size = _append(path, f"\n{content}\n".encode())
    if size > _COMPACT_AT:
        _compact(path)
    log.info("audit anchor %s", content)


@contextmanager
def _locked(path: Path, operation: int) -> Iterator[None]:
    """`path`'s lock file held (plain descriptors: every booking goes through here) for the block."""
    lock = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(lock, operation)
        yield
    finally:
        os.close(lock)  # and with it the lock


def _append(path: Path, line: bytes) -> int:
    """Append `line` (one write: appends of other processes do not interleave with it); the file's size."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        if os.write(descriptor, line) != len(line):
            raise OSError(errno.ENOSPC, "anchor line written in part")
        return os.fstat(descriptor).st_size
    finally:
        os.close(descriptor)


def _compact(path: Path) -> None:
    """Replace the file at `path` by its newest line, unless another process has just done so."""
    with _locked(path, fcntl.LOCK_EX):
        try:
            newest = read_anchor(path) if os.stat(path).st_size > _COMPACT_AT else None
        except (FileNotFoundError, ValueError):
            return  # moved away, or holding no anchor (verify reports that): left as it is
        if newest is not None:
            temporary = path.with_name(path.name + ".tmp")
            temporary.write_text(f"{json.dumps(asdict(newest))}\n")
            os.replace(temporary, path)


_COMPACT_AT = 64 * 1024  # bytes: about 250 checkpoints


@event.listens_for(Session, "after_commit")
def _write_pending_anchor(session: Session) -> None:
    """Written after the commit, so the anchor never names an event the database does not hold.

    The change is committed by now: a file that cannot be written must not turn it into an error.
    The anchor stays at an earlier event (or absent, which verify reports) until a write succeeds.
    """
    pending = session.info.pop(_PENDING_ANCHOR, None)
    if pending is None:
        return
    settings, anchor = pending
    try:
        write_anchor(settings.anchor_path, anchor)
    except OSError as failure:
        log.error("audit anchor not written to %s: %s", settings.anchor_path, failure.strerror)


@event.listens_for(Session, "after_rollback")
def _drop_pending_anchor(session: Session) -> None:
    session.info.pop(_PENDING_ANCHOR, None)


# Verification


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
    columns = [getattr(AuditEvent, name) for name in _FIELDS]
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


_FIELDS = (
    "id",
    "seq",
    "occurred_at",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "remote_addr",
    "details",
    "prev_hash",
    "hash_version",
    "key_id",
    "hash",
)


def event_hash(row: Any, key: bytes) -> str:
    """The event's hash: an HMAC of its place, key id (from KEY_ID_SIGNED on), link and contents, or plain
    SHA-256 of its link and contents for events before 0009."""
    fields = [
        row.prev_hash,
        row.occurred_at.isoformat(),
        row.actor,
        row.action,
        row.entity_type,
        row.entity_id,
        row.remote_addr,
        row.details,
    ]
    if row.hash_version == UNKEYED:
        return hashlib.sha256(_canonical(fields)).hexdigest()
    signed = [row.seq, *fields] if row.hash_version == KEYED else [row.seq, row.key_id, *fields]
    return hmac.new(key, _canonical(signed), hashlib.sha256).hexdigest()


def _canonical(fields: list) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """An audit event's account of a change: the names of the fields changed, and for those that are not
    text (a number, a flag, a status, an id, a time) what they were and became, so an auditor can tell a
    queue paused from one closed. Text (names, phone numbers, notices) is named only."""
    changed = [name for name in after if before.get(name) != after[name]]
    shown = [name for name in changed if _auditable(before.get(name)) and _auditable(after[name])]
    details: dict[str, Any] = {"changed": changed}
    if shown:
        details["from"] = {name: _value(before.get(name)) for name in shown}
        details["to"] = {name: _value(after[name]) for name in shown}
    return details


def _auditable(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | Enum | date | time)


def _value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date | time):
        return value.isoformat()
    return value
