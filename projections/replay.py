"""Rebuilding the read model from the event store into a scratch store, and comparing it with
the live read tables: the check that no event was lost or applied twice (`eosc-perf verify`)."""

from __future__ import annotations

import gc
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterator
from uuid import uuid4

from sqlalchemy import String, create_engine, event, select, text
from sqlalchemy.engine import Connection, Engine

from domain.result import Result
from projections import replay_workers
from projections.projector import Projector
from projections.sources import EventStoreSource
from read_model import READ_MODEL, counts, numbers, read_store
from read_model.handlers import FOUND_BY_KEY, HANDLERS
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
# results by id, and by benchmark, site, flavor or uploader through `SEARCH_INDEXES`.) A replay
# into an empty store creates them after the load, one sort per index instead of one index
# update per row: inserts into `results` cost about a third less.
READER_ONLY_INDEXES = (
    "results_site",
    "results_flavor",
    "results_listing_as_of",  # as-of and current listings (migrations 15 and 23)
    "result_numbers_as_of",  # handlers find numbers by their key (seq, path)
    # The events index's searches (the projector looks up only by item: events_index_item).
    "events_index_related",
    "events_index_type",
    "events_index_timestamp",
    "events_index_actor",
)
# Indexes of the handlers' searches by benchmark, site, flavor, uploader or tag (renames, removals,
# a user's erasure). A replay into an empty store drops them too, and creates them again before
# the first batch with an event of a type not in read_model/handlers.py `FOUND_BY_KEY`: a log of
# uploads and claims, the common kind, is loaded without them (7-12 % faster at 10^5 events),
# and a search never runs without its index.
SEARCH_INDEXES = (
    "results_benchmark_as_of",
    "results_site_as_of",
    "results_flavor_as_of",
    "results_by_uploader",
    "result_tags_tag",
)
# PostgreSQL: primary keys a replay into an empty store drops too, with what makes them again
# (SQLite keeps a table's key with the table). `result_number_values` is filled at the replay's
# end (`_count_values_at_end`), and its key is made after that, by one sort: inserting the
# counts of 10^5 uploads into the key took 0.3 s more. `result_tags` is found by its key only by
# the events in `KEY_OF_TAGS_NEEDED_BY` and those that search (`_searches`): a random place in it
# for each of an upload's tags cost 0.15 s of the server's time at 10^5 uploads.
KEY_OF_VALUES, KEY_OF_TAGS = "result_number_values_pkey", "result_tags_pkey"
DEFERRED_KEYS = (KEY_OF_VALUES, KEY_OF_TAGS)
KEY_OF_TAGS_NEEDED_BY = (Result.TagsReplaced,)
# SQLite: the triggers that stamp rows inserted without the position of their event
# (read_model/row_versions.py), on the tables a replay fills by read_model/rows.py `insert_rows`
# alone, which stamps every row itself. Each still ran once per row, doing nothing: half of the
# time of these inserts. A replay into an empty store creates them again after the load.
STAMPED_ON_INSERT = ("results_inserted", "result_numbers_inserted", "result_tags_inserted")
# Events per read and per transaction: fewer commits, and fewer look-ups per run of uploads. On
# SQLite each commit writes every page the batch changed, and a batch of random ids changes most
# leaves of the id indexes: alone, the replaying process did 10^5 events 8 % faster in batches of
# 20,000 than of 5,000. With worker processes preparing the uploads a batch ahead
# (projections/replay_workers.py), 10,000 was 3.5 % faster than 20,000 on SQLite (the workers get
# ahead sooner) and 3 % slower on PostgreSQL (docs/performance.md). A rebuild
# (projections/rebuild.py) also leaves up to one batch to replay while it holds a snapshot of the
# live store.
REPLAY_BATCH = 10_000
# Batches applied between two collections of cyclic garbage. A collection traverses every young
# object alive, the uploads the workers prepared a batch ahead among them: 25 ms each time at
# 10,000 events a batch, 2.5 % of the time of a replay of 10^5 events on PostgreSQL.
COLLECT_EVERY = 10
# From this many events to replay on, uploads are prepared in worker processes: below it, starting
# them (about 0.4 s) costs more than they save.
WORKERS_FROM = 20_000
# SQLite's page cache while a new store is built, in KiB (its default is 2 MiB): the results'
# and events index's b-trees take every insert at a random place (ids are random), and a page
# read again from the operating system costs more than the insert itself at 10^5 results.
BUILD_CACHE_KIB = 256 * 1024
# SQLite's page cache, in KiB, and its sorter's helper threads, while the deferred indexes are
# created at the end of a build (`_sorting_settings`).
SORT_CACHE_KIB = 4 * 1024
SORT_THREADS = 1


