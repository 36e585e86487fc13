"""blocked senders: one rule for every channel (web, API, Telegram, WhatsApp, phone operator)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 23:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'blocked_sender',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(64), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('label', sa.String(80), nullable=False),
        sa.Column('reason', sa.String(300), nullable=False),
        sa.Column('question_id', sa.Integer(), sa.ForeignKey('question.id'), nullable=True),
        sa.Column('appeal_id', sa.Integer(), sa.ForeignKey('appeal.id'), nullable=True),
        sa.Column('blocked_by_id', sa.Integer(), sa.ForeignKey('user.id'), nullable=True),
        sa.Column('blocked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('unblocked_by_id', sa.Integer(), sa.ForeignKey('user.id'), nullable=True),
        sa.Column('unblocked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_blocked_sender_key', 'blocked_sender', ['key'])


def downgrade() -> None:
    op.drop_index('ix_blocked_sender_key', table_name='blocked_sender')
    op.drop_table('blocked_sender')
