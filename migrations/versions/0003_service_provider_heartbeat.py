"""Per-service meeting provider; worker heartbeats

A service may use another video provider than the hospital's default (NULL keeps the default).
Each outbox worker upserts its row every tick: /healthz reports the live ones, and on SQLite a
second worker refuses to start while another one's beat is fresh.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 00:51:37.474317

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('worker_heartbeat',
    sa.Column('worker_id', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('beat_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('worker_id', name=op.f('pk_worker_heartbeat'))
    )
    with op.batch_alter_table('worker_heartbeat', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_worker_heartbeat_beat_at'), ['beat_at'], unique=False)

    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.add_column(sa.Column('meeting_provider', sa.String(length=16), nullable=True))



def downgrade():
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.drop_column('meeting_provider')

    with op.batch_alter_table('worker_heartbeat', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_worker_heartbeat_beat_at'))

    op.drop_table('worker_heartbeat')
