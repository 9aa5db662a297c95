"""Consultation notes: one row per version of a SOAP note, the text encrypted

A note is a draft until signed; a correction is a new version pointing at the signed one it amends
(`amends_id`). The text of all four SOAP fields is one Fernet token (`encrypted_content`) under
CLINIC_NOTES_KEY, which is never in the database. At most one draft may be open per consultation
(a partial unique index on both dialects); a signed row names who signed it and when.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 15:14:59.536738

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

DRAFT = sa.text("status = 'draft'")


def upgrade():
    op.create_table('consultation_note',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('amends_id', sa.Integer(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'signed', name='notestatus', native_enum=False, length=16), nullable=False),
    sa.Column('encrypted_content', sa.Text(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('signed_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status = 'draft' OR (signed_at IS NOT NULL AND signed_by_id IS NOT NULL)", name=op.f('ck_consultation_note_signed_has_signer')),
    sa.ForeignKeyConstraint(['amends_id'], ['consultation_note.id'], name=op.f('fk_consultation_note_amends_id_consultation_note')),
    sa.ForeignKeyConstraint(['author_id'], ['staff_user.id'], name=op.f('fk_consultation_note_author_id_staff_user')),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_consultation_note_consultation_id_consultation')),
    sa.ForeignKeyConstraint(['signed_by_id'], ['staff_user.id'], name=op.f('fk_consultation_note_signed_by_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_note')),
    sa.UniqueConstraint('consultation_id', 'version', name='uq_consultation_note_version')
    )
    with op.batch_alter_table('consultation_note', schema=None) as batch_op:
        batch_op.create_index('uq_consultation_note_open_draft', ['consultation_id'], unique=True, sqlite_where=DRAFT, postgresql_where=DRAFT)


def downgrade():
    with op.batch_alter_table('consultation_note', schema=None) as batch_op:
        batch_op.drop_index('uq_consultation_note_open_draft', sqlite_where=DRAFT, postgresql_where=DRAFT)

    op.drop_table('consultation_note')
