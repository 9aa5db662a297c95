"""The mail telling a clinician that a booking was handed to a colleague is an outbox kind of its own,
mail.handed_over: it was stored as mail.cancellation, so the admin's outbox listed a cancellation of a
booking that stands. The handovers stored before are told by their key, which ends ':handed-over'.

The kind column is a plain string (native_enum=False, no check constraint): no DDL is needed.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 11:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

_HANDOVER = "idempotency_key LIKE :handover_key"
_HANDOVER_KEY = {"handover_key": "%:handed-over", "suffix": ":handed-over"}


def upgrade():
    op.execute(
        sa.text(
            f"UPDATE outbox_message SET kind = 'mail.handed_over' WHERE kind = 'mail.cancellation' AND {_HANDOVER}"
        ).bindparams(handover_key=_HANDOVER_KEY["handover_key"])
    )


def downgrade():
    # At 0026 a handover is a cancellation naming the clinician; its key says so, for an upgrade again.
    op.execute(
        sa.text(
            "UPDATE outbox_message SET kind = 'mail.cancellation', idempotency_key = CASE WHEN "
            f"{_HANDOVER} THEN idempotency_key ELSE idempotency_key || :suffix END "
            "WHERE kind = 'mail.handed_over'"
        ).bindparams(**_HANDOVER_KEY)
    )
