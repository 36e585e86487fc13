"""promises: commitments made on air, tracked and published (issue 22), and their history

Revision ID: 0019
Revises: 0018 (becomes 0018 when merged after the broadcast report's migration)
Create Date: 2026-12-01 23:30:00.000000
"""
import sqlalchemy as sa
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'promise',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('broadcast_id', sa.Integer(), sa.ForeignKey('broadcast.id'), nullable=False),
        sa.Column('question_id', sa.Integer(), sa.ForeignKey('question.id'), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('department_id', sa.Integer(), sa.ForeignKey('department.id'), nullable=True),
        sa.Column('responsible', sa.String(200), nullable=False),
        sa.Column('due_date', sa.Date(), nullable=False),
        sa.Column('stream_offset', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('evidence_url', sa.String(500), nullable=False),
        sa.Column('evidence_note', sa.Text(), nullable=False),
        sa.Column('published', sa.Boolean(), nullable=False),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('user.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
    )
    op.create_index('ix_promise_broadcast_id', 'promise', ['broadcast_id'])
    op.create_index('ix_promise_question_id', 'promise', ['question_id'])
    op.create_index('ix_promise_department_due', 'promise', ['department_id', 'due_date', 'id'])
    op.create_index('ix_promise_published_due', 'promise', ['published', 'due_date', 'id'])
    op.create_table(
        'promise_note',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('promise_id', sa.Integer(), sa.ForeignKey('promise.id'), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('author_id', sa.Integer(), sa.ForeignKey('user.id'), nullable=True),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
    )
    op.create_index('ix_promise_note_promise_id', 'promise_note', ['promise_id'])


def downgrade() -> None:
    op.drop_index('ix_promise_note_promise_id', 'promise_note')
    op.drop_table('promise_note')
    for name in ('ix_promise_published_due', 'ix_promise_department_due', 'ix_promise_question_id',
                 'ix_promise_broadcast_id'):
        op.drop_index(name, 'promise')
    op.drop_table('promise')
