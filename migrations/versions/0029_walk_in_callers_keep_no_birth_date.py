"""Walk-in callers anonymised before get their absent date of birth back: retention gave them the
placeholder date (1900-01-01) of a booking's anonymised patient, and an absent date of birth is what marks
their calls as walk-in calls (Consultation.is_walk_in), so their old calls read as bookings. A call is told
by its caller's place: the place names its latest call, and the audit events of each take and each call
called off name the place (walk_in_entry).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 17:30:00.000000

"""
from datetime import date

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

PLACEHOLDER = date(1900, 1, 1)
_patient = sa.table("patient", sa.column("id"), sa.column("birth_date", sa.Date), sa.column("anonymised_at"))
_consultation = sa.table("consultation", sa.column("id"), sa.column("patient_id"))
_place = sa.table("walk_in_entry", sa.column("consultation_id"))
_event = sa.table(
    "audit_event", sa.column("entity_type"), sa.column("entity_id"), sa.column("details", sa.JSON)
)


def upgrade():
    naming_a_place = sa.select(_event.c.entity_id).where(
        _event.c.entity_type == "consultation", _event.c.details["walk_in_entry"].as_string().is_not(None)
    )
    calls = sa.select(_consultation.c.patient_id).where(
        sa.or_(
            _consultation.c.id.in_(sa.select(_place.c.consultation_id)),
            sa.cast(_consultation.c.id, sa.String).in_(naming_a_place),
        )
    )
    op.execute(
        _patient.update()
        .where(
            _patient.c.anonymised_at.is_not(None),
            _patient.c.birth_date == PLACEHOLDER,
            _patient.c.id.in_(calls),
        )
        .values(birth_date=None)
    )


def downgrade():
    # Nothing to undo: 0028's code reads an absent date of birth as a walk-in caller's, as it should.
    pass
