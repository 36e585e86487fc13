"""Database migrations (Alembic), run in the app's context: `python -m companion db upgrade`."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.autogenerate import compare_metadata

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> AlembicConfig:
    """Alembic's configuration pointing at companion/migrations."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(revision: str = "head") -> None:
    """Bring the database schema up to `revision` (call inside an app context)."""
    command.upgrade(alembic_config(), revision)


def downgrade(revision: str) -> None:
    """Take the schema back to `revision`."""
    command.downgrade(alembic_config(), revision)


def revision(message: str, rev_id: str | None = None) -> None:
    """Write a new migration from the difference between the models and the database."""
    command.revision(alembic_config(), message=message, autogenerate=True, rev_id=rev_id)


def current() -> None:
    """Print the database's revision."""
    command.current(alembic_config())


def pending_differences() -> list:
    """What the models have that the migrated database lacks (empty when they agree)."""
    from .extensions import db
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)
