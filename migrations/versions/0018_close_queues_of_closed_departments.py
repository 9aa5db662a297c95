"""The walk-in queues of a closed department are closed: closing a department now closes its queues, and
those it left open before (shown as open, though nobody could reach them) are closed as it would have

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 10:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    # Callers still waiting in them are closed out by the worker's next round, as for any closed queue.
    op.execute(
        "UPDATE walk_in_queue SET status = 'closed' "
        "WHERE department_id IN (SELECT id FROM department WHERE NOT active)"
    )


def downgrade():
    pass  # which queues were open before cannot be told; closed queues are valid at 0017 too
