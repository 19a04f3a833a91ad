"""The counts the projector keeps change in nearly every transaction, so each of their keys has
a version per transaction (read_model/row_versions.py STEADILY_CHANGED). As of any position a
read finds the one version of a key holding it, by the versions' intervals: on PostgreSQL their
GiST index (read-store migration 24), on SQLite an R*Tree (migration 25), not by reading every
version of the key."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import delete, insert, text
from sqlalchemy.engine import Connection, Engine

from read_model import row_versions
from read_model.migrations import migrate, schema_migrations
from read_model.tables import counters
from tests.support import store_indexes

VERSIONS = 3000  # of one count, each held for STEP positions
STEP = 10
COUNT = "visible_results"


def _stamped(conn: Connection, name: str, value: int, valid_from: int) -> None:
    """A count as of `valid_from` (`counters` gets the column from the migrations)."""
    conn.execute(
        text("INSERT INTO counters (name, value, valid_from) VALUES (:name, :value, :valid_from)"),
        {"name": name, "value": value, "valid_from": valid_from},
    )


def _filled(engine: Engine) -> Engine:
    """The count COUNT had the value i from position i * STEP to the next, then VERSIONS from
    VERSIONS * STEP on (as many versions as so many uploads one at a time leave); a second
    count had a version of its own in between."""
    versions = row_versions.versions_of(counters)
    with engine.begin() as conn:
        conn.execute(delete(counters))  # a new store's own counts (none changed yet: no versions)
        conn.execute(
            insert(versions),
            [{"name": COUNT, "value": i, "valid_from": i * STEP, "valid_to": (i + 1) * STEP} for i in range(VERSIONS)],
        )
        conn.execute(insert(versions).values(name="events", value=7, valid_from=0, valid_to=5 * STEP))
        _stamped(conn, COUNT, VERSIONS, VERSIONS * STEP)
        _stamped(conn, "events", 8, 5 * STEP)
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE counters_versions")
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> Iterator[Engine]:
    with store_indexes.empty_store(request.param, tmp_path) as engine:
        yield _filled(engine)


@pytest.fixture
def postgres_store(tmp_path: Path) -> Iterator[Engine]:
    with store_indexes.empty_store("postgresql", tmp_path) as engine:
        yield _filled(engine)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Engine]:
    with store_indexes.empty_store("sqlite", tmp_path) as engine:
        yield _filled(engine)


def _as_of(dialect: str, position: int, name: str = COUNT) -> str:
    """The count's value as of `position`, as the query service reads tables as of it."""
    prefix = row_versions.as_of_prefix(dialect, position, frozenset({"counters"}))
    return f"WITH {prefix} SELECT value FROM counters WHERE name = '{name}'"


def _value_as_of(engine: Engine, position: int, name: str = COUNT) -> list[int]:
    with engine.connect() as conn:
        return list(conn.exec_driver_sql(_as_of(engine.dialect.name, position, name)).scalars())


@pytest.mark.parametrize("position", [0, 9, 10, 15_004, 29_999, 30_000, 10**9, 2**31, 10**12])
def test_a_count_as_of_any_position_is_its_one_version_holding_it(store, position):
    assert _value_as_of(store, position) == [min(position // STEP, VERSIONS)]


def test_a_count_made_after_the_position_is_not_there_as_of_it(store):
    with store.begin() as conn:
        conn.execute(delete(counters).where(counters.c.name == "events"))
        _stamped(conn, "later", 1, 100)
    assert _value_as_of(store, 99, "later") == []
    assert _value_as_of(store, 100, "later") == [1]
    assert _value_as_of(store, 49, "events") == [7]


def test_versions_written_by_the_triggers_are_found_by_their_interval(store):
    """A version the projector's update leaves (the clock set, as it sets it) is found too."""
    with store.begin() as conn:
        row_versions.set_clock(conn, 10**6)
        conn.execute(counters.update().where(counters.c.name == COUNT).values(value=VERSIONS + 1))
        row_versions.set_clock(conn, None)
    assert _value_as_of(store, 10**6 - 1) == [VERSIONS]
    assert _value_as_of(store, 10**6) == [VERSIONS + 1]


def test_postgresql_finds_the_version_by_the_intervals_index(postgres_store):
    store = postgres_store
    for name in row_versions.STEADILY_CHANGED:
        assert "USING gist (int8range(valid_from, valid_to))" in store_indexes.definitions(store)[f"{name}_versions_at"]
    with store.connect() as conn:
        plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + _as_of("postgresql", 15_004)).scalars())
    assert "counters_versions_at" in plan
    assert "counters_pkey_versions" not in plan  # not every version of the key


