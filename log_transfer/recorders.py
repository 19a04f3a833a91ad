"""Writing stored events under the notification ids they had: the recorder's own insert numbers
them anew, which would close the gaps a PostgreSQL log has (a transaction rolled back after
taking numbers) and so change the positions every consumer keeps."""

from __future__ import annotations

from typing import Sequence
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from configuration.event_links import LinkTable, append_links

Numbered = tuple[int, StoredEvent]


def insert_numbered(recorder: ApplicationRecorder, events: Sequence[Numbered]) -> list[tuple[int, bytes]]:
    """One transaction, the events' chain links with them (returned). Only for a store nobody else
    writes to (an import): the numbers are given."""
    if isinstance(recorder, PostgresApplicationRecorder):
        return _postgres(recorder, events)
    return _sqlite(recorder, events)


def _sqlite(recorder, events: Sequence[Numbered]) -> list[tuple[int, bytes]]:
    # The notification id is SQLite's rowid (the library's table has no other key for it).
    statement = (
        f"INSERT INTO {recorder.events_table_name} (rowid, originator_id, originator_version, topic, state) "
        "VALUES (?, ?, ?, ?, ?)"
    )
    with recorder.datastore.transaction(commit=True) as cursor:
        cursor.executemany(
            statement, [(n, _id(e.originator_id), e.originator_version, e.topic, e.state) for n, e in events]
        )
        return append_links(cursor, LinkTable(), events)


def _id(originator_id) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


def _postgres(recorder: PostgresApplicationRecorder, events: Sequence[Numbered]) -> list[tuple[int, bytes]]:
    """COPY streams the rows: outside psycopg's pipeline mode, which hangs on events of some MiB
    (see configuration/stores.py). The table lock and the notification are the recorder's own."""
    schema, table = recorder.datastore.schema, recorder.events_table_name
    copy = SQL("COPY {}.{} (notification_id, originator_id, originator_version, topic, state) FROM STDIN").format(
        Identifier(schema), Identifier(table)
    )
    with recorder.datastore.transaction(commit=True) as cursor:
        recorder._lock_table(cursor)
        with cursor.copy(copy) as rows:
            for n, e in events:
                rows.write_row((n, e.originator_id, e.originator_version, e.topic, e.state))
        # The sequence continues after the last id, as if the events had been numbered by it.
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)", (f'"{schema}"."{table}"', events[-1][0])
        )
        linked = append_links(cursor, LinkTable(schema), events)
        recorder._notify_channel(cursor)
        return linked
