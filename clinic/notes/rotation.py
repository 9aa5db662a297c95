"""Key rotation: re-encrypt every note version, and every reason a patient gave, under the first
CLINIC_NOTES_KEY.

The text stays the same, so this is the one rewrite of a signed version the model allows. It runs in
batches, each its own transaction, and is safe to run again (or after an interruption): a token
already under the first key is simply encrypted under it once more. Reasons stored before they were
sealed (plain text) are sealed here: running it once after upgrading seals them all.

A version (or reason) that no key opens, its key lost, is left as it was and named in the result, by ids
only: the rest is rotated all the same, so the other keys can be retired, and the lost key, if it is found
and put back, still opens it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, or_, select, update
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..models import Consultation, ConsultationNote
from ..models.scheduling import CANCEL_REASON_FIELD, REASON_FIELD
from ..models.transactions import write_transaction
from .encryption import NoteCipher, UnreadableNote

BATCH_SIZE = 500


@dataclass(frozen=True)
class Rotation:
    """What a rotation did: how many rows it rewrote under the first key, and the ones no key opens,
    left as they were: their ids, and what each is in words (ids only, never any text)."""

    count: int
    unreadable_ids: list[int]
    unreadable: list[str]


def rotate_note_keys(
    session: Session, cipher: NoteCipher, *, now: datetime, actor: Actor, batch_size: int = BATCH_SIZE
) -> Rotation:
    """Re-encrypt every note version that a key opens with the cipher's first key."""
    n = ConsultationNote
    query = select(n.id, n.consultation_id, n.version, n.encrypted_content)

    def rotated(row: Row) -> dict[str, Any]:
        return {"id": row.id, "encrypted_content": cipher.rotate(row.encrypted_content)}

    def named(row: Row) -> str:
        return f"version {row.version} of consultation {row.consultation_id}'s note (row {row.id})"

    rotation = _rewrite_all(session, ConsultationNote, query, rotated, named, batch_size)
    _record(session, actor, now, "note.keys_rotated", "consultation_note", rotation)
    return rotation


def rotate_reason_keys(
    session: Session, cipher: NoteCipher, *, now: datetime, actor: Actor, batch_size: int = BATCH_SIZE
) -> Rotation:
    """Seal every consultation's reasons that a key opens under the cipher's first key."""
    c = Consultation
    # updated_at is written back as it was: the consultation itself did not change.
    query = select(c.id, c.uuid, c.reason, c.cancel_reason, c.updated_at).where(
        or_(c.reason != "", c.cancel_reason != "")
    )

    def resealed(row: Row) -> dict[str, Any]:
        # Both or neither (UnreadableNote): a row keeps its reasons under one key.
        return {
            "id": row.id,
            "updated_at": row.updated_at,
            "reason": cipher.reseal_text(row.reason, row=row.uuid, field=REASON_FIELD),
            "cancel_reason": cipher.reseal_text(row.cancel_reason, row=row.uuid, field=CANCEL_REASON_FIELD),
        }

    def named(row: Row) -> str:
        return f"the reasons of consultation {row.id}"

    rotation = _rewrite_all(session, Consultation, query, resealed, named, batch_size)
    _record(session, actor, now, "reasons.keys_rotated", "consultation", rotation)
    return rotation


def _rewrite_all(
    session: Session,
    model: Any,
    query: Select,
    rewritten: Callable[[Row], dict[str, Any]],
    named: Callable[[Row], str],
    size: int,
) -> Rotation:
    """Update every row `query` selects (its first column the id) to `rewritten(row)`, in batches of `size`,
    each its own transaction; a row no key opens (UnreadableNote) is left as it was and named. Each batch's
    rows are locked from the read to the write: a note saved or a consultation cancelled in between would
    be written back as it was."""
    count, after_id, unreadable = 0, 0, []
    while True:
        with write_transaction(session):
            batch = query.where(model.id > after_id).order_by(model.id).limit(size).with_for_update()
            rows = session.execute(batch).all()
            if not rows:
                return Rotation(count, [row_id for row_id, _ in unreadable], [name for _, name in unreadable])
            values = []
            for row in rows:
                try:
                    values.append(rewritten(row))
                except UnreadableNote:
                    unreadable.append((row.id, named(row)))
            if values:
                session.execute(update(model), values)
        after_id, count = rows[-1].id, count + len(values)


def _record(
    session: Session, actor: Actor, now: datetime, action: str, entity_type: str, rotation: Rotation
) -> None:
    with write_transaction(session):
        audit.record(
            session,
            actor,
            action,
            entity_type=entity_type,
            entity_id="all",
            now=now,
            details={"count": rotation.count, "unreadable_ids": rotation.unreadable_ids},
        )
