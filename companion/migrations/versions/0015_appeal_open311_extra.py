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
    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('open311_extra', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.drop_column('open311_extra')
