"""Audit events carry their place in the chain (seq) and how they are hashed (hash_version)

Events from before are plain SHA-256 links (hash_version 0) and stay verifiable as such; every event
from now on is an HMAC under CLINIC_AUDIT_KEY (hash_version 1), whose first one seals the unkeyed
prefix through its prev_hash. seq numbers the chain without gaps, so a signed anchor outside the
database can record how many events there were. Indexes for the admin audit viewer's filters.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 18:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('hash_version', sa.SmallInteger(), nullable=False, server_default='0')
        )
    op.execute(
        "UPDATE audit_event SET seq = numbered.n FROM "
        "(SELECT id, row_number() OVER (ORDER BY id) AS n FROM audit_event) AS numbered "
        "WHERE audit_event.id = numbered.id"
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        # The default only marked the rows already there as unkeyed; new rows say how they are hashed.
        batch_op.alter_column('hash_version', existing_type=sa.SmallInteger(), server_default=None)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_event_seq'), ['seq'])
        batch_op.create_index('ix_audit_event_actor', ['actor', 'id'], unique=False)
        batch_op.create_index('ix_audit_event_action', ['action', 'id'], unique=False)
        batch_op.create_index('ix_audit_event_occurred_at', ['occurred_at'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_occurred_at')
        batch_op.drop_index('ix_audit_event_action')
        batch_op.drop_index('ix_audit_event_actor')
        batch_op.drop_constraint(batch_op.f('uq_audit_event_seq'), type_='unique')
        batch_op.drop_column('hash_version')
        batch_op.drop_column('seq')
