"""On SQLite, the outbox's indexes made again in the order the claim's plan needs, after 0022's batch rebuilt
the table and made them anew in no fixed order

SQLite's planner, without statistics, rates ix_outbox_message_consultation_id and the partial
ix_outbox_message_unfinished alike for the claim's probe of what a due message waits for, and takes one by
the order they were made: after 0022, in about half the databases, the probe went through the plain index,
reading every finished message of the consultation (tests/test_outbox_claims.py). 0019 mended the same
after its own batch; this does it again with 0019's own step.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 07:00:00.000000

"""
import importlib

# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

_0019 = importlib.import_module("migrations.versions.0019_outbox_error_replies")


def upgrade():
    _0019._indexes_in_their_order()


def downgrade():
    pass  # the same indexes, in an order nothing before needed
