"""The event log's hash chain: one SHA-256 link per stored event, in a table beside the log.

    link(n) = SHA-256(link(n-1) | notification id | aggregate id | version | len(topic) | topic | state)

over the bytes as stored (docs/operations.md, "Tamper evidence"). The first event's
predecessor is 32 zero bytes. Every path that stores events writes their links in the same
transaction, while it holds the log's write lock (SQLite's database lock, PostgreSQL's table
lock), so the links follow notification order even with concurrent writers. Publishing the
head link elsewhere makes a rewrite of the whole chain visible too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Sequence
from uuid import UUID

from eventsourcing.persistence import StoredEvent

GENESIS = bytes(32)
TABLE = "event_links"

Numbered = tuple[int, StoredEvent]


def link(previous: bytes, notification_id: int, event: StoredEvent) -> bytes:
    """The link of a stored event: the writers and the import's check."""
    return link_of(previous, notification_id, event.originator_id, event.originator_version, event.topic, event.state)


def link_of(previous: bytes, notification_id: int, originator_id, version: int, topic: str, state: bytes) -> bytes:
    """The one definition of a link, over the columns as read (`audit verify` walks rows with it)."""
    encoded = topic.encode("utf-8")
    return hashlib.sha256(
        b"".join(
            (
                previous,
                notification_id.to_bytes(8, "big", signed=True),
                _uuid(originator_id).bytes,
                version.to_bytes(8, "big", signed=True),
                len(encoded).to_bytes(4, "big"),
                encoded,
                state,
            )
        )
    ).digest()


def _uuid(originator_id) -> UUID:
    return originator_id if isinstance(originator_id, UUID) else UUID(originator_id)


@dataclass(frozen=True)
class LinkTable:
    """The statements of one store's link table: SQLite (`schema` None) or a PostgreSQL schema."""

    schema: str | None = None

    @property
    def name(self) -> str:
        return TABLE if self.schema is None else f'"{self.schema}"."{TABLE}"'

    @property
    def create(self) -> str:
        blob = "BLOB" if self.schema is None else "bytea"
        return f"CREATE TABLE IF NOT EXISTS {self.name} (notification_id BIGINT PRIMARY KEY, link {blob} NOT NULL)"

    def last_before(self, notification_id: int | None = None) -> str:
        where = "" if notification_id is None else f" WHERE notification_id < {int(notification_id)}"
        return f"SELECT notification_id, link FROM {self.name}{where} ORDER BY notification_id DESC LIMIT 1"

    def insert_literal(self, rows: Sequence[tuple[int, bytes]]) -> str:
        """The INSERT of these links with its values written in (integers and hex digits only),
        for a statement sent together with others (PostgreSQL)."""
        values = ", ".join(f"({int(n)}, decode('{bytes(link).hex()}', 'hex'))" for n, link in rows)
        return f"INSERT INTO {self.name} (notification_id, link) VALUES {values}"

    def between(self, after: int, last: int) -> str:
        return (
            f"SELECT notification_id, link FROM {self.name} WHERE notification_id > {int(after)} "
            f"AND notification_id <= {int(last)} ORDER BY notification_id"
        )


def previous_link(cursor, table: LinkTable, notification_id: int | None = None) -> bytes:
    """The link before `notification_id` (default: the chain's head); GENESIS on an empty chain."""
    cursor.execute(table.last_before(notification_id))
    row = cursor.fetchone()
    return GENESIS if row is None else bytes(row["link"])


def chained(previous: bytes, events: Iterable[Numbered]) -> list[tuple[int, bytes]]:
    rows = []
    for notification_id, event in sorted(events, key=lambda numbered: numbered[0]):
        previous = link(previous, notification_id, event)
        rows.append((notification_id, previous))
    return rows


def append_links(cursor, table: LinkTable, events: Sequence[Numbered]) -> list[tuple[int, bytes]]:
    """Links the events after the chain's head, inside the caller's transaction: the caller holds
    the log's write lock (else two writers could chain from the same head)."""
    rows = chained(previous_link(cursor, table), events)
    write_links(cursor, table, rows)
    return rows


def write_links(cursor, table: LinkTable, rows: Sequence[tuple[int, bytes]]) -> None:
    if not rows:
        return
    if table.schema is None:
        cursor.executemany(f"INSERT INTO {table.name} (notification_id, link) VALUES (?, ?)", rows)
    else:  # one statement of two arrays: psycopg's executemany would enter pipeline mode
        cursor.execute(
            f"INSERT INTO {table.name} (notification_id, link) SELECT * FROM unnest(%s::bigint[], %s::bytea[])",
            ([n for n, _ in rows], [link for _, link in rows]),
        )
