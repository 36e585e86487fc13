"""Merges that can be undone: what each merge carried, and the question a moved vote was cast for

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-01 17:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('question_merge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('broadcast_id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('source_status', sa.String(length=16), nullable=False),
    sa.Column('source_position', sa.Integer(), nullable=True),
    sa.Column('askers', sa.Integer(), nullable=False),
    sa.Column('absorbed', sa.JSON(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcast.id'], ),
    sa.ForeignKeyConstraint(['source_id'], ['question.id'], ),
    sa.ForeignKeyConstraint(['target_id'], ['question.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('question_merge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_question_merge_source_id'), ['source_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_question_merge_target_id'), ['target_id'], unique=False)
    # a plain ADD COLUMN (no foreign key), so SQLite does not rebuild the vote table
    op.add_column('vote', sa.Column('origin_question_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('vote', schema=None) as batch_op:
        batch_op.drop_column('origin_question_id')
    with op.batch_alter_table('question_merge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_question_merge_target_id'))
        batch_op.drop_index(batch_op.f('ix_question_merge_source_id'))
    op.drop_table('question_merge')
