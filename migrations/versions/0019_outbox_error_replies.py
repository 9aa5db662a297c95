"""Outbox messages keep what the far end said of their last failure (an SMTP server's code and reply, a
provider's HTTP status), where they kept its kind alone: last_error widens from 80 to 300 characters

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 12:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.alter_column('last_error', existing_type=sa.String(length=80), type_=sa.String(length=300))


def downgrade():
    # What no longer fits is cut, as the kind alone was all that fitted before.
    op.execute("UPDATE outbox_message SET last_error = substr(last_error, 1, 80) WHERE length(last_error) > 80")
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.alter_column('last_error', existing_type=sa.String(length=300), type_=sa.String(length=80))
