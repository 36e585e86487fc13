"""appeal files: the photos residents attach in a chat, fetched from the platform and kept with the appeal

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02 07:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'appeal_file',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('appeal_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('platform_id', sa.String(length=200), nullable=False),
        sa.Column('mime_type', sa.String(length=40), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['appeal_id'], ['appeal.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('appeal_id', 'platform_id', name='uq_appeal_file'),
    )
    op.create_index('ix_appeal_file_appeal_id', 'appeal_file', ['appeal_id'])


def downgrade() -> None:
    op.drop_index('ix_appeal_file_appeal_id', table_name='appeal_file')
    op.drop_table('appeal_file')
