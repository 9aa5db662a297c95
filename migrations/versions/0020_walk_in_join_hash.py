"""Walk-in entries keep a fingerprint of the join form's request with its key, so the key copied from the
page into another browser, or sent with other details, no longer hands over the place

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 12:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('walk_in_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('join_hash', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('walk_in_entry', schema=None) as batch_op:
        batch_op.drop_column('join_hash')
