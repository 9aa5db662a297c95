"""Patients carry their e-mail address lower-cased (email_key, indexed), by which bookings are matched

Each booking keeps a patient record of its own, and the booking rules (one consultation at a time per
patient, a cap of future bookings per address) find a patient's bookings by address in any case,
inside the booking transaction. The key is lower-cased in Python (SQLite's lower() leaves non-ASCII
letters as they are); rows from before are filled with SQL lower(). Nothing looks patients up by the
address as typed any more, so its index goes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 17:25:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_key', sa.String(length=254), nullable=True))
        batch_op.drop_index('ix_patient_email')
        batch_op.create_index(batch_op.f('ix_patient_email_key'), ['email_key'], unique=False)
    op.execute("UPDATE patient SET email_key = lower(email) WHERE email IS NOT NULL")


def downgrade():
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_email_key'))
        batch_op.create_index('ix_patient_email', ['email'], unique=False)
        batch_op.drop_column('email_key')