def rebuild(
    source: EventStoreSource,
    engine: Engine,
    progress: Callable[[int], None] = lambda n: None,
    stop: int | None = None,
    workers: int | None = None,
) -> Replay:
    """Replays the events after the store's position, up to `stop` (the head if None). `workers`:
    the processes that prepare the uploads (projections/replay_workers.py), none for a replay in
    this process alone; by default all cores but one, from WORKERS_FROM events on."""
    migrate(engine, quiet=True)
    projector = Projector(engine)
    started, count = time.perf_counter(), 0
    position = projector.position()
    if workers is None:
        many = (source.head() if stop is None else stop) - position >= WORKERS_FROM
        workers = replay_workers.default_workers() if many else 0
    if workers:
        postgres = engine.dialect.name == "postgresql"
        batches = replay_workers.prepared_batches(source, position, stop, postgres, workers)
    else:
        batches = source.batches(position, stop)
    fresh = _has_no_results(engine)
    deferred = _drop_deferred(engine) if fresh else {}
    searches = {name: deferred.pop(name) for name in SEARCH_INDEXES if name in deferred}
    key_of_tags = {name: deferred.pop(name) for name in [KEY_OF_TAGS] if name in deferred}
    key_of_values = {name: deferred.pop(name) for name in [KEY_OF_VALUES] if name in deferred}
    if fresh:
        _count_values_at_end(engine, on=True)
    if fresh and engine.dialect.name == "sqlite":
        _build_settings(engine, on=True)
    # Left on, the cyclic garbage collector traverses each batch's objects again and again while
    # they live (about 15 % of a replay's CPU). Reference counting frees them; the few cycles
    # (SQLAlchemy's: about 200 objects a batch) are collected every COLLECT_EVERY batches instead.
    gc.disable()
    try:
        for number, batch in enumerate(batches, 1):
            if searches and _searches(batch):
                with engine.begin() as conn:
                    _create(conn, searches | key_of_tags)
                searches = key_of_tags = {}
            elif key_of_tags and any(type(event) in KEY_OF_TAGS_NEEDED_BY for _, event in batch):
                with engine.begin() as conn:
                    _create(conn, key_of_tags)
                key_of_tags = {}
            projector.apply(batch)
            if number % COLLECT_EVERY == 0:
                gc.collect(1)
            count += len(batch)
            progress(count)
    finally:
        batches.close()  # a replay that failed stops its workers
        gc.enable()
        # Even after a failed replay: the store must not be left without its indexes and triggers.
        if fresh:
            _count_values_at_end(engine, on=False)
        if fresh and engine.dialect.name == "postgresql":
            _finish_at_once(engine, deferred | searches | key_of_tags, key_of_values)
        elif fresh:
            with engine.begin() as conn:
                _sorting_settings(conn)
                _create(conn, deferred | searches)  # SQLite keeps its keys: none deferred
                numbers.count_values(conn)  # after the number index, which it reads in order
            _build_settings(engine, on=False)
    return Replay(count, time.perf_counter() - started)


