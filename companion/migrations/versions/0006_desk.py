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
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.add_column(sa.Column('overlay_cleared', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('category', schema=None) as batch_op:
        batch_op.add_column(sa.Column('keywords', sa.Text(), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('category', schema=None) as batch_op:
        batch_op.drop_column('keywords')
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.drop_column('overlay_cleared')
