"""channels and outbox: Telegram chats and updates (idempotency), the outbox of notices, attachments of an appeal

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 21:00:00.000000
"""
import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('appeal', sa.Column('attachments', sa.JSON(), nullable=True))
    op.create_table(
        'outbox_message',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('appeal_id', sa.Integer(), sa.ForeignKey('appeal.id'), nullable=True),
        sa.Column('channel', sa.String(8), nullable=False),
        sa.Column('chat', sa.String(64), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('state', sa.String(8), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.String(300), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_outbox_due', 'outbox_message', ['state', 'next_attempt_at'])
    op.create_index('ix_outbox_message_appeal_id', 'outbox_message', ['appeal_id'])
    op.create_table(
        'channel_chat',
        sa.Column('channel', sa.String(8), primary_key=True),
        sa.Column('chat', sa.String(64), primary_key=True),
        sa.Column('language', sa.String(2), nullable=False),
        sa.Column('consent', sa.String(8), nullable=False),
        sa.Column('consent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'channel_update',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('channel', sa.String(8), nullable=False),
        sa.Column('update_id', sa.Integer(), nullable=False),
        sa.Column('chat', sa.String(64), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('state', sa.String(8), nullable=False),
        sa.Column('held', sa.JSON(), nullable=True),
        sa.Column('appeal_id', sa.Integer(), sa.ForeignKey('appeal.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('channel', 'update_id', name='uq_channel_update'),
        sa.UniqueConstraint('channel', 'chat', 'message_id', name='uq_channel_message'),
    )
    op.create_index('ix_channel_update_appeal_id', 'channel_update', ['appeal_id'])


def downgrade() -> None:
    op.drop_index('ix_channel_update_appeal_id', 'channel_update')
    op.drop_table('channel_update')
    op.drop_table('channel_chat')
    op.drop_index('ix_outbox_message_appeal_id', 'outbox_message')
    op.drop_index('ix_outbox_due', 'outbox_message')
    op.drop_table('outbox_message')
    op.drop_column('appeal', 'attachments')
