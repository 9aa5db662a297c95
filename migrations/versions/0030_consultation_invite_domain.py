"""Each consultation keeps the domain of its invites' UID (CLINIC_INVITE_DOMAIN when the first went out):
the UID was built from the setting at each sending, so a hospital that changed it sent updates and
cancellations that calendars could not match to the event they had. Consultations from before take it
from their next invite.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 17:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('consultation', sa.Column('invite_domain', sa.String(length=253), nullable=True))


def downgrade():
    # In place (SQLite 3.35 and later drop a column so): a copy of the table, as batch mode makes, could not
    # drop the old one under the rows whose foreign keys name it.
    op.drop_column('consultation', 'invite_domain')
