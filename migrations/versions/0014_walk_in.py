"""The walk-in video queue: queues with their opening hours and staff on duty, and the people in them;
a patient's date of birth may be unknown (walk-in callers are not asked it)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 23:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('walk_in_queue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=True),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('open', 'paused', 'closed', name='queuestatus', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_walk_in_queue_department_id_department')),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_walk_in_queue_service_id_service')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_walk_in_queue')),
    sa.UniqueConstraint('slug', name=op.f('uq_walk_in_queue_slug'))
    )
    with op.batch_alter_table('walk_in_queue', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_walk_in_queue_department_id'), ['department_id'], unique=False)

    op.create_table('walk_in_hours',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('start_time', sa.Time(), nullable=False),
    sa.Column('end_time', sa.Time(), nullable=False),
    sa.ForeignKeyConstraint(['queue_id'], ['walk_in_queue.id'], name=op.f('fk_walk_in_hours_queue_id_walk_in_queue'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_walk_in_hours'))
    )
    with op.batch_alter_table('walk_in_hours', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_walk_in_hours_queue_id'), ['queue_id'], unique=False)

    op.create_table('walk_in_duty',
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinician.id'], name=op.f('fk_walk_in_duty_clinician_id_clinician'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['queue_id'], ['walk_in_queue.id'], name=op.f('fk_walk_in_duty_queue_id_walk_in_queue'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('queue_id', 'clinician_id', name=op.f('pk_walk_in_duty'))
    )

    op.create_table('walk_in_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=12), nullable=False),
    sa.Column('link_seed', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('needs_interpreter', sa.Boolean(), nullable=False),
    sa.Column('consent_notice_version', sa.String(length=40), nullable=False),
    sa.Column('consent_given_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('consent_method', sa.Enum('online', 'verbal', name='consentmethod', native_enum=False, length=16), nullable=False),
    sa.Column('status', sa.Enum('waiting', 'taken', 'in-call', 'completed', 'left', 'dropped', 'closed', name='entrystatus', native_enum=False, length=16), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('requeued', sa.Boolean(), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('taken_by', sa.Integer(), nullable=True),
    sa.Column('consultation_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_walk_in_entry_consultation_id_consultation')),
    sa.ForeignKeyConstraint(['queue_id'], ['walk_in_queue.id'], name=op.f('fk_walk_in_entry_queue_id_walk_in_queue'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['taken_by'], ['clinician.id'], name=op.f('fk_walk_in_entry_taken_by_clinician')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_walk_in_entry')),
    sa.UniqueConstraint('reference', name=op.f('uq_walk_in_entry_reference'))
    )
    with op.batch_alter_table('walk_in_entry', schema=None) as batch_op:
        batch_op.create_index('ix_walk_in_entry_queue_status_position', ['queue_id', 'status', 'position'], unique=False)

    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.alter_column('birth_date', existing_type=sa.Date(), nullable=True)


def downgrade():
    # Walk-in callers' patient records have no date of birth: they get the retention placeholder's.
    op.execute("UPDATE patient SET birth_date = '1900-01-01' WHERE birth_date IS NULL")
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.alter_column('birth_date', existing_type=sa.Date(), nullable=False)
    with op.batch_alter_table('walk_in_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_walk_in_entry_queue_status_position')
    op.drop_table('walk_in_entry')
    op.drop_table('walk_in_duty')
    with op.batch_alter_table('walk_in_hours', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_walk_in_hours_queue_id'))
    op.drop_table('walk_in_hours')
    with op.batch_alter_table('walk_in_queue', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_walk_in_queue_department_id'))
    op.drop_table('walk_in_queue')