def _finish_at_once(engine: Engine, definitions: dict[str, tuple[str, ...]], key_of_values: dict) -> None:
    """The end of a replay into an empty PostgreSQL store, on three connections at once: the
    number index (the largest, built by the server's parallel workers too), the other indexes
    and keys, and the counts by value with their key. One after the other they left the cores
    idle a third of the time: 2.3 s instead of 2.7 at 10^5 uploads (docs/performance.md). They
    lock nothing the others wait for (an index build shares its table with reads and other
    builds), and each is a transaction of its own: a store that fails here is dropped anyway."""
    largest = {name: definitions.pop(name) for name in [LARGEST_INDEX] if name in definitions}

    def counted(conn: Connection) -> None:
        numbers.count_values(conn)
        _create(conn, key_of_values)  # after the counts

    steps = [partial(_create, definitions=largest), partial(_create, definitions=definitions), counted]
    with ThreadPoolExecutor(len(steps)) as pool:
        done = [pool.submit(_in_transaction, engine, step) for step in steps]
    for step in done:
        step.result()  # the first failure, once all have ended


# The deferred index built alone on a connection of its own at the end (`_finish_at_once`).
LARGEST_INDEX = "result_numbers_as_of"


def _in_transaction(engine: Engine, step: Callable[[Connection], None]) -> None:
    with engine.begin() as conn:
        step(conn)


def _searches(batch: list) -> bool:
    """Whether an event of the batch has a handler that finds rows by more than their keys."""
    return any(type(event) in HANDLERS and type(event) not in FOUND_BY_KEY for _, event in batch)


def _count_values_at_end(engine: Engine, on: bool) -> None:
    """A replay into an empty store keeps no `result_number_values` while it runs, and counts
    them by one grouping of `result_numbers` at its end (read_model/numbers.py): kept per run
    of uploads, their upserts were a fifth of PostgreSQL's time in a replay (docs/performance.md)."""
    if on:
        event.listen(engine, "connect", _values_counted_at_end)
    else:
        event.remove(engine, "connect", _values_counted_at_end)
    engine.dispose()  # the pool's connections are opened again, marked or not


def _values_counted_at_end(_dbapi_connection, record) -> None:
    record.info[numbers.VALUES_COUNTED_AT_END] = True


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


def _drop_deferred(engine: Engine) -> dict[str, tuple[str, ...]]:
    """Drops the indexes, (PostgreSQL) keys and (SQLite) insert triggers a replay creates after
    its load, or when it needs them; returns, by name, the statements that make each again as the
    migrations made it."""
    if engine.dialect.name == "postgresql":  # the scratch schema comes first in the search path
        catalog = "SELECT 'index', indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        wanted = {"index": READER_ONLY_INDEXES + SEARCH_INDEXES + DEFERRED_KEYS}
    else:
        catalog = "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')"
        wanted = {"index": READER_ONLY_INDEXES + SEARCH_INDEXES, "trigger": STAMPED_ON_INSERT}
    definitions = {}
    with engine.begin() as conn:
        found = [tuple(row) for row in conn.execute(text(catalog)) if row[1] in wanted.get(row[0], ())]
        for kind, name, table, sql in found:
            if name in DEFERRED_KEYS:  # the key's index, then the key made of it (named alike)
                conn.exec_driver_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
                definitions[name] = (
                    sql,
                    f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" PRIMARY KEY USING INDEX "{name}"',
                )
            else:
                conn.exec_driver_sql(f'DROP {kind.upper()} "{name}"')
                definitions[name] = (sql,)
    return definitions


def _create(conn: Connection, definitions: dict[str, tuple[str, ...]]) -> None:
    for statements in definitions.values():
        for statement in statements:
            conn.exec_driver_sql(statement)


