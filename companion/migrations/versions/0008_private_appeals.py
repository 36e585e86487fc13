"""Private appeals: an access code per appeal, idempotency keys scoped to their sender, lookup rate counts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 10:00:00
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa

from companion.models import new_access_code


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


@contextmanager
def _foreign_keys_off():
    """SQLite rebuilds a table to change its unique constraints; with foreign keys enforced, dropping
    the old table (which vote, appeal and appeal_event refer to) fails. SQLite's own recipe: keys off
    outside a transaction, rebuild, check, keys on (PRAGMA foreign_keys is a no-op inside one)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    bind.exec_driver_sql("COMMIT")  # what the earlier revisions did is kept
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    bind.exec_driver_sql("BEGIN")
    yield
    problems = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"foreign keys broken by the rebuild: {problems[:5]}")
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("PRAGMA foreign_keys=ON")
    bind.exec_driver_sql("BEGIN")


def upgrade() -> None:
    op.create_table('rate_count',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('window', sa.Integer(), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'window')
    )
    with op.batch_alter_table('rate_count', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_count_window'), ['window'], unique=False)

    with _foreign_keys_off():
        with op.batch_alter_table('question', schema=None) as batch_op:
            batch_op.add_column(sa.Column('client_scope', sa.String(length=80), nullable=False, server_default=''))
            batch_op.drop_constraint('uq_question_client', type_='unique')
            batch_op.create_unique_constraint('uq_question_client', ['broadcast_id', 'client_scope', 'client_id'])
        with op.batch_alter_table('appeal', schema=None) as batch_op:
            batch_op.add_column(sa.Column('access_code', sa.String(length=16), nullable=False, server_default=''))
            batch_op.add_column(sa.Column('api_key_id', sa.Integer(), nullable=True))
            batch_op.create_foreign_key('fk_appeal_api_key_id_api_key', 'api_key', ['api_key_id'], ['id'])
            batch_op.drop_constraint('uq_appeal_client', type_='unique')
            batch_op.create_unique_constraint('uq_appeal_client', ['channel', 'api_key_id', 'client_id'])

    # the senders of existing questions, as new ones are scoped: a retry across the upgrade still matches
    op.execute("UPDATE question SET client_scope = 'v:' || viewer_token WHERE viewer_token IS NOT NULL")
    op.execute("UPDATE question SET client_scope = 'a:' || source_hash "
               "WHERE viewer_token IS NULL AND source_hash != '' AND channel = 'web'")
    bind = op.get_bind()
    appeal = sa.table('appeal', sa.column('id', sa.Integer), sa.column('access_code', sa.String))
    ids = [row[0] for row in bind.execute(sa.select(appeal.c.id))]
    for start in range(0, len(ids), 1000):
        bind.execute(appeal.update().where(appeal.c.id == sa.bindparam('row_id'))
                     .values(access_code=sa.bindparam('code')),
                     [{'row_id': i, 'code': new_access_code()} for i in ids[start:start + 1000]])

    # A moderator's reason for rejecting a question on the desk is internal: the public "left without
    # consideration" step keeps no note, the reason moves to an internal note.
    event = sa.table('appeal_event', sa.column('id', sa.Integer), sa.column('appeal_id', sa.Integer),
                     sa.column('at', sa.DateTime(timezone=True)), sa.column('actor_id', sa.Integer),
                     sa.column('action', sa.String), sa.column('from_status', sa.String),
                     sa.column('to_status', sa.String), sa.column('note', sa.Text), sa.column('public', sa.Boolean),
                     sa.column('detail', sa.JSON))
    question = sa.table('question', sa.column('id', sa.Integer), sa.column('status', sa.String))
    full = sa.table('appeal', sa.column('id', sa.Integer), sa.column('question_id', sa.Integer))
    rejected = (sa.select(full.c.id).join(question, question.c.id == full.c.question_id)
                .where(question.c.status == 'rejected'))
    desk_leaves = list(bind.execute(sa.select(event).where(event.c.action == 'leave', event.c.note != '',
                                                          event.c.appeal_id.in_(rejected))).mappings())
    if desk_leaves:
        bind.execute(event.insert(), [
            {'appeal_id': e['appeal_id'], 'at': e['at'], 'actor_id': e['actor_id'], 'action': 'comment',
             'from_status': e['to_status'], 'to_status': e['to_status'], 'note': e['note'], 'public': False,
             'detail': {}} for e in desk_leaves])
        bind.execute(event.update().where(event.c.id.in_([e['id'] for e in desk_leaves])).values(note=''))


def downgrade() -> None:
    with _foreign_keys_off():
        with op.batch_alter_table('appeal', schema=None) as batch_op:
            batch_op.drop_constraint('uq_appeal_client', type_='unique')
            batch_op.create_unique_constraint('uq_appeal_client', ['channel', 'client_id'])
            batch_op.drop_constraint('fk_appeal_api_key_id_api_key', type_='foreignkey')
            batch_op.drop_column('api_key_id')
            batch_op.drop_column('access_code')
        with op.batch_alter_table('question', schema=None) as batch_op:
            batch_op.drop_constraint('uq_question_client', type_='unique')
            batch_op.create_unique_constraint('uq_question_client', ['broadcast_id', 'client_id'])
            batch_op.drop_column('client_scope')

    with op.batch_alter_table('rate_count', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_count_window'))
    op.drop_table('rate_count')
