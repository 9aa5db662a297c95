"""Key rotation: re-encrypt every note version, and every reason a patient gave, under the first
CLINIC_NOTES_KEY.

The text stays the same, so this is the one rewrite of a signed version the model allows. It runs in
batches, each its own transaction, and is safe to run again (or after an interruption): a token
already under the first key is simply encrypted under it once more. Reasons stored before they were
sealed (plain text) are sealed here: running it once after upgrading seals them all.
"""

from collections.abc import Callable
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


def rotate_note_keys(
    session: Session, cipher: NoteCipher, *, now: datetime, actor: Actor, batch_size: int = BATCH_SIZE
) -> int:
    """Re-encrypt every note version with the cipher's first key; returns how many were."""
    query = select(ConsultationNote.id, ConsultationNote.encrypted_content)

    def rotated(row: Row) -> dict[str, Any]:
        return {"id": row.id, "encrypted_content": _rotated(cipher, row.id, row.encrypted_content)}

    count = _rewrite_all(session, ConsultationNote, query, rotated, batch_size)
    _record(session, actor, now, "note.keys_rotated", "consultation_note", count)
    return count


def rotate_reason_keys(
    session: Session, cipher: NoteCipher, *, now: datetime, actor: Actor, batch_size: int = BATCH_SIZE
) -> int:
    """Seal every consultation's reasons under the cipher's first key; returns on how many."""
    c = Consultation
    # updated_at is written back as it was: the consultation itself did not change.
    query = select(c.id, c.uuid, c.reason, c.cancel_reason, c.updated_at).where(
        or_(c.reason != "", c.cancel_reason != "")
    )

    def resealed(row: Row) -> dict[str, Any]:
        try:
            return {
                "id": row.id,
                "updated_at": row.updated_at,
                "reason": cipher.reseal_text(row.reason, row=row.uuid, field=REASON_FIELD),
                "cancel_reason": cipher.reseal_text(
                    row.cancel_reason, row=row.uuid, field=CANCEL_REASON_FIELD
                ),
            }
        except UnreadableNote:
            raise UnreadableNote(f"no CLINIC_NOTES_KEY opens the reasons of consultation {row.id}") from None

    count = _rewrite_all(session, Consultation, query, resealed, batch_size)
    _record(session, actor, now, "reasons.keys_rotated", "consultation", count)
    return count


def _rewrite_all(
    session: Session, model: Any, query: Select, rewritten: Callable[[Row], dict[str, Any]], size: int
) -> int:
    """Update every row `query` selects (its first column the id) to `rewritten(row)`, in batches
    of `size`, each its own transaction; returns how many rows. Each batch's rows are locked from the read
    to the write: a note saved or a consultation cancelled in between would be written back as it was."""
    count, after_id = 0, 0
    while True:
        with write_transaction(session):
            batch = query.where(model.id > after_id).order_by(model.id).limit(size).with_for_update()
            rows = session.execute(batch).all()
            if not rows:
                return count
            session.execute(update(model), [rewritten(row) for row in rows])
        after_id, count = rows[-1].id, count + len(rows)


def _record(session: Session, actor: Actor, now: datetime, action: str, entity_type: str, count: int) -> None:
    with write_transaction(session):
        audit.record(
            session,
            actor,
            action,
            entity_type=entity_type,
            entity_id="all",
            now=now,
            details={"count": count},
        )


def _rotated(cipher: NoteCipher, note_id: int, token: str) -> str:
    try:
        return cipher.rotate(token)
    except UnreadableNote:
        raise UnreadableNote(f"no CLINIC_NOTES_KEY opens consultation note {note_id}") from None
