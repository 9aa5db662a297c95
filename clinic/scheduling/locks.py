"""The lock that serialises every change to a clinician's time: bookings, moves, and the walk-in queue."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Clinician


def lock_clinicians(session: Session, *clinician_ids: int) -> None:
    """Lock these clinicians' rows for the rest of the write transaction (see `begin_write`).

    Always in id order, so two transactions locking the same clinicians cannot deadlock. On SQLite
    the transaction's BEGIN IMMEDIATE already holds the database's single write lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for clinician_id in sorted(set(clinician_ids)):
        session.execute(select(Clinician.id).where(Clinician.id == clinician_id).with_for_update())
