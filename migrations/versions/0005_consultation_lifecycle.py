"""Consultation lifecycle, companions, reception staff, patients without e-mail

Statuses take FHIR's codes (fulfilled, noshow, in-progress), each step of the lifecycle keeps its
time, a consultation may have a second participant (interpreter, relative or carer), reception
staff belong to a department, a patient booked by phone may have no e-mail address, and the
audit trail is indexed by record for the staff pages that show a consultation's history.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:07:12.133824

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


# Old status values and their FHIR codes.
RENAMED = {"completed": "fulfilled", "no_show": "noshow", "in_progress": "in-progress"}


def _rename_statuses(renames):
    for old, new in renames.items():
        op.execute(sa.text("UPDATE consultation SET status = :new WHERE status = :old").bindparams(old=old, new=new))


def upgrade():
    op.create_table('companion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.Enum('interpreter', 'relative', 'carer', name='companionrole', native_enum=False, length=16), nullable=False),
    sa.Column('join_token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_companion_consultation_id_consultation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_companion')),
    sa.UniqueConstraint('uuid', name=op.f('uq_companion_uuid'))
    )
    with op.batch_alter_table('companion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_companion_consultation_id'), ['consultation_id'], unique=False)

    # A consultation's history on the staff pages is read by entity.
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_entity', ['entity_type', 'entity_id'], unique=False)

    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('started_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True))
    _rename_statuses(RENAMED)

    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.alter_column('email',
               existing_type=sa.VARCHAR(length=254),
               nullable=True)

    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_staff_user_department_id_department'), 'department', ['department_id'], ['id'], ondelete='SET NULL')



def downgrade():
    _rename_statuses({new: old for old, new in RENAMED.items()})
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_staff_user_department_id_department'), type_='foreignkey')
        batch_op.drop_column('department_id')

    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.alter_column('email',
               existing_type=sa.VARCHAR(length=254),
               nullable=False)

    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.drop_column('ended_at')
        batch_op.drop_column('started_at')
        batch_op.drop_column('arrived_at')

    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_entity')

    with op.batch_alter_table('companion', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_companion_consultation_id'))

    op.drop_table('companion')
