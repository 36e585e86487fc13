"""the desk's pages: questions by broadcast, status and id (each column's pages read in id order, not sorted)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 17:10:00.000000

"""
from alembic import op


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # replaces (broadcast_id, status, position): the queue it ordered is a few rows, sorted as cheaply
    op.drop_index('ix_question_broadcast_status', table_name='question')
    op.create_index('ix_question_broadcast_status_id', 'question', ['broadcast_id', 'status', 'id'])


def downgrade() -> None:
    op.drop_index('ix_question_broadcast_status_id', table_name='question')
    op.create_index('ix_question_broadcast_status', 'question', ['broadcast_id', 'status', 'position'])
