"""Key rotation: re-encrypt every note version under the first CLINIC_NOTES_KEY.

The text stays the same, so this is the one rewrite of a signed version the model allows. It runs in
batches, each its own transaction, and is safe to run again (or after an interruption): a token
already under the first key is simply encrypted under it once more.
"""

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..models import ConsultationNote
from ..models.transactions import write_transaction
from .encryption import NoteCipher, UnreadableNote

BATCH_SIZE = 500


def rotate_note_keys(
    session: Session, cipher: NoteCipher, *, now: datetime, actor: Actor, batch_size: int = BATCH_SIZE
) -> int:
    """Re-encrypt every note version with the cipher's first key; returns how many were."""
    rotated, after_id = 0, 0
    while (batch := _rotate_batch(session, cipher, after_id, batch_size)) is not None:
        after_id, count = batch
        rotated += count
    with write_transaction(session):
        audit.record(
            session,
            actor,
            "note.keys_rotated",
            entity_type="consultation_note",
            entity_id="all",
            now=now,
            details={"count": rotated},
        )
    return rotated


def _rotate_batch(session: Session, cipher: NoteCipher, after_id: int, size: int) -> tuple[int, int] | None:
    """Rotate the next `size` versions after `after_id`: (the last id, how many), or None when done."""
    with write_transaction(session):
        query = (
            select(ConsultationNote.id, ConsultationNote.encrypted_content)
            .where(ConsultationNote.id > after_id)
            .order_by(ConsultationNote.id)
            .limit(size)
        )
        rows = session.execute(query).all()
        if not rows:
            return None
        session.execute(
            update(ConsultationNote),
            [
                {"id": note_id, "encrypted_content": _rotated(cipher, note_id, token)}
                for note_id, token in rows
            ],
        )
        return rows[-1].id, len(rows)


def _rotated(cipher: NoteCipher, note_id: int, token: str) -> str:
    try:
        return cipher.rotate(token)
    except UnreadableNote:
        raise UnreadableNote(f"no CLINIC_NOTES_KEY opens consultation note {note_id}") from None
