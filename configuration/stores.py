"""Opening the event store named by the settings (SQLite file or PostgreSQL URL)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import unquote, urlsplit
from uuid import UUID

import psycopg
from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

from configuration.event_links import GENESIS, LinkTable, append_links, chained
from configuration.personal_keys import DatabaseKeyring, KeyTable, erase_keys
from configuration.private_files import private_file
from configuration.settings import ConfigurationError
from domain.event_store import EventStore
from domain.personal_data import ERASING_TOPICS


def event_store_environment(url: str, *, create_tables: bool = True, connection_wait: int = 3) -> dict[str, str]:
    """`connection_wait`: seconds to wait for a pooled connection; short for services (an
    outage answers 503 promptly), longer for batch tools."""
    parts = urlsplit(url)
    create = "y" if create_tables else "n"
    if parts.scheme == "sqlite":
        path = url.split("///", 1)[-1]
        private_file(Path(path))
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "CREATE_TABLE": create,
            "APPLICATION_RECORDER_TOPIC": f"{__name__}:{SQLiteEventRecorder.__qualname__}",
        }
    if parts.scheme.startswith("postgresql"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/"),
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or ""),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "CREATE_TABLE": create,
            # A few connections per process: gunicorn runs several workers per service.
            "POSTGRES_POOL_SIZE": "2",
            "POSTGRES_MAX_OVERFLOW": "8",
            "POSTGRES_LOCK_TIMEOUT": "5",
            "POSTGRES_CONNECT_TIMEOUT": str(connection_wait),
            "APPLICATION_RECORDER_TOPIC": f"{__name__}:{EventRecorder.__qualname__}",
        }
    raise ConfigurationError(f"EVENT_STORE_URL must be sqlite:///PATH or postgresql://..., not {url!r}")


# An aggregate's version and the notification id of its last event.
Latest = tuple[int, int]


@dataclass(frozen=True)
class Confirm:
    """Asked of a save (`store.save(..., confirm=Confirm(...))`): the latest events of `ids`, as
    the store holds them under the save's own lock, just before its events, are handed to
    `check`, which refuses the save by raising (nothing is stored). The command side confirms
    the copies a command read this way, in the save's exchanges rather than one of its own."""

    ids: tuple[UUID, ...]
    check: Callable[[dict[UUID, Latest]], None]


def _uuid_literal(id: UUID) -> str:
    """An id written into SQL text: only a UUID's own spelling (hex digits and dashes) gets there."""
    if not isinstance(id, UUID):
        raise TypeError(f"not a UUID: {id!r}")
    return f"'{id}'"


_ROWS_PER_INSERT = 1000  # events in one insert statement: four parameters each
_KEPT_INSERTS = 16  # the texts of inserts of up to this many events are kept


