"""What the appeal's record holds: type, form, repeat and collective flags, the ground of leaving it without
consideration (and of a rejection on the desk)

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01 16:40:00
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


@contextmanager
def _foreign_keys_off():
    """SQLite rebuilds a table to change it, and with foreign keys enforced, dropping the old appeal
    table (which appeal_event refers to) fails: keys off outside a transaction, rebuild, check, keys on
    (as in 0008)."""
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
    with _foreign_keys_off():
        _upgrade()


def downgrade() -> None:
    with _foreign_keys_off():
        _downgrade()


def _upgrade() -> None:
    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('appeal_type', sa.String(length=16), nullable=False, server_default='statement'))
        batch_op.add_column(sa.Column('form', sa.String(length=12), nullable=False, server_default='electronic'))
        batch_op.add_column(sa.Column('repeat', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('collective', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('leave_ground', sa.String(length=24), nullable=False, server_default=''))
        batch_op.create_index('ix_appeal_contact_category', ['contact', 'category_id', 'received_at'], unique=False)
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reject_ground', sa.String(length=24), nullable=False, server_default=''))
    # a caller's appeal was said aloud; the others came through the web, the API or Open311
    appeal = sa.table('appeal', sa.column('channel', sa.String), sa.column('form', sa.String))
    op.execute(appeal.update().where(appeal.c.channel == 'phone').values(form='oral'))


def _downgrade() -> None:
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.drop_column('reject_ground')
    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.drop_index('ix_appeal_contact_category')
        batch_op.drop_column('leave_ground')
        batch_op.drop_column('collective')
        batch_op.drop_column('repeat')
        batch_op.drop_column('form')
        batch_op.drop_column('appeal_type')
