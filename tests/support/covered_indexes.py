"""The indexes of the results that read-store migration 23 drops, made again as the migrations
before it made them: a store from before that migration."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from read_model.migrations import FIRST_RESULT_INDEXES, POSTGRES_LISTING_INDEXES


def restore(conn: Connection) -> int:
    """Makes them; returns how many (results_listing and results_benchmark_listing were
    PostgreSQL's only)."""
    statements = (*FIRST_RESULT_INDEXES, *(POSTGRES_LISTING_INDEXES if conn.dialect.name == "postgresql" else ()))
    for statement in statements:
        conn.exec_driver_sql(statement)
    return len(statements)
