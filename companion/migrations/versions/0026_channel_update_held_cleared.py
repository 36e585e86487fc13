"""messages taken into an appeal keep no copy of the resident's words: `held` of done channel updates cleared

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04 19:40:00.000000

"""
import json

import sqlalchemy as sa
from alembic import op


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # what services.channels._used leaves of a message taken (or too old to be): only its album's id
    bind = op.get_bind()
    table = sa.table('channel_update', sa.column('id', sa.Integer), sa.column('state', sa.String),
                     sa.column('held', sa.JSON))
    rows = bind.execute(sa.select(table.c.id, table.c.held).where(table.c.state == 'done',
                                                                  table.c.held.is_not(None))).all()
    for row_id, held in rows:
        held = json.loads(held) if isinstance(held, str) else held
        album = (held or {}).get('album') if isinstance(held, dict) else None
        bind.execute(table.update().where(table.c.id == row_id).values(held={'album': album} if album else sa.null()))


def downgrade() -> None:
    pass  # the words are gone: nothing to put back
