"""Personal data: the consent's version, time and form; the opt-in to show a name; withdrawal; anonymisation

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-01 17:00:00
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa



revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

LEGACY_CONSENT = 'before-2026-12'  # the one-line consent of earlier versions


@contextmanager
def _foreign_keys_off():
    """SQLite rebuilds a table to drop a column, and with foreign keys enforced dropping the old table
    (which vote, appeal and appeal_event refer to) fails: keys off outside a transaction (as in 0008)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    bind.exec_driver_sql("COMMIT")
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
    # plain ADD COLUMN (SQLite adds a column without rebuilding the table)
    for table in ('question', 'appeal'):
        op.add_column(table, sa.Column('consent_version', sa.String(length=20), nullable=False, server_default=''))
        op.add_column(table, sa.Column('consent_at', sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column('consent_form', sa.String(length=8), nullable=False, server_default=''))
    # nobody agreed to publication before: public screens show no name until an asker opts in
    op.add_column('question', sa.Column('show_name', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('appeal', sa.Column('consent_withdrawn_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('appeal', sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True))

    # a consent ticked before keeps a record of it: the earlier text, at the time of the question
    op.execute(f"UPDATE question SET consent_version = '{LEGACY_CONSENT}', consent_at = created_at, "
               "consent_form = CASE WHEN channel = 'phone' THEN 'oral' WHEN channel = 'web' THEN 'web' ELSE 'api' END "
               "WHERE contact_consent")
    op.execute("UPDATE appeal SET consent_version = (SELECT q.consent_version FROM question q WHERE q.id = appeal.question_id), "
               "consent_at = (SELECT q.consent_at FROM question q WHERE q.id = appeal.question_id), "
               "consent_form = (SELECT q.consent_form FROM question q WHERE q.id = appeal.question_id) "
               "WHERE question_id IN (SELECT id FROM question WHERE contact_consent)")


def downgrade() -> None:
    with _foreign_keys_off():
        with op.batch_alter_table('appeal', schema=None) as batch_op:
            for column in ('anonymised_at', 'consent_withdrawn_at', 'consent_form', 'consent_at', 'consent_version'):
                batch_op.drop_column(column)
        with op.batch_alter_table('question', schema=None) as batch_op:
            for column in ('show_name', 'consent_form', 'consent_at', 'consent_version'):
                batch_op.drop_column(column)
