"""The locks that serialise changes: a clinician's time (bookings, moves, the walk-in queue) and one
consultation's status."""

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..models import Clinician, Consultation
from ..models.driver import Statement, driver_batch
from .errors import ChangeNotAllowed, NotFound


def lock_clinicians(session: Session, *clinician_ids: int) -> None:
    """Lock these clinicians' rows for the rest of the write transaction (see `begin_write`).

    Always in id order, so two transactions locking the same clinicians cannot deadlock. On SQLite
    the transaction's BEGIN IMMEDIATE already holds the database's single write lock.
    """
    driver_batch(session, *clinician_locks(session, *clinician_ids))


def clinician_locks(session: Session, *clinician_ids: int) -> list[Statement]:
    """`lock_clinicians`' statements, in id order, for a caller that sends them with the reads they guard
    (`driver_batch`); none on SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    return [(_LOCK_CLINICIAN, {"id": clinician_id}) for clinician_id in sorted(set(clinician_ids))]


_LOCK_CLINICIAN = select(Clinician.id).where(Clinician.id == bindparam("id")).with_for_update()


def locked_consultation(
    session: Session, consultation_id: int, other_clinician: int | None = None
) -> Consultation:
    """The consultation, re-read and row-locked after locking its clinician (and `other_clinician`).

    The row lock is the one `change_status` takes: every writer of a consultation's status waits for
    the others, so a cancel cannot overwrite a call that started a moment before (or the reverse).
    """
    consultation = session.get(Consultation, consultation_id)
    if consultation is None:
        raise NotFound("No such consultation.")
    clinician_id = consultation.clinician_id
    lock_clinicians(session, clinician_id, other_clinician or clinician_id)
    # Locked by a statement of its own: a refresh FOR UPDATE repeats the options the caller read it with,
    # whose outer joins (its companions) PostgreSQL cannot lock.
    session.execute(select(Consultation.id).where(Consultation.id == consultation_id).with_for_update())
    session.refresh(consultation)
    if consultation.clinician_id != clinician_id:
        raise ChangeNotAllowed("This booking was changed a moment ago; please reload and try again.")
    return consultation
