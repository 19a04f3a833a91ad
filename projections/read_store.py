"""Connection to the read tables (SQLite file by default, PostgreSQL in production)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Connection, Engine

from eosc_perf.private_files import private_file
from projections.tables import metadata, positions


def connect(url: str, *, pool_size: int = 5) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            private_file(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets readers work while the projector writes.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA case_sensitive_like=ON")  # search terms are case-sensitive
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]  # psycopg 3, as the event store
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def position(conn: Connection, name: str, *, for_update: bool = False) -> int:
    """`for_update` locks the row (PostgreSQL) so two instances of a projector take turns."""
    statement = select(positions.c.position).where(positions.c.name == name)
    value = conn.execute(statement.with_for_update() if for_update else statement).scalar()
    return value or 0


def set_position(conn: Connection, name: str, value: int) -> None:
    updated = conn.execute(positions.update().where(positions.c.name == name).values(position=value)).rowcount
    if not updated:
        conn.execute(positions.insert().values(name=name, position=value))
