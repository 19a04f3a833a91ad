"""`eosc-perf audit`: walking the event log's hash chain (configuration/event_links.py).

`verify` recomputes every link from the stored bytes, in notification order, and names the
first event whose bytes, aggregate id, version or place in the order changed, the first link
whose event is gone, and the first event without a link. `link` gives the events of a store
made before the chain existed (or written past the recorder) their links. `head` is the link
to publish elsewhere: a rewrite of the whole chain changes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from configuration.event_links import GENESIS, LinkTable, chained, link_of, previous_link, write_links
from configuration.stores import link_table
from domain.event_store import EventStore
from log_transfer.read_ahead import read_ahead

BATCH = 10_000


@dataclass(frozen=True)
class Events:
    """The events table's name and notification id column (SQLite's is the rowid)."""

    name: str
    id: str
    postgres: bool = False

    def select(self, cursor, statement: str) -> list:
        """PostgreSQL sends the rows in binary: bytea as text is hex, twice the bytes to encode,
        send and decode (the walk's time went mostly to waiting for them)."""
        if self.postgres:
            cursor.execute(statement, binary=True)
        else:
            cursor.execute(statement)
        return cursor.fetchall()

    @classmethod
    def of(cls, store: EventStore) -> Events:
        recorder = store.recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            return cls(f'"{recorder.datastore.schema}"."{recorder.events_table_name}"', "notification_id", True)
        return cls(recorder.events_table_name, "rowid")

    def first_unlinked(self, links: LinkTable) -> str:
        return (
            f"SELECT MIN(e.{self.id}) AS n FROM {self.name} e WHERE NOT EXISTS "
            f"(SELECT 1 FROM {links.name} l WHERE l.notification_id = e.{self.id})"
        )


@dataclass(frozen=True)
class Verdict:
    events: int  # links checked
    head: int  # the last link's notification id (0: no links)
    head_link: bytes
    seconds: float
    problem: str | None  # the first change found, None if the chain holds

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


def head(store: EventStore) -> tuple[int, bytes]:
    with store.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(link_table(store.recorder).last_before())
        row = cursor.fetchone()
    return (0, GENESIS) if row is None else (row["notification_id"], bytes(row["link"]))


def first_unlinked(store: EventStore) -> int | None:
    """The first event without a link (None: every event has its link)."""
    with store.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(Events.of(store).first_unlinked(link_table(store.recorder)))
        return cursor.fetchone()["n"]


def verify(store: EventStore, progress: Callable[..., None] = lambda done, final=False: None) -> Verdict:
    """Walks the chain up to its head as it is when the walk starts (writers may go on). The
    rows are read a batch ahead (log_transfer/read_ahead.py) while this thread hashes them."""
    started = time.perf_counter()
    last, _ = head(store)
    previous, count, problem = GENESIS, 0, None
    for rows in read_ahead(_linked_events(store, last)):
        for row in rows:
            problem = _checked(row, previous)
            if problem:
                break
            previous, count = bytes(row["link"]), count + 1
        progress(count)
        if problem is not None:
            break
    unlinked = first_unlinked(store) if problem is None else None
    if unlinked is not None:
        problem = (
            f"event {unlinked} has no link: written past the recorder, or before the chain existed "
            "(eosc-perf audit link gives old events their links)"
        )
    progress(count, final=True)
    return Verdict(count, last, previous, time.perf_counter() - started, problem)


def _linked_events(store: EventStore, last: int) -> Iterator[list]:
    """The links up to `last` with their stored events, in order, BATCH rows at a time, in one
    transaction of its own connection."""
    links, events = link_table(store.recorder), Events.of(store)
    after = 0
    with store.recorder.datastore.transaction(commit=False) as cursor:
        while after < last:
            rows = events.select(
                cursor,
                f"SELECT l.notification_id AS n, l.link AS link, e.{events.id} AS present, e.originator_id AS "
                f"originator_id, e.originator_version AS version, e.topic AS topic, e.state AS state "
                f"FROM {links.name} l LEFT JOIN {events.name} e ON e.{events.id} = l.notification_id "
                # the range on both sides: else PostgreSQL's merge join scans the events from the first
                f"AND e.{events.id} > {after} AND e.{events.id} <= {last} "
                f"WHERE l.notification_id > {after} AND l.notification_id <= {last} "
                f"ORDER BY l.notification_id LIMIT {BATCH}",
            )
            if not rows:
                return
            yield rows
            after = rows[-1]["n"]


def _checked(row, previous: bytes) -> str | None:
    number = row["n"]
    if row["present"] is None:
        return f"event {number}: its stored event is gone (deleted, or moved to another notification id)"
    try:
        expected = link_of(previous, number, row["originator_id"], row["version"], row["topic"], row["state"])
    except (TypeError, ValueError, AttributeError, OverflowError):  # a value edited into another type
        expected = None
    if expected != bytes(row["link"]):
        return (
            f"event {number} (aggregate {row['originator_id']}, version {row['version']}): its stored bytes, "
            "aggregate, version or place in the order changed after it was linked (or an event before it)"
        )
    return None


def link_old_events(store: EventStore, progress: Callable[..., None] = lambda done, final=False: None) -> int:
    """Links every event from the first one without a link on (relinking those after it), in one
    transaction holding the log's write lock: writers wait, and the chain stays in order."""
    recorder = store.recorder
    links, events = link_table(recorder), Events.of(store)
    done = 0
    with recorder.datastore.transaction(commit=True) as cursor:
        if isinstance(recorder, PostgresApplicationRecorder):
            recorder._lock_table(cursor)
        # On SQLite this write comes first so that the transaction holds the write lock from its start.
        cursor.execute(f"DELETE FROM {links.name} WHERE notification_id >= ({events.first_unlinked(links)})")
        cursor.execute(events.first_unlinked(links))
        first = cursor.fetchone()["n"]
        if first is None:
            return 0
        previous, after = previous_link(cursor, links, first), first - 1
        while True:
            rows = events.select(
                cursor,
                f"SELECT {events.id} AS n, originator_id, originator_version, topic, state FROM {events.name} "
                f"WHERE {events.id} > {after} ORDER BY {events.id} LIMIT {BATCH}",
            )
            if not rows:
                break
            numbered = [
                (
                    row["n"],
                    StoredEvent(row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"])),
                )
                for row in rows
            ]
            linked = chained(previous, numbered)
            write_links(cursor, links, linked)
            previous, after, done = linked[-1][1], linked[-1][0], done + len(linked)
            progress(done)
    progress(done, final=True)
    return done
