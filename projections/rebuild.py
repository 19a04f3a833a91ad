"""`eosc-perf rebuild`: a new read store built from the event log while the old one serves, then
the services switched to it at one event position (issue 13 part 1).

Every read-model change that needs a replay goes this way: the new store gets all migrations
(whatever they are then) and a replay of the log (projections/replay.py, as `verify`), so no
migration ever has to rewrite a served store in place.

1. Build: a new schema `read_<hex>` (PostgreSQL) or file `read-<hex>.sqlite` (SQLite) beside the
   active store, migrated, then the log replayed into it up to the active store's position,
   again until it is less than a batch behind (the old store keeps serving and projecting).
2. Check: the active store's tables at one position (one snapshot), the new store replayed to
   exactly that position, the two compared as `verify` compares them. A difference stops the
   rebuild; the new store is dropped, nothing switched.
3. Switch (read_model/active_store.py): holding the projector's lock on the active store (its
   position row on PostgreSQL; the file's write lock on SQLite), the new store catches up to the
   position the old one stopped at, the old store is marked retired and the pointer names the new
   one, in one transaction. Projectors move at their next batch; readers at the switch's notice
   (PostgreSQL) or the embedded server's watch of the pointer file. Reads never wait on the lock.
4. Grace: the old store stays for `grace` seconds, for requests that were running in it (and
   processes that have not followed yet), then is dropped; `--keep` leaves it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from uuid import uuid4

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine

from projections import replay_workers
from projections.projector import Projector
from projections.replay import compare, snapshot
from projections.replay import rebuild as replay
from projections.sources import EventStoreSource
from read_model import READ_MODEL, active_store, read_store, row_versions
from read_model.active_store import ActiveStore
from read_model.mail_tables import metadata as mail_metadata
from read_model.tables import metadata, parked_events, positions, results


class SwitchedMeanwhile(Exception):
    """Another rebuild switched the store away while this one was building: nothing switched."""


class RebuildRefused(Exception):
    """The rebuilt store differs from the active one: nothing was switched."""

    def __init__(self, differences: dict[str, tuple[int, int]]):
        super().__init__(differences)
        self.differences = differences


@dataclass(frozen=True)
class Rebuilt:
    location: str  # the new store: a schema or a file
    position: int  # where the switch happened
    events: int  # replayed into the new store
    seconds: float  # building, checking and switching
    cpu_seconds: float
    switch_seconds: float  # the projector's lock held by the switch (reads never wait for it)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


def build_and_switch(
    url: str,
    source: EventStoreSource,
    progress: Callable[[int, int], None] = lambda done, total: None,
    unpublished: Callable[[], set[int]] = set,
) -> Rebuilt:
    """Steps 1-3; returns once the pointer names the new store. `progress(done, total)`: events
    replayed so far, of about how many. `unpublished`: events the relay could not publish (the
    live store, fed by Kafka, lacks their events index rows: `verify` allows for it too)."""
    started, cpu_started = time.perf_counter(), replay_workers.cpu_seconds()
    active = ActiveStore(url)
    old = active.connect()
    location, new = _new_store(active)
    try:
        done = 0
        total = max(read_store.current_position(old, READ_MODEL), 1)

        def replayed(count: int) -> None:
            progress(done + count, max(total, done + count))

        # Step 1: up to the live store's position, repeated while it moves on by a batch or more.
        while True:
            target = read_store.current_position(old, READ_MODEL)
            total = max(total, target)
            ran = replay(source, new, replayed, stop=target)
            done += ran.events
            if ran.events < source.batch:
                break
        # Step 2: both at one position (the live one held there while the new one catches up).
        with snapshot(old) as live:
            done += replay(source, new, replayed, stop=live.position).events
            with snapshot(new) as rebuilt:
                differences = compare(live, rebuilt, frozenset(unpublished()))
        if differences:
            raise RebuildRefused(differences)
        # What the projector folded meanwhile, before the lock, so that little is left under it.
        done += replay(source, new, replayed, stop=read_store.current_position(old, READ_MODEL)).events
        # Step 3.
        switch_seconds, position, caught_up = _switch(active, old, new, location, source)
    except BaseException:  # before the switch committed: the served store is as it was
        new.dispose()
        _drop(ActiveStore(url), location)
        raise
    finally:
        old.dispose()
        active.close()
    new.dispose()
    done += caught_up
    progress(done, done)
    return Rebuilt(
        location,
        position,
        done,
        time.perf_counter() - started,
        replay_workers.cpu_seconds() - cpu_started,  # with the replay's worker processes
        switch_seconds,
    )


def _new_store(active: ActiveStore) -> tuple[str, Engine]:
    if active.postgres:
        schema = f"read_{uuid4().hex[:12]}"
        engine = read_store.connect(active.url)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        event.listen(engine, "do_connect", lambda d, r, cargs, cparams: _on_path(cparams, schema))
        return schema, engine
    path = active_store.sqlite_path(active.url).parent / f"read-{uuid4().hex[:12]}.sqlite"
    return str(path), read_store.connect(f"sqlite:///{path}")


def _on_path(cparams: dict, schema: str) -> None:
    """The rebuild's own connections: to the new schema, and committing without waiting for the
    disk. A crash may lose the last of those commits but never tears one (PostgreSQL's log stays
    consistent), and the switch's own commit, later in the log, flushes them all before the
    pointer names the store."""
    options = f"-csearch_path={schema} -csynchronous_commit=off"
    cparams["options"] = f"{cparams.get('options', '')} {options}".strip()


def _switch(active: ActiveStore, old: Engine, new: Engine, location: str, source) -> tuple[float, int, int]:
    """(seconds the projector's lock was held, the position switched at, events caught up)."""
    if active.postgres:
        with old.begin() as conn:
            active_store.create_pointer(conn, active.home)
    with old.connect() as conn:
        if active.postgres:
            locked = time.perf_counter()
            position = (
                conn.execute(
                    positions.select()
                    .with_only_columns(positions.c.position)
                    .where(positions.c.name == READ_MODEL)
                    .with_for_update()
                ).scalar()
                or 0
            )
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the projector's writes wait from here on
            locked = time.perf_counter()
            position = read_store.position(conn, READ_MODEL)
        if active_store.is_retired(conn):  # the lock is held: no other switch can come between
            raise SwitchedMeanwhile()
        caught_up = _catch_up(source, new, position)
        active_store.retire(conn)
        if active.postgres:
            active_store.point_schema(conn, active.home, location)
            conn.commit()
        else:
            # The pointer file first: a projector that finds the mark must find the new store
            # named. The embedded server follows the file only once the old store is retired.
            before = active.location
            active_store.point_file(active.url, Path(location))
            try:
                conn.commit()
            except BaseException:
                active_store.point_file(active.url, None if before is None else Path(before))
                raise
        held = time.perf_counter() - locked
    return held, position, caught_up


def _catch_up(source: EventStoreSource, engine: Engine, position: int) -> int:
    """The last few events, under the switch's lock: no migration check, no index juggling."""
    projector, count = Projector(engine), 0
    for batch in source.batches(projector.position(), position):
        projector.apply(batch)
        count += len(batch)
    return count


def drop_after(url: str, old_location: str | None, grace: float, wait: Callable[[float], None] = time.sleep) -> None:
    """Step 4: the store at `old_location` (None: the configured one) dropped after `grace` s."""
    wait(grace)
    _drop(ActiveStore(url), old_location)


def drop_left_versions(active: ActiveStore) -> bool:
    """The versions of the read tables' rows that rebuilds before 2026-12-05 left in the
    configured store when they dropped its read tables (users' earlier addresses among them,
    which no erasure reaches there): dropped. Only from a configured store that no longer serves
    and has no read tables left (a store kept by `--keep` is left whole). Whether any were."""
    if active.location is None:
        return False
    engine = read_store.connect(active.url)  # in the configured schema
    try:
        with engine.begin() as conn:
            inspector = inspect(conn)
            left = any(inspector.has_table(t.name + row_versions.SUFFIX) for t in row_versions.versioned_tables())
            if not left or not active_store.is_retired(conn) or inspector.has_table(results.name):
                return False
            row_versions.drop_versions(conn)
            return True
    finally:
        engine.dispose()


def _drop(active: ActiveStore, location: str | None) -> None:
    """Drops a store. The configured one keeps the mailer's tables, and `positions` and
    `parked_events`, which it shares with the read model: only the read model's tables go, and
    the versions of their rows."""
    active.close()
    if location is not None and not active.postgres:
        for suffix in ("", "-wal", "-shm"):
            Path(location + suffix).unlink(missing_ok=True)
        return
    engine = read_store.connect(active.url)  # in the configured schema
    try:
        with engine.begin() as conn:
            if location is not None:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{location}" CASCADE'))
                return
            kept = {positions.name, parked_events.name, *mail_metadata.tables}
            for table in reversed(metadata.sorted_tables):
                if table.name not in kept:
                    table.drop(conn, checkfirst=True)
            row_versions.drop_versions(conn)
    finally:
        engine.dispose()