def _sorting_settings(conn: Connection) -> None:
    """SQLite sorts the rows of each index it creates in runs of at most its page cache, merged
    after. The large cache of the load makes one run as large as the table, sorted with little
    use of the processor's caches; runs of a few MiB, sorted by a helper thread while the next
    is read, built the number index of 10^5 uploads in 0.53 s instead of 1.0 (docs/performance.md).
    The pool's connections are opened again after the build (`_build_settings`), with the
    defaults."""
    conn.exec_driver_sql(f"PRAGMA cache_size=-{SORT_CACHE_KIB}")
    conn.exec_driver_sql(f"PRAGMA threads={SORT_THREADS}")


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
            migrate(engine, quiet=True)
            _unlogged(engine)
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


def _unlogged(engine: Engine) -> None:
    """The scratch schema's tables, unlogged: PostgreSQL writes no write-ahead log for them.
    For the same reason as synchronous_commit off; a crash empties them, and a `verify` cut short
    is run again anyway. A replay of 10^5 events: about 1 s less of the server's CPU, 8 % faster
    (docs/performance.md). The store a rebuild switches to is not made here: it stays logged."""
    with engine.begin() as conn:
        tables = conn.exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").scalars()
        for table in tables.all():
            conn.exec_driver_sql(f'ALTER TABLE "{table}" SET UNLOGGED')


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


# Consumers' bookkeeping, not content: left out of the comparison.
BOOKKEEPING = ("positions", "counters", "parked_events")
# Rows fetched at a time while two stores are compared (a server-side cursor on PostgreSQL).
COMPARED_BATCH = 2000


@dataclass(frozen=True)
class Snapshot:
    """A read store as it is at one event position (the read model's): a transaction open on a
    connection of its own, in which its tables are read, a table at a time, in key order."""

    position: int
    conn: Connection
    counts_off: bool


def compared_tables() -> list[str]:
    return [table.name for table in metadata.sorted_tables if table.name not in BOOKKEEPING]


@contextmanager
def snapshot(engine: Engine) -> Iterator[Snapshot]:
    """The store in one transaction that sees one state of it, so a projector writing meanwhile
    cannot move some tables on and not others, kept open while the caller compares: the rows
    are streamed, not held (a comparison of 10^5 results held 1.2 GB)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        else:  # the driver starts no transaction for reads: one read transaction holds one WAL snapshot
            conn.exec_driver_sql("BEGIN")
        try:
            position = read_store.position(conn, READ_MODEL)
            yield Snapshot(position, conn, counts.disagree(conn))
        finally:
            conn.rollback()


def _key_columns(table) -> list[str]:
    """A row's key among the compared columns: its primary key, a result named by its id."""
    return ["id" if column.name == "seq" else column.name for column in table.primary_key.columns]


def _in_key_order(snapshot: Snapshot, table) -> Iterator[tuple[tuple, tuple]]:
    """(key, row) of every row of `table`, ordered by key as Python orders the keys: text by code
    point (PostgreSQL told to compare bytes, as SQLite does), rows without a key last. (Only the
    result id of `result_numbers`, outer-joined, can be missing: numbers of no result, in a
    damaged store. Other keys are ordered as their indexes hold them.)"""
    selection = _selection(table)
    by_name = {column.name: column for column in selection.selected_columns}
    order = []
    for name in _key_columns(table):
        column = by_name[name]
        if snapshot.conn.dialect.name == "postgresql" and isinstance(column.type, String):
            column = column.collate("C")
        order += [column.is_(None), column] if table is result_numbers and name == "id" else [column]
    at = [list(by_name).index(name) for name in _key_columns(table)]
    streamed = snapshot.conn.execution_options(stream_results=True, yield_per=COMPARED_BATCH)
    with streamed.execute(selection.order_by(*order)) as rows:  # closed too when the walk stops early
        for row in rows:
            row = tuple(row)
            yield tuple((row[i] is None, row[i]) for i in at), row


