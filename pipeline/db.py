"""Engines and sessions, one engine per database URL and process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


@cache
def get_engine(url: str) -> Engine:
    """The process-wide engine for ``url``, created on first use."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # No pre-ping: it costs a round trip per transaction. A connection the
    # server dropped fails its statement once, SQLAlchemy then discards the
    # pool's older connections, and the message is retried.
    return create_engine(url, pool_size=16, max_overflow=48)


def _sqlite_engine(url: str) -> Engine:
    # pysqlite's own transaction handling starts transactions lazily, so two
    # threads that both read before writing deadlock on the upgrade. Starting
    # every transaction with BEGIN IMMEDIATE serialises writers up front instead,
    # and busy_timeout lets them wait for each other.
    engine = create_engine(
        url, connect_args={"timeout": 60, "check_same_thread": False}, pool_size=16
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@cache
def _session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def connection_scope(url: str) -> Iterator[Connection]:
    """A Core connection in a transaction that commits on success.

    For the per-card path, where an ORM session's bookkeeping cost more CPU
    than the statements themselves.
    """
    with get_engine(url).begin() as connection:
        yield connection


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    with _session_factory(url).begin() as session:
        yield session
