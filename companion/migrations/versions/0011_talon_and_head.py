"""The talon and the head's decision: staff positions, the registration date, who accepted an appeal,
the sending system and its number, and an extension proposed for the head to decide

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-01 16:40:00
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


@contextmanager
def _foreign_keys_off():
    """SQLite rebuilds the appeal table to add its foreign keys; appeal_event refers to it, so keys go
    off outside a transaction for the rebuild, are checked, and come back on (as in 0008)."""
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
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.String(length=200), nullable=False, server_default=''))
    with _foreign_keys_off(), op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registered_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('accepted_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('source_system', sa.String(length=120), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('external_id', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('proposed_due_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('proposed_reason', sa.String(length=500), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('proposed_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_appeal_accepted_by_id_user', 'user', ['accepted_by_id'], ['id'])
        batch_op.create_foreign_key('fk_appeal_proposed_by_id_user', 'user', ['proposed_by_id'], ['id'])


def downgrade() -> None:
    with _foreign_keys_off(), op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.drop_constraint('fk_appeal_proposed_by_id_user', type_='foreignkey')
        batch_op.drop_constraint('fk_appeal_accepted_by_id_user', type_='foreignkey')
        for column in ('proposed_by_id', 'proposed_reason', 'proposed_due_date', 'external_id', 'source_system',
                       'accepted_by_id', 'registered_on'):
            batch_op.drop_column(column)
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('position')