def _paired(live: Snapshot, rebuilt: Snapshot, name: str, unpublished: frozenset[int]) -> Iterator[tuple]:
    """(key, live rows, rebuilt rows) of table `name` where the two differ, walking both in key
    order at once. The events index's rows of events the relay could not publish are left out
    of the rebuild where the live tables lack them: a projector fed by Kafka never receives those
    events (one fed by the event store does, and then its rows are compared as any other)."""
    table = metadata.tables[name]
    mine, theirs = _grouped(_in_key_order(live, table)), _grouped(_in_key_order(rebuilt, table))
    here, there = next(mine, None), next(theirs, None)
    while here is not None or there is not None:
        if there is None or (here is not None and here[0] < there[0]):
            key, live_rows, rebuilt_rows = here[0], here[1], []
            here = next(mine, None)
        elif here is None or there[0] < here[0]:
            key, live_rows, rebuilt_rows = there[0], [], there[1]
            there = next(theirs, None)
            if name == events_index.name and key[0][1] in unpublished:
                continue
        else:
            key, live_rows, rebuilt_rows = here[0], here[1], there[1]
            here, there = next(mine, None), next(theirs, None)
        # Equal as they come (one row a key, but in a damaged store) needs no sort; otherwise
        # the rows of a key are compared in any order (repr: a NaN equals itself there).
        if live_rows != rebuilt_rows and sorted(live_rows, key=repr) != sorted(rebuilt_rows, key=repr):
            yield key, live_rows, rebuilt_rows


def _grouped(keyed: Iterator[tuple[tuple, tuple]]) -> Iterator[tuple[tuple, list[tuple]]]:
    """Rows of one key together (a key is unique but in a damaged store: numbers of no result)."""
    key, rows = None, []
    for next_key, row in keyed:
        if rows and next_key != key:
            yield key, rows
            rows = []
        key = next_key
        rows.append(row)
    if rows:
        yield key, rows


def compare(live: Snapshot, rebuilt: Snapshot, unpublished: frozenset[int] = frozenset()) -> dict[str, tuple[int, int]]:
    """Per read table whose content differs: (rows only live, rows only in the rebuild), rows
    of a key present in both but different counted on both sides. The `counters` are checked
    against the rows they count, in each store."""
    found = {}
    for name in compared_tables():
        only_live = only_rebuilt = 0
        for _key, live_rows, rebuilt_rows in _paired(live, rebuilt, name, unpublished):
            only_live, only_rebuilt = only_live + len(live_rows), only_rebuilt + len(rebuilt_rows)
        if only_live or only_rebuilt:
            found[name] = (only_live, only_rebuilt)
    if live.counts_off or rebuilt.counts_off:
        found["counters"] = (int(live.counts_off), int(rebuilt.counts_off))
    return found


def differences(live: Engine, rebuilt: Engine) -> dict[str, tuple[int, int]]:
    with snapshot(live) as mine, snapshot(rebuilt) as theirs:
        return compare(mine, theirs)


def differing_rows(
    live: Snapshot, rebuilt: Snapshot, name: str, unpublished: frozenset[int] = frozenset()
) -> Iterator[str]:
    """The rows of table `name` that differ, by key: each differing column with both values, or
    the side the row is on alone."""
    table = metadata.tables[name]
    columns = [column.name for column in _selection(table).selected_columns]
    key_columns = _key_columns(table)
    for key, live_rows, rebuilt_rows in _paired(live, rebuilt, name, unpublished):
        named = ", ".join(f"{column}={value}" for column, (_, value) in zip(key_columns, key))
        if not rebuilt_rows:
            yield f"{name} ({named}): only in the live tables"
        elif not live_rows:
            yield f"{name} ({named}): only in the replay"
        elif len(live_rows) == len(rebuilt_rows) == 1:
            for column, here, there in zip(columns, live_rows[0], rebuilt_rows[0]):
                if here != there:
                    yield f"{name} ({named}) {column}: live {_shown(here)}, replay {_shown(there)}"
        else:
            yield f"{name} ({named}): {len(live_rows)} rows live, {len(rebuilt_rows)} in the replay"


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
