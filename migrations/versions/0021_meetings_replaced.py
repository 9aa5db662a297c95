"""Consultations count the meetings they had replaced: a companion taken out of a call moves it to a new
meeting, which providers that find meetings by a key of ours must tell apart from the one it replaced

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 15:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    # Every consultation so far has had one meeting. The default stays (the model has it too): SQLite adds a
    # NOT NULL column in place only with one, and taking it off again would copy the table.
    op.add_column(
        'consultation', sa.Column('meetings_replaced', sa.Integer(), nullable=False, server_default='0')
    )


def downgrade():
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.drop_column('meetings_replaced')
