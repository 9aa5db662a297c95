"""A draft that no notes key opens can be discarded: its version is kept as stored, marked 'discarded',
and the note goes on with a new draft. Only a signed version needs a signer now (a discarded draft was
never signed), where the check asked it of every version but a draft.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 23:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None

TABLE = 'consultation_note'
CHECK = 'ck_consultation_note_signed_has_signer'
SIGNED_HAS_SIGNER = "status <> 'signed' OR (signed_at IS NOT NULL AND signed_by_id IS NOT NULL)"
DRAFT_HAS_NO_SIGNER = "status = 'draft' OR (signed_at IS NOT NULL AND signed_by_id IS NOT NULL)"
OPEN_DRAFT = 'uq_consultation_note_open_draft'
DRAFT = sa.text("status = 'draft'")
COLUMNS = (
    "id, consultation_id, version, amends_id, author_id, status, encrypted_content, revision, created_at,"
    " updated_at, signed_at, signed_by_id"
)


def upgrade():
    _replace_check(SIGNED_HAS_SIGNER)


def downgrade():
    # A discarded draft has no place in the older schema: it would pass for an open draft, beside the next.
    if op.get_bind().exec_driver_sql(f"SELECT 1 FROM {TABLE} WHERE status = 'discarded'").first():
        raise RuntimeError("discarded note drafts exist: this schema cannot hold them, so it is kept")
    _replace_check(DRAFT_HAS_NO_SIGNER)


def _replace_check(condition):
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f(CHECK), TABLE, type_='check')
        op.create_check_constraint(op.f(CHECK), TABLE, condition)
        return
    # SQLite cannot alter a CHECK, so the table is made anew; not as batch mode makes it (a copy, then the
    # old table dropped), which fails under the copied rows whose amends_id names the old table: the old one
    # is renamed out of the way first (SQLite renames those references with it), then dropped once copied.
    op.drop_index(OPEN_DRAFT, table_name=TABLE, sqlite_where=DRAFT)  # index names are the database's
    op.rename_table(TABLE, f'_{TABLE}_old')
    _create_table(condition)
    op.execute(f"INSERT INTO {TABLE} ({COLUMNS}) SELECT {COLUMNS} FROM _{TABLE}_old")
    op.drop_table(f'_{TABLE}_old')
    op.create_index(OPEN_DRAFT, TABLE, ['consultation_id'], unique=True, sqlite_where=DRAFT)


def _create_table(condition):
    """The table as 0007 made it, but for its check."""
    op.create_table(TABLE,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('amends_id', sa.Integer(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'signed', 'discarded', name='notestatus', native_enum=False, length=16), nullable=False),
    sa.Column('encrypted_content', sa.Text(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('signed_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint(condition, name=op.f(CHECK)),
    sa.ForeignKeyConstraint(['amends_id'], ['consultation_note.id'], name=op.f('fk_consultation_note_amends_id_consultation_note')),
    sa.ForeignKeyConstraint(['author_id'], ['staff_user.id'], name=op.f('fk_consultation_note_author_id_staff_user')),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_consultation_note_consultation_id_consultation')),
    sa.ForeignKeyConstraint(['signed_by_id'], ['staff_user.id'], name=op.f('fk_consultation_note_signed_by_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_note')),
    sa.UniqueConstraint('consultation_id', 'version', name='uq_consultation_note_version')
    )
