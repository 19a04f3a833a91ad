"""Rebuilding the read model from the event store into a scratch store, and comparing it with
the live read tables: the check that no event was lost or applied twice (`eosc-perf verify`)."""

from __future__ import annotations

import gc
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator
from uuid import uuid4

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import Connection, Engine

from projections.projector import Projector
from projections.sources import EventStoreSource
from read_model import READ_MODEL, counts, read_store
from read_model.migrations import migrate
from read_model.tables import events_index, metadata, result_numbers, results

# Columns left out of the comparison: `seq` is storage order, `json` the parsed twin of `json_text`.
IGNORED_COLUMNS = {"results": {"seq", "json"}, "result_numbers": {"seq"}}


@dataclass(frozen=True)
class Replay:
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


# Indexes that only readers use: no projector handler finds rows through them. (Handlers find
# results by id, benchmark, uploader, and by site or flavor through the indexes of migration
# 17, which start with (site_id, hidden) and (flavor_id, hidden).) A replay into an empty store
# creates them after the load, one sort per index instead of one index update per row: inserts
# into `results` cost about a third less.
READER_ONLY_INDEXES = (
    "results_visible_execution",
    "results_site",
    "results_flavor",  # both databases
    "results_listing",
    "results_benchmark_listing",  # PostgreSQL only (migration 3)
    "results_listing_as_of",
    "results_benchmark_as_of",  # as-of listings (migration 15)
    "result_numbers_as_of",  # handlers find numbers by their key (seq, path)
    # The events index's searches (the projector looks up only by item: events_index_item).
    "events_index_related",
    "events_index_type",
    "events_index_timestamp",
    "events_index_actor",
)
# Events per read and per transaction: fewer commits, and fewer look-ups per run of uploads.
REPLAY_BATCH = 5000
# SQLite's page cache while a new store is built, in KiB (its default is 2 MiB): the results'
# and events index's b-trees take every insert at a random place (ids are random), and a page
# read again from the operating system costs more than the insert itself at 10^5 results.
BUILD_CACHE_KIB = 256 * 1024


def rebuild(
    source: EventStoreSource, engine: Engine, progress: Callable[[int], None] = lambda n: None, stop: int | None = None
) -> Replay:
    """Replays the events after the store's position, up to `stop` (the head if None)."""
    migrate(engine, quiet=True)
    projector = Projector(engine)
    started, count = time.perf_counter(), 0
    fresh = _has_no_results(engine)
    deferred = _drop_reader_only_indexes(engine) if fresh else []
    if fresh and engine.dialect.name == "sqlite":
        _build_settings(engine, on=True)
    # Left on, the cyclic garbage collector traverses each batch's objects again and again while
    # they live (about 15 % of a replay's CPU). Reference counting frees them; the few cycles
    # (SQLAlchemy's) are collected once per batch instead.
    gc.disable()
    try:
        for batch in source.batches(projector.position(), stop):
            projector.apply(batch)
            gc.collect(1)
            count += len(batch)
            progress(count)
    finally:
        gc.enable()
        # Even after a failed replay: the store must not be left without its indexes.
        with engine.begin() as conn:
            for definition in deferred:
                conn.exec_driver_sql(definition)
        if fresh and engine.dialect.name == "sqlite":
            _build_settings(engine, on=False)
    return Replay(count, time.perf_counter() - started)


def _build_settings(engine: Engine, on: bool) -> None:
    """A new SQLite store is built with a large page cache and without waiting for the disk at
    each commit (synchronous=OFF). Safe: nobody reads the store before the build is done, and a
    crash during it leaves a store that `verify` deletes and `rebuild` never switches to. At the
    end, the store's pages are synced by a checkpoint at the default setting (NORMAL syncs the
    log, then the file), before a rebuild checks the store and points the services at it."""
    if on:
        event.listen(engine, "connect", _building)
    else:
        event.remove(engine, "connect", _building)
    engine.dispose()  # the pool's connections are opened again, with the settings of now
    if not on:
        read_store.checkpoint(engine)


