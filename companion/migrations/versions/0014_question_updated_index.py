"""question updated index: the duplicate index reads a broadcast's changed questions by range

Revision ID: 0014
Revises: 0008
Create Date: 2026-12-01 17:40:00.000000
"""
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.create_index('ix_question_broadcast_updated', ['broadcast_id', 'updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.drop_index('ix_question_broadcast_updated')
