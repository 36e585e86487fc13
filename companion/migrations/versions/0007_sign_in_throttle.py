"""Sign-in throttled per (username, address) instead of locking the account

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 14:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_throttle',
    sa.Column('account', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('account', 'source')
    )
    op.create_index(op.f('ix_login_throttle_last_failed_at'), 'login_throttle', ['last_failed_at'], unique=False)
    # The account-wide lock goes. Plain DROP COLUMN (SQLite 3.35+), no batch copy: other tables'
    # foreign keys refer to this one.
    op.execute('ALTER TABLE "user" DROP COLUMN locked_until')
    op.execute('ALTER TABLE "user" DROP COLUMN failed_logins')


def downgrade() -> None:
    op.add_column('user', sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('user', sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
    op.drop_index(op.f('ix_login_throttle_last_failed_at'), table_name='login_throttle')
    op.drop_table('login_throttle')
