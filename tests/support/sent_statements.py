"""The statements a read store's engine runs, for tests that check which statement a view chose."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from query_service.driver_reads import DriverRead


def sent_statements(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that gets each statement the engine's connections run from now on: those
    SQLAlchemy sends (their text as sent), and those the driver runs by itself
    (query_service/driver_reads.py: their text as SQLAlchemy compiles it for the engine; one
    it hands to SQLAlchemy after all, as of a past position, shows twice)."""
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda conn, cursor, statement, *rest: sent.append(statement))
    rows = DriverRead.rows

    def recorded(read: DriverRead, conn, parameters=None):
        if conn.engine is engine:
            sent.append(str(read.statement.compile(dialect=conn.dialect)))
        return rows(read, conn, parameters)

    monkeypatch.setattr(DriverRead, "rows", recorded)
    return sent
