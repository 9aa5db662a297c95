"""The waitlist: patients waiting for a freed time of a service, and the offers of freed times

An offer is unique per (entry, clinician, start): nobody is offered the same time twice.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 23:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('waitlist_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=12), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=True),
    sa.Column('window_starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('consent_notice_version', sa.String(length=40), nullable=False),
    sa.Column('consent_method', sa.Enum(
        'online', 'verbal', name='consentmethod', native_enum=False, length=16), nullable=False),
    sa.Column('consent_given_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('link_seed', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum(
        'waiting', 'booked', 'left', 'expired', name='waitliststatus', native_enum=False, length=16),
        nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinician.id'], name=op.f('fk_waitlist_entry_clinician_id_clinician')),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_waitlist_entry_service_id_service')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_entry')),
    sa.UniqueConstraint('reference', name=op.f('uq_waitlist_entry_reference'))
    )
    with op.batch_alter_table('waitlist_entry', schema=None) as batch_op:
        batch_op.create_index('ix_waitlist_entry_service_status', ['service_id', 'status', 'created_at'], unique=False)

    op.create_table('waitlist_offer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=12), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('freed_by_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum(
        'offered', 'taken', 'gone', 'expired', name='offerstatus', native_enum=False, length=16),
        nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('link_seed', sa.String(length=64), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinician.id'], name=op.f('fk_waitlist_offer_clinician_id_clinician')),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_waitlist_offer_consultation_id_consultation'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['entry_id'], ['waitlist_entry.id'], name=op.f('fk_waitlist_offer_entry_id_waitlist_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['freed_by_id'], ['consultation.id'], name=op.f('fk_waitlist_offer_freed_by_id_consultation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_waitlist_offer_service_id_service')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_offer')),
    sa.UniqueConstraint('reference', name=op.f('uq_waitlist_offer_reference')),
    sa.UniqueConstraint('entry_id', 'clinician_id', 'starts_at', name='uq_waitlist_offer_entry_time')
    )
    with op.batch_alter_table('waitlist_offer', schema=None) as batch_op:
        batch_op.create_index('ix_waitlist_offer_freed_by_id', ['freed_by_id'], unique=False)
        batch_op.create_index('ix_waitlist_offer_time', ['clinician_id', 'starts_at', 'status'], unique=False)
        batch_op.create_index('ix_waitlist_offer_status_expires', ['status', 'expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('waitlist_offer', schema=None) as batch_op:
        batch_op.drop_index('ix_waitlist_offer_status_expires')
        batch_op.drop_index('ix_waitlist_offer_time')
        batch_op.drop_index('ix_waitlist_offer_freed_by_id')
    op.drop_table('waitlist_offer')
    with op.batch_alter_table('waitlist_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_waitlist_entry_service_status')
    op.drop_table('waitlist_entry')
