"""Walk-in callers who need an interpreter say for which language, kept with their place for staff

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 06:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade():
    # Callers who joined before were never asked: NULL, as for those who need no interpreter.
    with op.batch_alter_table('walk_in_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('interpreter_language', sa.String(length=60), nullable=True))


def downgrade():
    with op.batch_alter_table('walk_in_entry', schema=None) as batch_op:
        batch_op.drop_column('interpreter_language')
