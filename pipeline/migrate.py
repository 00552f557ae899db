"""Schema migrations with Alembic, driven from code so no alembic.ini is needed."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pipeline.db import get_engine


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "pipeline:migrations")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at ``database_url`` to ``revision``."""
    config = alembic_config(database_url)
    with get_engine(database_url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def pending_revisions(database_url: str) -> tuple[str | None, str | None]:
    """The database's revision and the newest one this code knows."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    with get_engine(database_url).connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, script.get_current_head()
