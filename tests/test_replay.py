"""A replay (`eosc-perf verify`) builds the same read tables as projecting event by event, on
SQLite and PostgreSQL. The replay's own ways (the reader-only indexes created after the load,
the numbers' counts by value made at its end, batches of 10,000 events, uploads prepared in
worker processes, COPY on PostgreSQL) change only its speed: tricky documents
(unicode, escapes, big integers, floats, nested arrays) are stored exactly as uploaded."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
from collections import Counter
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import event, func, inspect, select, text
from sqlalchemy.engine import Engine

from domain.actor import Actor
from domain.personal_data import PERSONAL_TOPICS
from domain.result import Result
from domain.site import Site
from http_api import documents
from projections import replay_workers
from projections.projector import Projector
from projections.replay import (
    DEFERRED_KEYS,
    READER_ONLY_INDEXES,
    REPLAY_BATCH,
    SEARCH_INDEXES,
    STAMPED_ON_INSERT,
    differences,
    rebuild,
    scratch_store,
)
from projections.sources import EventStoreSource
from read_model import READ_MODEL, counts, numbers, read_store, row_versions
from read_model.migrations import migrate
from read_model.results import PreparedUpload
from read_model.rows import insert_rows
from read_model.tables import counters, parked_events, result_number_values, results
from tests.support import catalog, poisons
from tests.support.api import BACKENDS
from tests.support.json_reference import TRICKY_DOCUMENTS

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def store_for(backend: str, live: Engine) -> Iterator[Engine]:
    """An empty read store of the backend: a scratch file beside the embedded store, or a
    scratch schema in the local PostgreSQL server (dropped afterwards)."""
    if backend == "embedded":
        with scratch_store(live) as engine:
            yield engine
        return
    url = (
        subprocess.run(
            [str(ROOT / "deploy" / "local" / "postgres.sh"), "url"], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    server = read_store.connect(url)
    try:
        with scratch_store(server) as engine:
            yield engine
    finally:
        server.dispose()


@pytest.fixture
def history(embedded_api) -> EventStoreSource:
    """An event store with each kind of event the read model handles, a result's life included."""
    api = embedded_api
    user, someone, admin = api.register("alice"), api.register("bob"), api.register("root", admin=True)
    where = catalog.setup(api, user, admin)
    other = catalog.setup(api, user, admin)
    tag = catalog.tag(api, user)
    uploaded = [catalog.upload(api, user, where, document, tags=[tag["id"]]) for document in TRICKY_DOCUMENTS]
    uploaded += [catalog.upload(api, someone, other, {"n": n}) for n in range(3)]
    assert api.put(f"/results/{uploaded[0]['id']}/tags", user, json={"tags_ids": []}).status_code == 204
    assert api.put(f"/results/{uploaded[3]['id']}/tags", user, json={"tags_ids": [tag["id"]]}).status_code == 204
    catalog.claim(api, someone, uploaded[1]["id"])
    assert api.delete(f"/results/{uploaded[2]['id']}", admin).status_code == 204
    assert api.put(f"/sites/{where.site['id']}", admin, json={"name": "renamed", "address": "moved"}).status_code == 204
    assert api.delete(f"/sites/{other.site['id']}", admin).status_code == 204  # its results go with it
    return EventStoreSource(embedded_api.service.store)


def project_event_by_event(source: EventStoreSource, engine: Engine) -> None:
    """As the live projector does under light load: one event per transaction, no bulk handler."""
    migrate(engine)
    projector = Projector(engine, bulk_handlers={})
    for batch in source.batches(0):
        for item in batch:
            projector.apply([item])


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "uploads-in-a-worker"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_replay_builds_what_projecting_event_by_event_builds(backend, workers, embedded_api, history):
    live = embedded_api.service.projection.consumer.engine
    with store_for(backend, live) as one_by_one, store_for(backend, live) as replayed:
        project_event_by_event(history, one_by_one)
        batch = catalog_events(history) if workers else REPLAY_BATCH
        replay = rebuild(EventStoreSource(history.store, batch), replayed, workers=workers)
        assert replay.events == history.head()
        assert differences(one_by_one, replayed) == {}
        # The indexes dropped for the load are back, as the migrations define them. (PostgreSQL
        # has them all: a name left stale by a later migration would be caught here.)
        assert indexes(replayed) == indexes(one_by_one)
        if backend == "postgres":
            names = {name for table in indexes(replayed).values() for name, _, _ in table}
            assert set(READER_ONLY_INDEXES + SEARCH_INDEXES + DEFERRED_KEYS) <= names
        # So are the insert triggers, and no row was left without the position of its event.
        assert triggers(replayed) == triggers(one_by_one)
        if backend == "embedded":
            assert set(STAMPED_ON_INSERT) <= set(triggers(replayed))
        assert unstamped_rows(replayed) == {}
        assert stored_documents(replayed) == stored_documents(one_by_one)


