"""The anchor: the chain's head as the app last committed it, signed, kept outside the database, so that
events cut off the chain's end are found missing."""

import errno
import fcntl
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from ..keys import same_secret

_PENDING_ANCHOR = "clinic.audit.anchor"

log = logging.getLogger(__name__)


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


def anchor_at_commit(session: Session, path: Path, anchor: Anchor) -> None:
    """Move the anchor in `path` to `anchor` once `session`'s transaction commits; not if it rolls back."""
    session.info[_PENDING_ANCHOR] = (path, anchor)


@event.listens_for(Session, "after_commit")
def _write_pending_anchor(session: Session) -> None:
    """Written after the commit, so the anchor never names an event the database does not hold.

    The change is committed by now: a file that cannot be written must not turn it into an error.
    The anchor stays at an earlier event (or absent, which verify reports) until a write succeeds.
    """
    pending = session.info.pop(_PENDING_ANCHOR, None)
    if pending is None:
        return
    path, anchor = pending
    try:
        write_anchor(path, anchor)
    except OSError as failure:
        log.error("audit anchor not written to %s: %s", path, failure.strerror)


@event.listens_for(Session, "after_rollback")
def _drop_pending_anchor(session: Session) -> None:
    session.info.pop(_PENDING_ANCHOR, None)
