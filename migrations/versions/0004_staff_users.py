"""Staff accounts

Staff sign in with an e-mail address and an argon2 password. Each account carries a random
session token (rotated at logout and password change) and its failed-login count and lock, kept
here so every web process enforces the same lockout.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 00:58:54.580611

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('staff_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.Enum('clinician', 'admin', name='staffrole', native_enum=False, length=16), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('session_token', sa.String(length=64), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinician.id'], name=op.f('fk_staff_user_clinician_id_clinician'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_user')),
    sa.UniqueConstraint('clinician_id', name=op.f('uq_staff_user_clinician_id')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_user_email')),
    sa.UniqueConstraint('session_token', name=op.f('uq_staff_user_session_token'))
    )


def downgrade():
    op.drop_table('staff_user')