class EventRecorder(PostgresApplicationRecorder):
    """The PostgreSQL recorder, writing events without psycopg's pipeline mode: lock the table,
    notify, insert, in one transaction, as the library's own recorder does.

    In pipeline mode psycopg flushes the connection once after queueing the last command and
    then waits for results: when the socket did not take the whole message at once (an event of
    some MiB), the rest stays in libpq's buffer and the server waits for it, for ever, while the
    writer holds the events table's lock and every other write waits. Outside the pipeline,
    psycopg sends until the whole message is gone.

    The events' chain links (configuration/event_links.py) are written in the same transaction,
    under the table lock, and so is the erasure of the personal-data keys of removed users
    (configuration/personal_keys.py).

    A save is three exchanges with the server where the library's way takes nine: the
    statements without parameters travel together (the transaction's start, the lock and its
    timeout, the notification and the chain's head; then the links and the commit), since
    each exchange costs both sides about as much CPU as a small statement itself. The events
    themselves go as rows of parameters, not as the library's array of a composite type
    (`_insert_rows`)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.links = LinkTable(self.datastore.schema)
        self.keys = KeyTable(self.datastore.schema)
        self.sql_create_statements += [SQL(self.links.create), SQL(self.keys.create)]
        # Statements written out once: psycopg composes an SQL object again on every execution.
        self._opening = "; ".join(  # BEGIN, the table lock under its timeout, NOTIFY, the chain's head
            [
                "BEGIN",
                *(statement.as_string() for statement in self.lock_table_statements),
                SQL("NOTIFY {0}").format(Identifier(self.channel_name)).as_string(),
                self.links.last_before(),
            ]
        )
        self._inserts: dict[int, str] = {}  # the events' insert by its number of rows
        self._events = (
            SQL("{schema}.{table}")
            .format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
            .as_string()
        )

    def _latest(self, ids: str) -> str:
        """The statement of `latest_events`, for the ids as SQL names them (`ids`: an array)."""
        return (
            "SELECT originator_id, MAX(originator_version) AS version, MAX(notification_id) AS notification "
            f"FROM {self._events} WHERE originator_id = ANY({ids}) GROUP BY originator_id"
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, confirm: Confirm | None = None, **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return None
        opening = self._opening
        if confirm is not None:  # in the opening's text too: no exchange of its own
            opening += "; " + self._latest("ARRAY[" + ", ".join(map(_uuid_literal, confirm.ids)) + "]::uuid[]")
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            try:
                curs.execute(opening)
                answers = []  # the rows of the chain's head, then of the latest events
                while True:
                    if curs.description is not None:
                        answers.append(curs.fetchall())
                    if not curs.nextset():
                        break
                head = answers[0][0] if answers[0] else None
                if confirm is not None:
                    confirm.check({row["originator_id"]: (row["version"], row["notification"]) for row in answers[1]})
                ids = self._insert_rows(curs, stored_events)
                erase_keys(curs, self.keys, stored_events)
                links = chained(GENESIS if head is None else bytes(head["link"]), zip(ids, stored_events))
                curs.execute(f"{self.links.insert_literal(links)}; COMMIT")
            except BaseException:
                with contextlib.suppress(psycopg.Error):  # a broken connection: the pool drops it
                    conn.rollback()
                raise
            return ids

    def _insert_rows(self, curs, stored_events: Sequence[StoredEvent]) -> list[int]:
        """Inserts the events, each as a row of four parameters; returns their notification ids.
        The library's insert takes one parameter, an array of a composite type, which psycopg
        writes out as text in Python, each event's state escaped byte by byte into it; here the
        state goes as bytes. At most `_ROWS_PER_INSERT` rows a statement (PostgreSQL takes 65,535
        parameters); a save of one or a few events has its statement's text made once."""
        ids: list[int] = []
        for start in range(0, len(stored_events), _ROWS_PER_INSERT):
            rows = stored_events[start : start + _ROWS_PER_INSERT]
            statement = self._inserts.get(len(rows)) or self._insert_statement(len(rows))
            parameters = [
                part for row in rows for part in (row.originator_id, row.originator_version, row.topic, row.state)
            ]
            curs.execute(statement, parameters)
            ids += [row["notification_id"] for row in curs.fetchall()]
        if len(ids) != len(stored_events):
            raise ProgrammingError(f"{len(ids)} notification ids for {len(stored_events)} events")
        return ids

    def _insert_statement(self, count: int) -> str:
        statement = (
            f"INSERT INTO {self._events} (originator_id, originator_version, topic, state) VALUES "
            + ", ".join(["(%s, %s, %s, %s)"] * count)
            + " RETURNING notification_id"
        )
        if count <= _KEPT_INSERTS:
            self._inserts[count] = statement
        return statement

    def latest_events(self, ids: Iterable[UUID]) -> dict[UUID, tuple[int, int]]:
        """Each aggregate's version and the notification id of its last event (none: no entry)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._latest("%s"), [list(ids)], prepare=True)
            return {row["originator_id"]: (row["version"], row["notification"]) for row in curs.fetchall()}


class SQLiteEventRecorder(SQLiteApplicationRecorder):
    """The SQLite recorder, writing the events' chain links and erasing removed users' keys in
    the insert's transaction: its first statement is the insert, so it holds the database's
    write lock from its start."""

    links = LinkTable()
    keys = KeyTable()

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), self.links.create, self.keys.create]

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super().insert_events(stored_events, **kwargs)
        if any(event.topic in ERASING_TOPICS for event in stored_events):
            checkpoint(self)
        return ids

    def _insert_events(
        self, c, stored_events: Sequence[StoredEvent], *, confirm: Confirm | None = None, **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if confirm is not None and ids:
            # The insert took the database's write lock: what was stored before it, under that lock.
            c.execute(self._latest(len(confirm.ids), before=True), [*(id.hex for id in confirm.ids), ids[0]])
            confirm.check({UUID(row[0]): (row[1], row[2]) for row in c.fetchall()})
        append_links(c, self.links, list(zip(ids, stored_events)))
        erase_keys(c, self.keys, stored_events)
        return ids

    def _latest(self, count: int, *, before: bool = False) -> str:
        """The statement of `latest_events` for `count` ids, from the primary key's index alone;
        `before`: of the events before a notification id (one more parameter)."""
        return (
            f"SELECT originator_id, MAX(originator_version), MAX(rowid) FROM {self.events_table_name} "
            f"WHERE originator_id IN ({', '.join('?' * count)}){' AND rowid < ?' if before else ''} "
            "GROUP BY originator_id"
        )

    def latest_events(self, ids: Iterable[UUID]) -> dict[UUID, tuple[int, int]]:
        """Each aggregate's version and the notification id (rowid) of its last event; an
        aggregate without events has no entry."""
        hexes = [id.hex for id in ids]
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._latest(len(hexes)), hexes)
            return {UUID(row[0]): (row[1], row[2]) for row in c.fetchall()}


def checkpoint(recorder) -> None:
    """SQLite: copies the write-ahead log into the database file and empties it, since the log may
    still hold a page as it was before a deletion (an erased key); waits for readers of older
    snapshots. PostgreSQL: nothing to do here (its WAL is the server's, see docs/security.md)."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.get_connection(commit=True) as connection, connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def link_table(recorder) -> LinkTable:
    """The link table beside a recorder's events (PostgreSQL: in its schema)."""
    if isinstance(recorder, PostgresApplicationRecorder):
        return LinkTable(recorder.datastore.schema)
    return LinkTable()


def key_table(recorder) -> KeyTable:
    """The personal-data key table beside a recorder's events (PostgreSQL: in its schema)."""
    if isinstance(recorder, PostgresApplicationRecorder):
        return KeyTable(recorder.datastore.schema)
    return KeyTable()


def open_event_store(url: str, *, create_tables: bool = True, connection_wait: int = 3) -> EventStore:
    store = EventStore(env=event_store_environment(url, create_tables=create_tables, connection_wait=connection_wait))
    store.mapper.keyring = DatabaseKeyring(store.recorder.datastore, key_table(store.recorder))
    return store
