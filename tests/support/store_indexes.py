"""A migrated, empty read store of either database, its indexes' definitions, and the plans of
statements on it: for tests of which index a read walks and of migrations that change indexes."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy.engine import Engine

from read_model import read_store
from read_model.migrations import migrate
from tests.support.legacy_databases import restored


@contextmanager
def empty_store(database: str, tmp_path: Path) -> Iterator[Engine]:
    """`database`: "sqlite" or "postgresql" (a database of its own on the test server)."""
    if database == "sqlite":
        engine = read_store.connect(f"sqlite:///{tmp_path / 'read.sqlite'}")
        migrate(engine, quiet=True)
        yield engine
        engine.dispose()
        return
    with restored("") as url:
        engine = read_store.connect(url)
        migrate(engine, quiet=True)
        yield engine
        engine.dispose()


def definitions(engine: Engine) -> dict[str, str]:
    """Every index of the store's schema, by name."""
    if engine.dialect.name == "postgresql":
        catalog = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    else:
        catalog = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    with engine.connect() as conn:
        return {name: definition for name, definition in conn.exec_driver_sql(catalog)}


def plan(engine: Engine, statement) -> str:
    """The plan of the statement, its values written in. On PostgreSQL, with the tables empty,
    neither a scan of the table nor a sort is planned where an index can serve instead."""
    sql = str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
            conn.exec_driver_sql("SET enable_sort = off")
            return "\n".join(conn.exec_driver_sql("EXPLAIN " + sql).scalars())
        return "\n".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
