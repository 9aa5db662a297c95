"""Walk-in entries keep their join form's key, so a form sent twice (a double click) joins once

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 22:25:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('walk_in_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('join_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_walk_in_entry_join_key'), ['join_key'])


def downgrade():
    with op.batch_alter_table('walk_in_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_walk_in_entry_join_key'), type_='unique')
        batch_op.drop_column('join_key')