def test_a_postgresql_store_from_before_gets_the_intervals_indexes(postgres_store):
    store = postgres_store
    with store.begin() as conn:
        for name in row_versions.STEADILY_CHANGED:
            conn.execute(text(f"DROP INDEX {name}_versions_at"))
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version == 24))
    assert migrate(store) == [24]
    assert {f"{name}_versions_at" for name in row_versions.STEADILY_CHANGED} <= set(store_indexes.definitions(store))


def test_sqlite_finds_the_version_by_the_intervals_r_tree(sqlite_store):
    store = sqlite_store
    with store.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + _as_of("sqlite", 15_004))]
        kept = conn.exec_driver_sql("SELECT count(*) FROM counters_versions_at").scalar()
    assert any("counters_versions_at VIRTUAL TABLE" in step for step in plan)
    # The versions table is read only past what the R*Tree holds, not from the position on.
    assert "SEARCH main.counters_versions USING INDEX counters_versions_valid (valid_to>?)" in plan
    assert _value_as_of(store, 15_004) == [1500]
    assert kept == VERSIONS + 1  # every version, each once


def test_sqlite_finds_a_version_ending_past_the_r_trees_coordinates(sqlite_store):
    """The R*Tree keeps 32-bit positions: a version ending past them is read from its table."""
    store = sqlite_store
    last = row_versions.RTREE_LAST
    with store.begin() as conn:
        row_versions.set_clock(conn, last + 10)
        conn.execute(counters.update().where(counters.c.name == COUNT).values(value=VERSIONS + 1))
        row_versions.set_clock(conn, None)
        kept = conn.exec_driver_sql("SELECT count(*) FROM counters_versions_at").scalar()
    assert kept == VERSIONS + 1  # the new version is not in it
    assert _value_as_of(store, last + 9) == [VERSIONS]
    assert _value_as_of(store, last + 10) == [VERSIONS + 1]
    assert _value_as_of(store, VERSIONS * STEP - 1) == [VERSIONS - 1]


def test_a_sqlite_store_from_before_gets_the_intervals_r_trees(sqlite_store):
    store = sqlite_store
    with store.begin() as conn:
        for name in row_versions.STEADILY_CHANGED:
            conn.exec_driver_sql(f"DROP TRIGGER {name}_versions_kept")
            conn.exec_driver_sql(f"DROP TABLE {name}_versions_at")
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version == 25))
    assert migrate(store) == [25]
    with store.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM counters_versions_at").scalar() == VERSIONS + 1
    assert _value_as_of(store, 15_004) == [1500]
    assert _value_as_of(store, 49, "events") == [7]


def test_the_r_tree_is_built_anew_when_its_versions_table_gains_a_column(sqlite_store):
    """A later migration's column reaches the versions table (row_versions.install): the R*Tree
    carries the columns too, so it is built again from the versions table, and written since."""
    store = sqlite_store
    with store.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE counters_versions ADD COLUMN note TEXT")
        row_versions.interval_tables(conn)
        columns = [row[1] for row in conn.exec_driver_sql("PRAGMA table_info(counters_versions_at)")]
        conn.exec_driver_sql(
            "INSERT INTO counters_versions (name, value, note, valid_from, valid_to) VALUES ('added', 3, 'n', 1, 2)"
        )
    assert columns == ["id", "valid_from", "valid_to", "name", "value", "note"]
    assert _value_as_of(store, 15_004) == [1500]
    assert _value_as_of(store, 1, "added") == [3]


def _held_none(engine: Engine, valid_from: int | None) -> list[list[int]]:
    """A version of a count written with `valid_from` and valid_to 100, as of positions around it."""
    with engine.begin() as conn:
        conn.execute(
            insert(row_versions.versions_of(counters)).values(
                name="held none", value=1, valid_from=valid_from, valid_to=100
            )
        )
    return [_value_as_of(engine, position, "held none") for position in (0, 99, 100, 120)]


@pytest.mark.parametrize("valid_from", [None, 100])
def test_a_version_that_held_no_position_is_as_of_none(store, valid_from):
    """Without valid_from, or with an empty interval: found as of no position, as the versions
    table reads it (the R*Tree would take a missing coordinate for 0)."""
    assert _held_none(store, valid_from) == [[], [], [], []]


def test_a_reversed_interval_is_written_on_sqlite_and_held_nowhere(sqlite_store):
    """The R*Tree refuses a reversed interval: the version stays out of it, not the write (the
    triggers never write one: valid_to is the clock, past valid_from; PostgreSQL's range index
    refuses it too, docs/audit.md)."""
    assert _held_none(sqlite_store, 150) == [[], [], [], []]
