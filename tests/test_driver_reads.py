"""Reads run by the SQLite driver itself (query_service/driver_reads.py) give the rows
SQLAlchemy's execution gives, whatever the values they are given."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, bindparam, select

from query_service.driver_reads import DriverRead
from read_model import read_store

metadata = MetaData()
runs = Table("runs", metadata, Column("id", Integer, primary_key=True), Column("started", DateTime))


def test_a_read_given_a_date_finds_what_sqlalchemy_finds(tmp_path: Path):
    engine = read_store.connect(f"sqlite:///{tmp_path / 'read.sqlite'}")
    started = datetime(2026, 12, 5, 10, 0, 0)  # no microseconds: sqlite3 alone would write them otherwise
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(runs.insert().values(id=1, started=started))
        by_start = DriverRead(select(runs.c.id).where(runs.c.started == bindparam("started")))
        by_id = DriverRead(select(runs.c.id).where(runs.c.id == bindparam("id")))
        with engine.connect() as conn:
            assert (
                by_start.rows(conn, {"started": started})
                == conn.execute(by_start.statement, {"started": started}).all()
            )
            assert [tuple(row) for row in by_start.rows(conn, {"started": started})] == [(1,)]
            assert [tuple(row) for row in by_id.rows(conn, {"id": 1})] == [(1,)]
    finally:
        engine.dispose()
