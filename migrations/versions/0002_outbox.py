"""Outbox messages for meetings, mails and reminders

One row per side effect of a booking change, written in the change's transaction and run by
the worker. The (status, due_at) index serves the claim query; consultation_id serves the
"what must go first" check and the dropping of reminders on reschedule and cancel.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 00:10:49.015604

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('outbox_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('meeting.create', 'meeting.update', 'meeting.cancel', 'mail.confirmation', 'mail.update', 'mail.cancellation', 'mail.reminder', 'reminders.plan', name='outboxkind', native_enum=False, length=32), nullable=False),
    sa.Column('audience', sa.String(length=16), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('pending', 'running', 'done', 'dead', 'cancelled', name='outboxstatus', native_enum=False, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('last_error', sa.String(length=80), nullable=True),
    sa.Column('outcome', sa.String(length=80), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_outbox_message_consultation_id_consultation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_message')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_message_idempotency_key'))
    )
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_message_consultation_id'), ['consultation_id'], unique=False)
        batch_op.create_index('ix_outbox_message_status_due', ['status', 'due_at'], unique=False)


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_status_due')
        batch_op.drop_index(batch_op.f('ix_outbox_message_consultation_id'))

    op.drop_table('outbox_message')
