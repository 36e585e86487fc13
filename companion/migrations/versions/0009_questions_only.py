"""Questions only (no name or no contact) are not statutory appeals; appeals forwarded at once are urgent

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 17:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # rows from before keep the rule they were registered under: every one an appeal on the clock
    op.add_column('appeal', sa.Column('statutory', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column('appeal', sa.Column('urgent', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+), no batch copy: other tables' foreign keys refer to this one
    op.execute('ALTER TABLE appeal DROP COLUMN urgent')
    op.execute('ALTER TABLE appeal DROP COLUMN statutory')
