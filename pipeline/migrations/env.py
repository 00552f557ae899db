"""Alembic environment: runs migrations on the connection wallet-sync hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from pipeline.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    from pipeline.db import get_engine

    with get_engine(config.get_main_option("sqlalchemy.url") or "").connect() as conn:
        _run(conn)
else:
    _run(connection)
