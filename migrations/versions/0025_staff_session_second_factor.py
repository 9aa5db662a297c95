"""Staff sessions say whether they signed in with a second factor: where CLINIC_REQUIRE_ADMIN_MFA is turned
on, an admin's session opened with a password alone ends, as a sign-in without a factor would be refused

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 06:00:00.000000

"""
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    # The default stays, as the model's does: SQLite adds a NOT NULL column in place only with one.
    op.add_column(
        'staff_session',
        sa.Column('second_factor', sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # A session open now signed in as its audited sign-in (staff.login) says: its method is "password"
    # without a second step, else the code or the factor set up. One without such an event stays false, so
    # an admin's is never taken to have had a factor it may not have had.
    bind = op.get_bind()
    opened = bind.execute(sa.text("SELECT min(created_at) FROM staff_session WHERE ended_at IS NULL")).scalar()
    if opened is None:
        return
    logins = bind.execute(
        sa.text("SELECT details FROM audit_event WHERE action = 'staff.login' AND occurred_at >= :opened"),
        {"opened": opened},
    )
    with_factor = []
    for (details,) in logins:
        details = json.loads(details) if isinstance(details, str) else details
        if details.get("method") not in (None, "password") and isinstance(details.get("session"), int):
            with_factor.append(details["session"])
    if with_factor:
        bind.execute(
            sa.text("UPDATE staff_session SET second_factor = true WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": with_factor},
        )


def downgrade():
    with op.batch_alter_table('staff_session', schema=None) as batch_op:
        batch_op.drop_column('second_factor')
