"""Indexes for the outbox's claim: the due index ends with id; unfinished messages by consultation

With (status, due_at) alone, reminders due at the same minute came back unordered, so every claim sorted
all the due rows and checked each for an earlier message it must wait for: 9 ms a claim with 4,300 due,
growing with the backlog. With id in the index a claim reads its batch in order and stops (0.2 ms). That
check itself, once thousands of messages had just been finished, ANDed bitmaps of the consultation's
messages and of every row the status index still listed as unfinished (73 ms a claim); a partial index of
the unfinished messages by consultation makes it a probe of a row or two (0.9 ms).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 07:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


UNFINISHED = "status IN ('pending', 'running')"


def upgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_status_due')
        batch_op.create_index('ix_outbox_message_status_due', ['status', 'due_at', 'id'], unique=False)
        batch_op.create_index(
            'ix_outbox_message_unfinished',
            ['consultation_id', 'id'],
            unique=False,
            postgresql_where=sa.text(UNFINISHED),
            sqlite_where=sa.text(UNFINISHED),
        )


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_unfinished')
        batch_op.drop_index('ix_outbox_message_status_due')
        batch_op.create_index('ix_outbox_message_status_due', ['status', 'due_at'], unique=False)
