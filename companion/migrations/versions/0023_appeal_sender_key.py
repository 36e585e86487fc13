"""appeals: the blocking key of a sender whose number is not kept (a caller who did not consent), so staff can
block them

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 07:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN, as 0015: a rebuild of appeal on SQLite trips the foreign keys that refer to it
    op.add_column('appeal', sa.Column('sender_key', sa.String(length=48), server_default='', nullable=False))


def downgrade() -> None:
    op.drop_column('appeal', 'sender_key')
