"""rate limit indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:40:23.206670
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_question_source_hash'))
        batch_op.drop_index(batch_op.f('ix_question_viewer_token'))
        batch_op.create_index('ix_question_source_recent', ['source_hash', 'created_at'], unique=False)
        batch_op.create_index('ix_question_viewer_recent', ['viewer_token', 'created_at'], unique=False)

    with op.batch_alter_table('vote', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vote_voter'))
        batch_op.create_index('ix_vote_voter_recent', ['voter', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('vote', schema=None) as batch_op:
        batch_op.drop_index('ix_vote_voter_recent')
        batch_op.create_index(batch_op.f('ix_vote_voter'), ['voter'], unique=False)

    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.drop_index('ix_question_viewer_recent')
        batch_op.drop_index('ix_question_source_recent')
        batch_op.create_index(batch_op.f('ix_question_viewer_token'), ['viewer_token'], unique=False)
        batch_op.create_index(batch_op.f('ix_question_source_hash'), ['source_hash'], unique=False)

