"""channel updates: an update_id is unique for a day and a chat, not for ever (Telegram starts its update_id
again after a week without updates, and a new bot token starts it again: a new message was taken for a
repeat and dropped)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 05:00:00.000000

"""
from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('channel_update') as batch:
        batch.drop_constraint('uq_channel_update', type_='unique')
        batch.create_index('ix_channel_update_chat_update', ['channel', 'chat', 'update_id'])


def downgrade() -> None:
    with op.batch_alter_table('channel_update') as batch:
        batch.drop_index('ix_channel_update_chat_update')
        batch.create_unique_constraint('uq_channel_update', ['channel', 'update_id'])