def _building(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=OFF")
    dbapi_connection.execute(f"PRAGMA cache_size=-{BUILD_CACHE_KIB}")


def _has_no_results(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(results.c.seq).limit(1)).first() is None


def _drop_reader_only_indexes(engine: Engine) -> list[str]:
    """Drops them; returns their CREATE statements, as the migrations made them."""
    if engine.dialect.name == "postgresql":  # the scratch schema comes first in the search path
        catalog = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    else:
        catalog = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
    with engine.begin() as conn:
        found = [(name, definition) for name, definition in conn.execute(text(catalog)) if name in READER_ONLY_INDEXES]
        for name, _definition in found:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return [definition for _name, definition in found]


@contextmanager
def scratch_store(live: Engine) -> Iterator[Engine]:
    """An empty store beside the live one: a new schema on PostgreSQL, a temp file on SQLite."""
    if live.dialect.name == "postgresql":
        schema = f"replay_{uuid4().hex[:12]}"
        with live.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        # The scratch schema first, then public for extensions (pg_trgm's operator classes). Tables
        # are also named with the scratch schema explicitly: through the search path the live
        # tables in public would be visible, so they would count as existing and never be created.
        # synchronous_commit off: a scratch store need not survive a crash (it is dropped after).
        engine = create_engine(
            live.url,
            connect_args={"options": f"-csearch_path={schema},public -csynchronous_commit=off"},
            execution_options={"schema_translate_map": {None: schema}},
        )
        try:
            yield engine
        finally:
            engine.dispose()
            with live.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    else:
        with tempfile.TemporaryDirectory() as folder:
            engine = read_store.connect(f"sqlite:///{Path(folder) / 'replay.sqlite'}")
            event.listen(engine, "connect", _without_sync)
            try:
                yield engine
            finally:
                engine.dispose()


def _without_sync(dbapi_connection, _record) -> None:
    """A scratch file is deleted after the comparison: it need not survive a power cut, so SQLite
    need not wait for the disk at each commit and checkpoint."""
    dbapi_connection.execute("PRAGMA synchronous=OFF")


def _selection(table):
    """A table's compared columns; `result_numbers` names its result by id (a `seq` is a
    storage position, not the same in the rebuild)."""
    columns = [c for c in table.columns if c.name not in IGNORED_COLUMNS.get(table.name, set())]
    if table is not result_numbers:
        return select(*columns)
    return select(results.c.id, *columns).select_from(
        result_numbers.outerjoin(results, results.c.seq == result_numbers.c.seq)
    )


def _rows(conn: Connection, table) -> set[tuple]:
    return {tuple(row) for row in conn.execute(_selection(table))}


# Consumers' bookkeeping, not content: left out of the comparison.
BOOKKEEPING = ("positions", "counters", "parked_events")


@dataclass(frozen=True)
class Snapshot:
    """A read store's compared rows, all read at one event position (the read model's)."""

    position: int
    rows: dict[str, set[tuple]]  # table name -> rows of its compared columns
    counts_off: bool


def snapshot(engine: Engine) -> Snapshot:
    """Reads every compared table in one transaction that sees one state of the store, so a
    projector writing meanwhile cannot move some tables on and not others."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        else:  # the driver starts no transaction for reads: one read transaction holds one WAL snapshot
            conn.exec_driver_sql("BEGIN")
        position = read_store.position(conn, READ_MODEL)
        rows = {table.name: _rows(conn, table) for table in metadata.sorted_tables if table.name not in BOOKKEEPING}
        counts_off = counts.disagree(conn)
        conn.rollback()
    return Snapshot(position, rows, counts_off)


def compare(live: Snapshot, rebuilt: Snapshot) -> dict[str, tuple[int, int]]:
    """Per read table whose content differs: (rows only live, rows only in the rebuild).
    The `counters` are checked against the rows they count, in each store."""
    found = {}
    for name, mine in live.rows.items():
        theirs = rebuilt.rows[name]
        if mine != theirs:
            found[name] = (len(mine - theirs), len(theirs - mine))
    if live.counts_off or rebuilt.counts_off:
        found["counters"] = (int(live.counts_off), int(rebuilt.counts_off))
    return found


def without_unpublished(live: Snapshot, rebuilt: Snapshot, unpublished: set[int]) -> Snapshot:
    """`rebuilt` less the events index rows of events the relay could not publish, where the live
    tables lack them: a projector fed by Kafka never receives those events (a projector fed by
    the event store does, and then the rows are compared as any other)."""
    table = events_index.name
    at = [column.name for column in _selection(events_index).selected_columns].index("position")
    absent = unpublished - {row[at] for row in live.rows[table]}
    kept = {row for row in rebuilt.rows[table] if row[at] not in absent}
    return replace(rebuilt, rows={**rebuilt.rows, table: kept})


def differences(live: Engine, rebuilt: Engine) -> dict[str, tuple[int, int]]:
    return compare(snapshot(live), snapshot(rebuilt))


def _key_columns(table) -> list[str]:
    """A row's key among the compared columns: its primary key, a result named by its id."""
    return ["id" if column.name == "seq" else column.name for column in table.primary_key.columns]


def differing_rows(live: Snapshot, rebuilt: Snapshot, name: str) -> Iterator[str]:
    """The rows of table `name` that differ, by key: each differing column with both values, or
    the side the row is on alone."""
    table = metadata.tables[name]
    columns = [column.name for column in _selection(table).selected_columns]
    at = [columns.index(key) for key in _key_columns(table)]

    def by_key(rows: set[tuple]) -> dict[tuple, tuple]:
        return {tuple(row[i] for i in at): row for row in rows}

    mine, theirs = by_key(live.rows[name] - rebuilt.rows[name]), by_key(rebuilt.rows[name] - live.rows[name])
    for key in sorted(mine.keys() | theirs.keys(), key=repr):
        named = ", ".join(f"{column}={value}" for column, value in zip(_key_columns(table), key))
        if key not in theirs:
            yield f"{name} ({named}): only in the live tables"
        elif key not in mine:
            yield f"{name} ({named}): only in the replay"
        else:
            for column, here, there in zip(columns, mine[key], theirs[key]):
                if here != there:
                    yield f"{name} ({named}) {column}: live {_shown(here)}, replay {_shown(there)}"


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
