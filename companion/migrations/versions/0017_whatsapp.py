"""whatsapp: 64-bit update and message ids (a digest of WhatsApp's message id), how an outbox notice was sent

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 22:00:00.000000
"""
import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('channel_update') as batch:
        batch.alter_column('update_id', existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)
        batch.alter_column('message_id', existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=True)
    op.add_column('outbox_message', sa.Column('sent_as', sa.String(80), nullable=False, server_default=''))


def downgrade() -> None:
    op.drop_column('outbox_message', 'sent_as')
    with op.batch_alter_table('channel_update') as batch:
        batch.alter_column('update_id', existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
        batch.alter_column('message_id', existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=True)
