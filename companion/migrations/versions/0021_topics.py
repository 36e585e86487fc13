"""topic tags beyond the single category: topics with keyword rules, each appeal's topics, re-application runs

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 12:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'topic',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name_kk', sa.String(100), nullable=False),
        sa.Column('name_ru', sa.String(100), nullable=False),
        sa.Column('name_en', sa.String(100), nullable=False),
        sa.Column('keywords', sa.Text(), server_default='', nullable=False),
        sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('version', sa.Integer(), server_default='1', nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'appeal_topic',
        sa.Column('appeal_id', sa.Integer(), sa.ForeignKey('appeal.id'), nullable=False),
        sa.Column('topic_id', sa.Integer(), sa.ForeignKey('topic.id'), nullable=False),
        sa.Column('state', sa.String(12), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), sa.ForeignKey('user.id'), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('appeal_id', 'topic_id'),
    )
    op.create_index('ix_appeal_topic_topic', 'appeal_topic', ['topic_id', 'state', 'appeal_id'])
    op.create_table(
        'topic_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), sa.ForeignKey('user.id'), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('top_id', sa.Integer(), nullable=False),
        sa.Column('below_id', sa.Integer(), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('changed', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(12), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('topic_run')
    op.drop_index('ix_appeal_topic_topic', table_name='appeal_topic')
    op.drop_table('appeal_topic')
    op.drop_table('topic')
