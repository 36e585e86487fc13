"""broadcast report: the audience's peak (each serving process's count), report recipients, report e-mails in the outbox

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 23:10:00.000000
"""
import sqlalchemy as sa
from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audience_count',
        sa.Column('broadcast_id', sa.Integer(), sa.ForeignKey('broadcast.id'), primary_key=True),
        sa.Column('process', sa.String(64), primary_key=True),
        sa.Column('viewers', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column('broadcast', sa.Column('peak_viewers', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('broadcast', sa.Column('peak_viewers_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('broadcast', sa.Column('report_recipients', sa.Text(), nullable=False, server_default=''))
    with op.batch_alter_table('outbox_message') as batch:
        batch.add_column(sa.Column('broadcast_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('language', sa.String(2), nullable=False, server_default=''))
        batch.create_foreign_key('fk_outbox_message_broadcast_id_broadcast', 'broadcast', ['broadcast_id'], ['id'])
        batch.create_index('ix_outbox_message_broadcast_id', ['broadcast_id'])
        batch.alter_column('chat', existing_type=sa.String(64), type_=sa.String(254), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox_message') as batch:
        batch.alter_column('chat', existing_type=sa.String(254), type_=sa.String(64), existing_nullable=False)
        batch.drop_index('ix_outbox_message_broadcast_id')
        batch.drop_constraint('fk_outbox_message_broadcast_id_broadcast', type_='foreignkey')
        batch.drop_column('language')
        batch.drop_column('broadcast_id')
    op.drop_column('broadcast', 'report_recipients')
    op.drop_column('broadcast', 'peak_viewers_at')
    op.drop_column('broadcast', 'peak_viewers')
    op.drop_table('audience_count')
