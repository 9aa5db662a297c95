"""Consent and retention: the privacy notice each booking agreed to, and anonymised patients

A booking keeps the version of the privacy notice the patient agreed to, when, and how (online, or
verbally to staff on the phone); bookings from before have none. A patient record whose details the
retention job replaced with placeholders says when.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consent_notice_version', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('consent_given_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('consent_method', sa.Enum(
            'online', 'verbal', name='consentmethod', native_enum=False, length=16), nullable=True))
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_column('anonymised_at')
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.drop_column('consent_method')
        batch_op.drop_column('consent_given_at')
        batch_op.drop_column('consent_notice_version')
