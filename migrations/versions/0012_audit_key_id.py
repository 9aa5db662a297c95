"""Audit events name the key that signed them (key_id), so CLINIC_AUDIT_KEY can be rotated

Each keyed event from now on records the id of its key (the first bytes of an HMAC of a fixed text
under it, never the key), and `clinic audit verify` checks it with that key, the current one or a
fallback. Keyed events from before have none and verify under any configured key.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('key_id')
