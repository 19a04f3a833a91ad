"""The key table: each user's key for their personal data, beside the event log, outside it.

    personal_keys (key_id PRIMARY KEY, user_id UNIQUE, key)

in the event store's database (PostgreSQL: its schema), created with the log's tables. It is no
part of the log or its hash chain: storing an erasing event (`User.Removed`) deletes the user's
key in the same transaction (`erase_keys`), after which the sealed values in the log open to
nothing (domain/personal_data.py). One live key per user (`user_id` is unique); a user who
registers again after a removal gets a new key, so what was sealed before stays erased.

On SQLite the deleting connection has `secure_delete` on, so the key's bytes are overwritten in
the database file, and a checkpoint afterwards empties the write-ahead log, which may still hold
the page as it was (docs/security.md says what PostgreSQL keeps: dead tuples, WAL).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.personal_data import ERASING_TOPICS, KEY_BYTES

TABLE = "personal_keys"


@dataclass(frozen=True)
class KeyTable:
    """The statements of one store's key table: SQLite (`schema` None) or a PostgreSQL schema."""

    schema: str | None = None

    @property
    def name(self) -> str:
        return TABLE if self.schema is None else f'"{self.schema}"."{TABLE}"'

    @property
    def mark(self) -> str:
        return "?" if self.schema is None else "%s"

    @property
    def create(self) -> str:
        blob = "BLOB" if self.schema is None else "bytea"
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name} "
            f"(key_id TEXT PRIMARY KEY, user_id TEXT NOT NULL UNIQUE, key {blob} NOT NULL)"
        )

    @property
    def insert(self) -> str:
        """Keeps the user's key when they have one already (a concurrent writer made it)."""
        m = self.mark
        return f"INSERT INTO {self.name} (key_id, user_id, key) VALUES ({m}, {m}, {m}) ON CONFLICT DO NOTHING"

    @property
    def of_user(self) -> str:
        return f"SELECT key_id, key FROM {self.name} WHERE user_id = {self.mark}"

    @property
    def of_id(self) -> str:
        return f"SELECT key FROM {self.name} WHERE key_id = {self.mark}"

    @property
    def delete(self) -> str:
        return f"DELETE FROM {self.name} WHERE user_id = {self.mark}"

    @property
    def every(self) -> str:
        return f"SELECT key_id, user_id, key FROM {self.name} ORDER BY key_id"


def new_key() -> bytes:
    return AESGCM.generate_key(KEY_BYTES * 8)


class DatabaseKeyring:
    """The keyring of an event store in a database (domain/personal_data.py's `Keyring`). Nothing is
    cached: a key destroyed by another process must not open anything here afterwards."""

    def __init__(self, datastore, table: KeyTable):
        self.datastore = datastore
        self.table = table

    def key_for(self, user_id: UUID) -> tuple[str, bytes]:
        """Made in a transaction of its own, before the events it seals: a key whose events were
        then refused (a conflict) seals nothing and is harmless; the removal deletes it too."""
        found = self._user_key(user_id)
        if found is None:
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(self.table.insert, (os.urandom(16).hex(), str(user_id), new_key()))
            found = self._user_key(user_id)
        return found

    def _user_key(self, user_id: UUID) -> tuple[str, bytes] | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self.table.of_user, (str(user_id),))
            row = cursor.fetchone()
        return None if row is None else (row["key_id"], bytes(row["key"]))

    def key(self, key_id: str) -> bytes | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self.table.of_id, (key_id,))
            row = cursor.fetchone()
        return None if row is None else bytes(row["key"])

    def keys(self) -> list[tuple[str, str, bytes]]:
        """Every live key: (key id, user id, key), for an export."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self.table.every)
            return [(row["key_id"], row["user_id"], bytes(row["key"])) for row in cursor.fetchall()]

    def erase(self, erasing_event) -> None:
        """Erases the key of an erasing event's user at once (a copy that seals a log as it goes)."""
        with self.datastore.transaction(commit=True) as cursor:
            erase_keys(cursor, self.table, [erasing_event])

    def restore(self, keys: Iterable[tuple[str, str, bytes]]) -> None:
        """Writes keys an export carried (an import into an empty store)."""
        with self.datastore.transaction(commit=True) as cursor:
            for row in keys:
                cursor.execute(self.table.insert, row)


def erase_keys(cursor, table: KeyTable, stored_events) -> bool:
    """Deletes the keys of the users whose erasing events are being stored, in the caller's
    transaction. Whether any such event was among them."""
    erased = [str(event.originator_id) for event in stored_events if event.topic in ERASING_TOPICS]
    if erased and table.schema is None:
        cursor.execute("PRAGMA secure_delete = ON")  # the freed cells are zeroed, not left in free pages
    for user_id in erased:
        cursor.execute(table.delete, (user_id,))
    return bool(erased)