@pytest.mark.parametrize("backend", BACKENDS)
def test_uploads_prepared_in_workers_are_parked_as_a_replay_alone_parks_them(backend, embedded_api, history):
    """An upload no worker can decode, and (on PostgreSQL, whose jsonb refuses NUL) one whose rows
    the database refuses: both parked with the same record as when the replaying process decodes
    them itself, in a batch with good uploads before and after."""
    api = embedded_api
    uploader, admin = api.register("carol"), api.register("root2", admin=True)
    where = catalog.setup(api, uploader, admin)
    ids = dict(benchmark_id=where.benchmark["id"], flavor_id=where.flavor["id"], site_id=where.site["id"])
    actor = Actor("carol", api.provider.issuer)
    undecodable = poisons.with_the_event_stores_shape(history.store, actor, **ids)
    poisons.result(history.store, actor, **ids, document={"text": "nul \x00 in it"})
    catalog.upload(api, uploader, where, {"after": 1})
    live = api.service.projection.consumer.engine
    with store_for(backend, live) as alone, store_for(backend, live) as with_workers:
        rebuild(EventStoreSource(history.store, REPLAY_BATCH), alone, workers=0)
        rebuild(EventStoreSource(history.store, catalog_events(history)), with_workers, workers=1)
        assert differences(alone, with_workers) == {}
        assert parked(with_workers) == parked(alone)
        assert undecodable in {notification_id for notification_id, *_ in parked(alone)}
        assert len(parked(alone)) == (2 if backend == "postgres" else 1)


def catalog_events(history: EventStoreSource) -> int:
    """The events before the first upload: in batches of this many, the replaying process decodes
    the first batch itself (projections/replay_workers.py `_parts`), and the workers every upload."""
    events = [event for batch in history.batches(0) for _, event in batch]
    return next(at for at, event in enumerate(events) if type(event) is Result.Uploaded)


def test_the_workers_prepare_every_upload_after_the_first_part(history):
    """The first part (the catalog and a task's worth of events) is decoded in the replaying
    process while the workers start; every later upload comes prepared by them."""
    batch = catalog_events(history)
    uploads = sum(type(event) is Result.Uploaded for part in history.batches(0) for _, event in part)
    batches = list(replay_workers.prepared_batches(EventStoreSource(history.store, batch), 0, None, False, 1))
    first, rest = batches[0], [event for later in batches[1:] for _, event in later]
    assert len(first) == batch and not any(type(event) is Result.Uploaded for _, event in first)
    assert sum(type(event) is PreparedUpload for event in rest) == uploads > 0
    assert not any(type(event) is Result.Uploaded for event in rest)
    # With the whole log in one batch, the first part is the catalog and up to a task's worth of
    # events after it, decoded here; the rest prepared by the workers.
    whole = list(replay_workers.prepared_batches(EventStoreSource(history.store, REPLAY_BATCH), 0, None, False, 1))
    assert len(whole[0]) == min(batch + replay_workers.UPLOADS_PER_TASK, history.head())


def test_the_uploads_handed_to_workers_hold_no_sealed_personal_data():
    """A worker decodes them without the key table (projections/replay_workers.py): a sealed
    field added to an upload must be opened by the replaying process instead."""
    assert replay_workers.UPLOADED not in PERSONAL_TOPICS


def test_a_replay_whose_worker_dies_fails_instead_of_waiting_for_it(embedded_api, history):
    """The tasks a killed worker process leaves fail the replay (it would otherwise wait for
    their rows for ever), and the store gets its indexes back as after any failed replay."""
    killed, others = [], {child.pid for child in multiprocessing.active_children()}

    def kill_the_workers(_count: int) -> None:
        if not killed:
            killed.extend(child.pid for child in multiprocessing.active_children() if child.pid not in others)
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    with scratch_store(embedded_api.service.projection.consumer.engine) as replayed:
        with pytest.raises(BrokenProcessPool):
            rebuild(EventStoreSource(history.store, 1), replayed, progress=kill_the_workers, workers=1)
        names = {name for table in indexes(replayed).values() for name, _, _ in table}
    assert killed
    assert set(READER_ONLY_INDEXES + SEARCH_INDEXES) <= names


