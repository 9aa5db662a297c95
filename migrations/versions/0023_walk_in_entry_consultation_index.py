"""Walk-in entries are found by their call: each schedule row asks whether its call's caller asked for an
interpreter, which without an index read every entry once per row

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 05:45:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('walk_in_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_walk_in_entry_consultation_id'), ['consultation_id'], unique=False)


def downgrade():
    with op.batch_alter_table('walk_in_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_walk_in_entry_consultation_id'))
