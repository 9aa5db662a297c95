"""Consultation notes: one row per version of a consultation's SOAP note, its text encrypted.

A note starts as a draft that its author may save again and again; signing locks it. A correction
is an amendment: a new version (a draft until signed) whose `amends_id` points at the signed version
it corrects, which stays as it was. A draft that no notes key opens (its key lost) may be discarded by
who keeps it: it stays stored as it is, never joins the record, and the note goes on with a new version.
So a signed or discarded row is never updated and no row is ever deleted: the notes services never ask
to, and the guards below refuse, whoever the caller, a flush that changes a signed or discarded version
or deletes any version, and any DELETE statement on the table. The one rewrite allowed is key
rotation's: the same text under a newer key (`clinic.notes.rotation`).
"""

import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column, relationship

from .base import Base, UTCDateTime, stored_enum
from .scheduling import Consultation
from .staff import StaffUser


class NoteStatus(enum.StrEnum):
    DRAFT = "draft"  # editable by its author
    SIGNED = "signed"  # locked for good
    # A draft no notes key opens, set aside by who kept it (audited): stored as it was, not in the record.
    DISCARDED = "discarded"


class ImmutableNote(Exception):
    """An attempt to change a signed or discarded note version or to delete any note version."""


_DRAFT_SQL = "status = 'draft'"
# Only a signed version has (and needs) a signer; a discarded draft was never signed.
SIGNED_HAS_SIGNER_SQL = "status <> 'signed' OR (signed_at IS NOT NULL AND signed_by_id IS NOT NULL)"


class ConsultationNote(Base):
    """One version of a consultation's note. Signed and discarded versions are never updated, no version is
    ever deleted (see the module docstring); the SOAP text is one Fernet token, never plain text."""

    __tablename__ = "consultation_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"))
    version: Mapped[int]  # 1 for the first note, then one more per amendment
    # The signed version this one corrects; None for the first.
    amends_id: Mapped[int | None] = mapped_column(ForeignKey("consultation_note.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    status: Mapped[NoteStatus] = mapped_column(
        stored_enum(NoteStatus, 16),
        default=NoteStatus.DRAFT,
    )
    # The four SOAP fields as one Fernet token (clinic.notes.encryption): a database dump shows no text.
    encrypted_content: Mapped[str] = mapped_column(Text)
    # Saves of the draft so far: a form carries it back, so a save from a stale tab is refused.
    revision: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))

    consultation: Mapped[Consultation] = relationship()
    author: Mapped[StaffUser] = relationship(foreign_keys=[author_id])
    signed_by: Mapped[StaffUser | None] = relationship(foreign_keys=[signed_by_id])

    __table_args__ = (
        UniqueConstraint("consultation_id", "version", name="uq_consultation_note_version"),
        # At most one open draft per consultation, whatever races the service loses.
        Index(
            "uq_consultation_note_open_draft",
            "consultation_id",
            unique=True,
            sqlite_where=text(_DRAFT_SQL),
            postgresql_where=text(_DRAFT_SQL),
        ),
        CheckConstraint(SIGNED_HAS_SIGNER_SQL, name="signed_has_signer"),
    )


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_signed_notes(session: Session, _context, _instances) -> None:
    for note in session.deleted:
        if isinstance(note, ConsultationNote):
            raise ImmutableNote(f"consultation note {note.id} cannot be deleted")
    changed = (
        note for note in session.dirty if isinstance(note, ConsultationNote) and session.is_modified(note)
    )
    for note in changed:
        if (stored := _stored_status(session, note)) is not NoteStatus.DRAFT:
            raise ImmutableNote(f"{stored} consultation note {note.id} cannot be changed")


@event.listens_for(Session, "do_orm_execute")
def _refuse_delete_statements_on_notes(state: ORMExecuteState) -> None:
    table = getattr(state.statement, "table", None)
    if state.is_delete and getattr(table, "name", None) == ConsultationNote.__tablename__:
        raise ImmutableNote("consultation notes cannot be deleted")


def _stored_status(session: Session, note: ConsultationNote) -> NoteStatus:
    """The row's status as stored, before this flush's changes."""
    history = inspect(note).attrs.status.history
    if history.deleted or history.unchanged:
        return NoteStatus((history.deleted or history.unchanged)[0])
    # Status unloaded (expired, or set without loading): ask the database.
    with session.no_autoflush:
        return session.scalar(select(ConsultationNote.status).where(ConsultationNote.id == note.id))
