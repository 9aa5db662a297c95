"""An index on consultation.starts_at: the admin reports read the consultations starting in their weeks

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 20:20:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.create_index('ix_consultation_starts_at', ['starts_at'], unique=False)


def downgrade():
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.drop_index('ix_consultation_starts_at')
