"""appeal open311 extra: what an Open311 client sent beyond the appeal's fields (media_url, attributes, ids)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN: SQLite adds it without rebuilding the table (a rebuild trips the foreign keys
    # that refer to appeal)
    op.add_column('appeal', sa.Column('open311_extra', sa.JSON(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+ does it in place; the column has no index or key)
    op.drop_column('appeal', 'open311_extra')