def parked(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                parked_events.c.consumer,
                parked_events.c.notification_id,
                parked_events.c.event_type,
                parked_events.c.aggregate_id,
                parked_events.c.aggregate_version,
                parked_events.c.error,
            ).order_by(parked_events.c.notification_id)
        )
        return [tuple(row[1:]) for row in rows]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_replay_stopped_and_resumed_counts_the_numbers_values_as_projecting_does(backend, embedded_api, history):
    """Into an empty store the counts of `result_number_values` are made once, at the replay's
    end; a replay that goes on from a store's position keeps them as it goes, on top."""
    live = embedded_api.service.projection.consumer.engine
    middle = history.head() - 8  # after the tricky documents, before the last uploads, claim and deletions
    with store_for(backend, live) as one_by_one, store_for(backend, live) as replayed:
        project_event_by_event(history, one_by_one)
        assert rebuild(EventStoreSource(history.store, REPLAY_BATCH), replayed, stop=middle).events == middle
        with replayed.connect() as conn:
            assert conn.execute(select(func.count()).select_from(result_number_values)).scalar_one() > 0
        rebuild(EventStoreSource(history.store, REPLAY_BATCH), replayed)
        assert differences(one_by_one, replayed) == {}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_replay_creates_the_search_indexes_before_the_first_event_that_searches(backend, embedded_api, history):
    """The uploads, claims and catalog submissions of the history are loaded without them; the
    site's rename (which finds its results by site) comes to a store that has them all."""
    positions = [position for batch in history.batches(0) for position, _ in batch]
    renamed = next(position for batch in history.batches(0) for position, event in batch if type(event) is Site.Updated)
    present = {}  # position reached -> the search indexes the store has then

    def look(count: int) -> None:
        names = {name for table in indexes(replayed).values() for name, _, _ in table}
        present[positions[count - 1]] = names & set(SEARCH_INDEXES)

    with store_for(backend, embedded_api.service.projection.consumer.engine) as replayed:
        rebuild(EventStoreSource(history.store, 1), replayed, progress=look)
    assert all(not present[position] for position in positions if position < renamed)
    assert all(present[position] == set(SEARCH_INDEXES) for position in positions if position >= renamed)


def test_a_replay_on_postgres_makes_the_key_of_result_tags_before_the_first_tag_replacement(embedded_api, history):
    """Uploads are loaded without it; the first replacement of a result's tags (found by that
    key) comes to a store that has it, and the store ends with both deferred keys as migrated."""
    positions = [position for batch in history.batches(0) for position, _ in batch]
    replaced = next(
        position for batch in history.batches(0) for position, event in batch if type(event) is Result.TagsReplaced
    )
    keyed = {}  # position reached -> whether result_tags has its key then

    def look(count: int) -> None:
        keyed[positions[count - 1]] = inspect(replayed).get_pk_constraint("result_tags")["name"] is not None

    with store_for("postgres", embedded_api.service.projection.consumer.engine) as replayed:
        rebuild(EventStoreSource(history.store, 1), replayed, progress=look)
        final = {table: inspect(replayed).get_pk_constraint(table)["name"] for table in KEYED}
    assert not any(keyed[position] for position in positions if position < replaced)
    assert all(keyed[position] for position in positions if position >= replaced)
    assert final == {table: f"{table}_pkey" for table in KEYED} and set(DEFERRED_KEYS) == set(final.values())


KEYED = ("result_tags", "result_number_values")


def test_the_counts_by_value_read_the_number_index_in_order_on_sqlite(embedded_api, history):
    """`numbers.count_values` (a replay's end) groups the numbers as their index holds them:
    SQLite sorts none of them again."""
    run = []
    with scratch_store(embedded_api.service.projection.consumer.engine) as replayed:
        rebuild(EventStoreSource(history.store, REPLAY_BATCH), replayed)
        event.listen(replayed, "before_cursor_execute", lambda *args: run.append(args[2]))
        with replayed.begin() as conn:
            numbers.count_values(conn)
            (grouping,) = [statement for statement in run if statement.startswith("INSERT INTO result_number_values")]
            plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {grouping}")]
            assert conn.execute(select(func.count()).select_from(result_number_values)).scalar_one() > 0
    assert plan == ["SCAN result_numbers USING COVERING INDEX result_numbers_as_of"]


