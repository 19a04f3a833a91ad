"""The read model's position as the query service knows it, without a query per request.

A public read with the response cache on needs the position (the cache's key and the ETag), and
so does a read after a write (X-Min-Position); reading it from `positions` was a query of its
own, two on a cache miss. Where the service can be told instead, it is:
- embedded default: the projector runs in this process, so `Counted` is told each position
  the moment it is committed (projections/follower.py);
- PostgreSQL: the database announces every change of `positions` (a trigger, read-store
  migration 11) and `Notified` listens on a connection of its own in each worker;
- otherwise (SQLite written by another process): `read_store.current_position` per call.

Both are told only after the commit, as a reading connection would see it: a read may run
on a snapshot a few events newer than the position it is given (as it could before, when the
position and the answer were read in two transactions), never on an older one."""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable

import psycopg
from sqlalchemy.engine import Engine

from read_model import active_store, read_store

log = logging.getLogger(__name__)

# notices: "<schema> <consumer> <position>", "<schema> *", or a rebuild's switch "@ <schema>"
CHANNEL = "eosc_perf_positions"
APPLICATION_NAME = "eosc-perf position feed"
RESET = "*"  # `positions` was truncated: every consumer's position is to be read again


class _Switched(Exception):
    """A rebuild switched the read store to `schema`: the listener follows it."""

    def __init__(self, schema: str):
        super().__init__(schema)
        self.schema = schema


class Counted:
    """A position kept by the process that commits it."""

    def __init__(self, value: int):
        self.value = value

    def __call__(self) -> int:
        return self.value

    def advance(self, value: int) -> None:
        self.value = value


class Notified:
    """A position kept up to date by PostgreSQL's notices, read from `positions` only while
    no listener is connected (before the first request's listener has connected, after a lost
    connection) and, to prove the listening connection alive, after `idle_seconds` without any
    notice. gunicorn forks its workers after importing the app: a listener belongs to one
    process, and a forked child starts its own."""

    def __init__(self, engine: Engine, name: str, *, idle_seconds: float = 30.0, pause: float = 1.0):
        self.engine = engine
        self.name = name
        self.idle_seconds = idle_seconds
        self.pause = pause
        self.value: int | None = None  # None: no listener connected
        self._listener: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        os.register_at_fork(after_in_child=self._forget)

    def __call__(self) -> int:
        value = self.value
        if value is not None:
            return value
        self._start()
        active = active_store.of(self.engine)
        if active is not None:  # until the listener hears of switches, the pointer is read per call
            active.refresh()
        return read_store.current_position(self.engine, self.name)

    def close(self) -> None:
        """Stops listening (within `idle_seconds`); a worker listens for its whole life."""
        self._closed.set()

    def _forget(self) -> None:
        self.value, self._listener, self._lock = None, None, threading.Lock()

    def _start(self) -> None:
        with self._lock:
            if self._listener is None:
                self._listener = threading.Thread(target=self._listen, name="position-feed", daemon=True)
                self._listener.start()

    def _connect(self) -> psycopg.Connection:
        """A connection of the engine's own settings (its search path: a replay's scratch schema),
        taken out of its pool for good."""
        pooled = self.engine.raw_connection()
        conn = pooled.driver_connection
        pooled.detach()
        conn.rollback()
        conn.autocommit = True
        conn.execute(f"SET application_name = '{APPLICATION_NAME}'")  # for pg_stat_activity
        return conn

    def _listen(self) -> None:
        while not self._closed.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {CHANNEL}")  # before the first read: no change falls between
                    active = active_store.of(self.engine)
                    if active is not None and active.refresh():
                        continue  # a rebuild switched the store since this process read the pointer
                    schema = conn.execute("SELECT current_schema()").fetchone()[0]
                    while (
                        not self._closed.is_set()
                    ):  # read again after a reset, and after `idle_seconds` without notices
                        self.value = self._read(conn)
                        try:
                            for notice in conn.notifies(timeout=self.idle_seconds):
                                if not self._take(schema, notice.payload):
                                    break  # no query while notifies() holds the connection
                        except _Switched as switched:  # this connection moves too, still listening
                            conn.execute(f"SET search_path TO {switched.schema}")
                            schema = switched.schema
            except Exception:  # the database restarted or the connection broke: read per request meanwhile
                self.value = None
                log.warning("position notices lost; reading the position per request until reconnected", exc_info=True)
            self._closed.wait(self.pause)
        self.value = None

    def _take(self, schema: str, payload: str) -> bool:
        """Follows one notice; False when the position is to be read again (a reset), or read
        from another store (a switch: the listening connection is to move there too)."""
        parts = payload.split(" ")
        if parts[0] == active_store.SWITCH_NOTICE:
            active = active_store.of(self.engine)
            if active is not None and parts[1] != schema:
                active.follow(parts[1])
                raise _Switched(parts[1])
            return True
        if parts[0] != schema:
            return True  # another schema's `positions`: a replay's scratch store
        if parts[1] == RESET:
            return False
        if parts[1] == self.name:
            self.value = int(parts[2])
        return True

    def _read(self, conn: psycopg.Connection) -> int:
        row = conn.execute("SELECT position FROM positions WHERE name = %s", (self.name,)).fetchone()
        return row[0] if row else 0


def feed(engine: Engine, name: str) -> Callable[[], int]:
    """The position of consumer `name` in the read store of `engine`, for a service that does
    not commit it itself."""
    if engine.dialect.name == "postgresql":
        return Notified(engine, name)
    return lambda: read_store.current_position(engine, name)
