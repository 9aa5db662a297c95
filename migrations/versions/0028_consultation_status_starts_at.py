"""Past consultations still booked are found without reading the history: /schedule/clashes lists those
missed in their clinician's absence, whatever day, which through the starts_at index alone read every
consultation of the scope back to the first on each drawing

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 12:10:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.create_index('ix_consultation_status_starts_at', ['status', 'starts_at'], unique=False)


def downgrade():
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.drop_index('ix_consultation_status_starts_at')