def test_a_scratch_store_on_postgresql_is_unlogged(embedded_api):
    """Its tables and indexes write no write-ahead log: `verify` drops the store after comparing."""
    with store_for("postgres", embedded_api.service.projection.consumer.engine) as scratch:
        with scratch.connect() as conn:
            kinds = conn.exec_driver_sql(
                "SELECT relkind, relpersistence FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
            ).all()
    assert {kind for kind, _ in kinds} >= {"r", "i"}
    assert {persistence for _, persistence in kinds} == {"u"}


def test_the_embedded_read_tables_equal_a_replay(embedded_api, history):
    live = embedded_api.service.projection.consumer.engine
    with scratch_store(live) as replayed:
        rebuild(EventStoreSource(history.store, REPLAY_BATCH), replayed)
        assert differences(live, replayed) == {}


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_kept_counts_equal_the_rows_and_a_wrong_one_is_found(backend, embedded_api, history):
    live = embedded_api.service.projection.consumer.engine
    with store_for(backend, live) as replayed:
        rebuild(EventStoreSource(history.store, REPLAY_BATCH), replayed)
        for engine in (live, replayed):
            with engine.connect() as conn:
                kept = dict(conn.execute(select(counters.c.name, counters.c.value)).all())
                assert kept == counts.recount(conn)
                assert kept[counts.EVENTS] == history.head()
                assert kept[counts.EVENTS_OF_TYPE + "Result.Uploaded"] == len(TRICKY_DOCUMENTS) + 3
        with replayed.begin() as conn:
            conn.execute(counters.update().where(counters.c.name == counts.EVENTS).values(value=counters.c.value + 1))
        assert differences(live, replayed) == {"counters": (0, 1)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_counts_change_together_and_a_missing_one_is_made_from_the_rows(backend, embedded_api, history):
    uploaded, claimed = counts.EVENTS_OF_TYPE + "Result.Uploaded", counts.EVENTS_OF_TYPE + "Result.Claimed"
    with store_for(backend, embedded_api.service.projection.consumer.engine) as replayed:
        rebuild(EventStoreSource(history.store, REPLAY_BATCH), replayed)
        with replayed.begin() as conn:
            before = dict(conn.execute(select(counters.c.name, counters.c.value)).all())
            rows = counts.recount(conn)
            shown = select(results.c.benchmark_id, results.c.site_id, results.c.flavor_id).where(~results.c.hidden)
            benchmark_id, site_id, flavor_id = conn.execute(shown.limit(1)).one()
            of_site, of_flavor = f"{counts.VISIBLE_OF}site={site_id}", f"{counts.VISIBLE_OF}flavor={flavor_id}"
            of_benchmark = f"{counts.VISIBLE_OF}benchmark={benchmark_id}"
            missing = [counts.EVENTS, counts.VISIBLE_RESULTS, of_site]
            conn.execute(counters.delete().where(counters.c.name.in_(missing)))
            # As if rows had changed: kept counts move by the deltas, missing ones are counted.
            counts.add_events(conn, Counter({"Result.Uploaded": 2, "Result.Claimed": -1}))
            counts.add_visible(conn, Counter({(benchmark_id, site_id, flavor_id): 5}))
            after = dict(conn.execute(select(counters.c.name, counters.c.value)).all())
            # A count that falls to nothing goes: the benchmark's, site's or flavor's results are gone.
            counts.add_visible(conn, Counter({(benchmark_id, site_id, flavor_id): -after[of_flavor]}))
            emptied = dict(conn.execute(select(counters.c.name, counters.c.value)).all())
    assert after == {
        **before,
        counts.EVENTS: rows[counts.EVENTS],
        counts.VISIBLE_RESULTS: rows[counts.VISIBLE_RESULTS],
        of_site: rows[of_site],
        of_flavor: before[of_flavor] + 5,
        of_benchmark: before[of_benchmark] + 5,
        uploaded: before[uploaded] + 2,
        claimed: before[claimed] - 1,
    }
    assert of_flavor not in emptied and emptied[of_site] == after[of_site] - after[of_flavor]


@pytest.mark.parametrize("backend", BACKENDS)
def test_replayed_documents_are_stored_as_uploaded(backend, embedded_api, history):
    """The text served is the document re-encoded with sorted keys, every value intact. (The
    `json` column is PostgreSQL's jsonb parse of that text, compared above with the per-event one.)"""
    with store_for(backend, embedded_api.service.projection.consumer.engine) as replayed:
        rebuild(EventStoreSource(history.store, REPLAY_BATCH), replayed)
        texts = [text for text, _document in stored_documents(replayed)]
    for document in TRICKY_DOCUMENTS:
        assert documents.dumps(document) in texts


def indexes(engine: Engine) -> dict[str, list]:
    """Each table's indexes, its primary key among them (unnamed on SQLite)."""
    inspector = inspect(engine)
    return {
        table: sorted(
            [(index["name"], index["column_names"], bool(index["unique"])) for index in inspector.get_indexes(table)]
            + [(key["name"] or "", key["constrained_columns"], True) for key in [inspector.get_pk_constraint(table)]]
        )
        for table in inspector.get_table_names()
    }


def triggers(engine: Engine) -> dict[str, str]:
    if engine.dialect.name == "postgresql":  # the scratch schema is first in the search path
        catalog = (
            "SELECT trigger_name || ' ' || event_manipulation, action_statement"
            " FROM information_schema.triggers WHERE trigger_schema = current_schema()"
        )
    else:
        catalog = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
    with engine.connect() as conn:
        return dict(conn.exec_driver_sql(catalog).all())


def unstamped_rows(engine: Engine) -> dict[str, int]:
    """Rows of versioned tables without the position of the event that wrote them, per table."""
    found = {}
    with engine.connect() as conn:
        for table in row_versions.versioned_tables():
            count = conn.exec_driver_sql(
                f'SELECT count(*) FROM "{table.name}" WHERE {row_versions.VALID_FROM} IS NULL'
            ).scalar()
            if count:
                found[table.name] = count
    return found


def stored_documents(engine: Engine) -> list[tuple[str, object]]:
    """Each result's `json_text` with its `json` column read back (jsonb parsed on PostgreSQL)."""
    with engine.connect() as conn:
        rows = conn.execute(select(results.c.json_text, results.c.json).order_by(results.c.id)).all()
    return [(text, document if isinstance(document, (dict, list)) else json.loads(document)) for text, document in rows]


def test_verify_refuses_a_read_store_that_lacks_migrations(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    engine = read_store.connect(f"sqlite:///{data / 'read.sqlite'}")
    migrate(engine)
    with engine.begin() as conn:  # as a store written by a release before the last migration
        conn.exec_driver_sql(
            "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)"
        )
    engine.dispose()
    answer = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "eosc-perf"), "verify", "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"EOSC_PERF_ENV": "development"},
    )
    assert answer.returncode != 0
    assert "lacks migrations" in answer.stderr and "eosc-perf init" in answer.stderr
    assert "Traceback" not in answer.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bulk_insert_stamps_its_rows_as_the_database_would(backend, embedded_api):
    """Rows the bulk path inserts carry the clock set in their transaction, as rows inserted
    any other way do; without a clock (or with one set in a transaction that failed) both take
    the read model's position."""
    with store_for(backend, embedded_api.service.projection.consumer.engine) as engine:
        migrate(engine)
        with engine.begin() as conn:
            read_store.set_position(conn, READ_MODEL, 7)
            row_versions.set_clock(conn, 42)
            insert_rows(conn, counters, ("name", "value"), [("bulk", 1)])
            conn.execute(counters.insert().values(name="single", value=1))
            row_versions.set_clock(conn, None)
        with pytest.raises(RuntimeError), engine.begin() as conn:
            row_versions.set_clock(conn, 43)
            raise RuntimeError("the batch failed")
        with engine.begin() as conn:  # the same pooled connection, a new transaction
            insert_rows(conn, counters, ("name", "value"), [("bulk later", 1)])
            conn.execute(counters.insert().values(name="single later", value=1))
        with engine.connect() as conn:
            stamps = dict(conn.execute(text(f"SELECT name, {row_versions.VALID_FROM} FROM counters")).all())
    assert {name: stamps[name] for name in ("bulk", "single", "bulk later", "single later")} == {
        "bulk": 42,
        "single": 42,
        "bulk later": 7,
        "single later": 7,
    }
