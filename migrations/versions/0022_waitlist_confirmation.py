"""Joining the waitlist is confirmed by mail, once: outbox messages may belong to a waitlist entry instead of
a consultation, and entries keep their join form's key, so a form sent twice joins once

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 05:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

_ONE_OWNER = "(consultation_id IS NULL) <> (waitlist_entry_id IS NULL)"


def upgrade():
    with op.batch_alter_table('waitlist_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('join_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('join_hash', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_waitlist_entry_join_key'), ['join_key'])
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waitlist_entry_id', sa.Integer(), nullable=True))
        batch_op.alter_column('consultation_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f('ix_outbox_message_waitlist_entry_id'), ['waitlist_entry_id'])
        batch_op.create_foreign_key(
            batch_op.f('fk_outbox_message_waitlist_entry_id_waitlist_entry'),
            'waitlist_entry',
            ['waitlist_entry_id'],
            ['id'],
            ondelete='CASCADE',
        )
        batch_op.create_check_constraint(batch_op.f('ck_outbox_message_one_owner'), _ONE_OWNER)


def downgrade():
    op.execute("DELETE FROM outbox_message WHERE consultation_id IS NULL")
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_outbox_message_one_owner'), type_='check')
        batch_op.drop_constraint(
            batch_op.f('fk_outbox_message_waitlist_entry_id_waitlist_entry'), type_='foreignkey'
        )
        batch_op.drop_index(batch_op.f('ix_outbox_message_waitlist_entry_id'))
        batch_op.alter_column('consultation_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('waitlist_entry_id')
    with op.batch_alter_table('waitlist_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_waitlist_entry_join_key'), type_='unique')
        batch_op.drop_column('join_hash')
        batch_op.drop_column('join_key')
