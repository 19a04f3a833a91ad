"""A batch of the import's stored events written in one transaction of the event store.

On PostgreSQL the library sends a batch as one array of its composite `stored_event` type, which
psycopg adapts in Python, field by field, and the server parses back as text: about 100 µs of
the importing process's CPU and 400-900 µs of wall time per event here. The import writes the
same rows as four arrays in binary (ids, versions, topics, states), 5-13 µs of CPU and 160 µs
of wall time per event, in a transaction that does what the library's does: its table lock
(insert order is commit order, for the projectors), its NOTIFY (they wake up), and the
notification ids the sequence gives. Other stores get the library's own insert.
"""

from __future__ import annotations

from typing import Sequence

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from configuration.event_links import LinkTable, append_links
from domain.event_store import EventStore


def insert(store: EventStore, stored_events: Sequence[StoredEvent]) -> int:
    """Writes the events, all or none; the notification id of the last one."""
    recorder = store.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        return recorder.insert_events(stored_events)[-1]
    datastore = recorder.datastore
    statement = SQL(
        "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
        "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) RETURNING notification_id"
    ).format(
        schema=Identifier(datastore.schema),
        table=Identifier(recorder.events_table_name),
        id_type=SQL(datastore.originator_id_type),
    )
    columns = (
        [event.originator_id for event in stored_events],
        [event.originator_version for event in stored_events],
        [event.topic for event in stored_events],
        [event.state for event in stored_events],
    )
    with datastore.get_connection() as connection, connection.transaction(), connection.cursor() as cursor:
        for lock in recorder.lock_table_statements:
            cursor.execute(lock)
        cursor.execute(SQL("NOTIFY {0}").format(Identifier(recorder.channel_name)))
        cursor.execute(statement, columns)
        ids = [row["notification_id"] for row in cursor.fetchall()]
        append_links(cursor, LinkTable(datastore.schema), list(zip(ids, stored_events)))
        return max(ids)
