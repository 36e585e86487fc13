"""The desk: the director's "clear the overlay" switch, and keyword rules that suggest a category

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE (no batch copy): other tables' foreign keys refer to both tables
    op.add_column('broadcast', sa.Column('overlay_cleared', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('category', sa.Column('keywords', sa.Text(), server_default='', nullable=False))


def downgrade() -> None:
    op.drop_column('category', 'keywords')
    op.drop_column('broadcast', 'overlay_cleared')
