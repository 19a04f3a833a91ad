"""Which read store the services read and the projector writes: the configured one, or the
one `eosc-perf rebuild` built and switched them to (projections/rebuild.py).

The pointer. READ_STORE_URL (or the embedded default's read.sqlite) names where the pointer
lives, and the store at that place is the first active store. A rebuild builds a new store
beside it (PostgreSQL: a schema `read_<hex>` in the same database; SQLite: a file
`read-<hex>.sqlite` in the same folder) and then points at it:
- PostgreSQL: the one row of table `read_store_pointer` in the configured store's schema,
  changed in the switch's transaction, which also announces it on the position feed's channel
  (`@ <schema>`, read_model/position_feed.py);
- SQLite: a file `<read store>.active` naming the active file, replaced atomically.
Each process reads the pointer once when it opens its engines, not per request.

What a request pays for it: nothing but one comparison. Engines opened through `ActiveStore`
connect to the store pointed at when each connection is made (its search path is the active
schema, or its file the active file), and label the connection with it; when a connection is
checked out whose label is not the current location, it is moved (PostgreSQL: its search path
set, one round trip) or replaced (SQLite: a new connection to the new file). The current
location is an attribute of this process, moved by:
- the position feed's listener, on the switch's notice (query and command workers; a worker
  forked with an older pointer reads it again when its listener connects);
- the embedded server's watch of the pointer file (eosc_perf/embedded.py);
- a projector, when its store turns out retired (projections/projector.py).

The switch is atomic for the projector: it writes `RETIRED` into the `positions` of the store
it leaves, in a transaction that holds the projector's lock (its position row on PostgreSQL,
the write lock of the SQLite file), after the new store has caught up with the event log. A
projector checks for that row in each batch's transaction after writing its position: it finds
it, rolls the batch back and applies it again in the new store, which skips what it has. Each
store counts its own position, so no event is applied twice or missed in the one served.

The mailer's tables stay where they were (the configured store): the mailer opens its engine
with `read_store.connect`, never through here.
"""

from __future__ import annotations

import os
from pathlib import Path
from weakref import WeakKeyDictionary

from sqlalchemy import event, exc, select, text
from sqlalchemy.engine import Connection, Engine, make_url

from read_model import read_store
from read_model.tables import positions

POINTER_TABLE = "read_store_pointer"
SWITCH_NOTICE = "@"  # the position feed's notice of a switch: "@ <schema>"
RETIRED = "(retired)"  # a `positions` row: the store was switched away from
LOCATION = "read store location"  # in a pooled connection's `info`: which store it is connected to

_of_pool: WeakKeyDictionary = WeakKeyDictionary()


class ActiveStore:
    """The store the pointer names, as this process follows it. `location`: None for the
    configured store itself, else a schema (PostgreSQL) or a file path (SQLite)."""

    def __init__(self, url: str):
        self.url = url
        self.postgres = not url.startswith("sqlite")
        self._pointer_engine = read_store.connect(url, pool_size=1) if self.postgres else None
        self.home = None  # PostgreSQL: the configured schema, where the pointer is
        if self._pointer_engine is not None:
            with self._pointer_engine.connect() as conn:
                self.home = conn.execute(text("SELECT current_schema()")).scalar()
        self.location: str | None = self.pointed()
        self._read_here = True  # the pointer was read in this process (a forked child reads it again)
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._read_here = False
        if self._pointer_engine is not None:
            self._pointer_engine.dispose(close=False)  # the parent's connection stays the parent's

    # --- the pointer ----------------------------------------------------------------------
    def pointer_file(self) -> Path:
        return Path(f"{sqlite_path(self.url)}.active")

    def pointed(self) -> str | None:
        """The location the pointer names now (None: the configured store)."""
        if not self.postgres:
            try:
                name = self.pointer_file().read_text().strip()
            except FileNotFoundError:
                return None
            return str(self.pointer_file().parent / name) if name else None
        with self._pointer_engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass(:name)"), {"name": POINTER_TABLE}).scalar() is None:
                return None
            return conn.execute(text(f"SELECT location FROM {POINTER_TABLE}")).scalar()

    def refresh(self) -> bool:
        """Follows the pointer; whether the location changed."""
        now = self.pointed()
        changed = now != self.location
        self.location = now
        return changed

    def follow(self, location: str | None) -> None:
        self.location = location

    # --- engines ----------------------------------------------------------------------------
    def connect(self, **options) -> Engine:
        """An engine of `read_store.connect(url, **options)` whose connections go to the active store."""
        engine = read_store.connect(self.url, **options)
        _of_pool[engine.pool] = self

        @event.listens_for(engine, "do_connect")
        def _to_active(dialect, record, cargs, cparams):
            location = self.location
            record.info[LOCATION] = location
            if location is None:
                return
            if self.postgres:
                cparams["options"] = f"{cparams.get('options', '')} -csearch_path={location}".strip()
            else:
                cargs[0] = location

        @event.listens_for(engine, "checkout")
        def _current(dbapi_connection, record, proxy):
            if not self._read_here:  # once per forked process, before its first statement
                self._read_here = True
                self.refresh()
            location = self.location
            if record.info.get(LOCATION) == location:
                return
            if self.postgres and location is not None:
                # One round trip instead of a new connection. SET is transactional: committed
                # at once, so that the request's own rollback keeps it.
                dbapi_connection.execute(f"SET search_path TO {location}")
                dbapi_connection.commit()
                record.info[LOCATION] = location
                return
            raise exc.DisconnectionError("the read store was switched")  # the pool connects anew

        return engine

    def close(self) -> None:
        if self._pointer_engine is not None:
            self._pointer_engine.dispose()


def of(engine: Engine) -> ActiveStore | None:
    """The ActiveStore an engine (or one derived by `execution_options`) follows, if any."""
    return _of_pool.get(engine.pool)


def sqlite_path(url: str) -> Path:
    return Path(make_url(url).database)


# Asked after every batch the projector applies: built once (built anew, it was a twentieth of
# the projector's CPU per batch, issue 16).
_RETIRED_MARK = select(positions.c.position).where(positions.c.name == RETIRED)


def is_retired(conn: Connection) -> bool:
    return conn.execute(_RETIRED_MARK).first() is not None


def retire(conn: Connection) -> None:
    read_store.set_position(conn, RETIRED, 1)


def point_file(url: str, location: Path | None) -> None:
    """SQLite: the pointer file names `location` (a file in the same folder), replaced
    atomically; None: no pointer, the configured file."""
    pointer = Path(f"{sqlite_path(url)}.active")
    if location is None:
        pointer.unlink(missing_ok=True)
        return
    staged = pointer.with_name(pointer.name + ".new")
    staged.write_text(location.name + "\n")
    os.replace(staged, pointer)


def create_pointer(conn: Connection, home: str) -> None:
    """PostgreSQL: the pointer's table, in schema `home` (the configured one), before a switch."""
    conn.execute(
        text(
            f'CREATE TABLE IF NOT EXISTS "{home}".{POINTER_TABLE} '
            "(location text NOT NULL, switched_at timestamptz NOT NULL)"
        )
    )


def point_schema(conn: Connection, home: str, schema: str) -> None:
    """PostgreSQL: in `conn`'s transaction, the pointer (in schema `home`) names `schema`, and
    the switch is announced to the position feeds when it commits."""
    from read_model.position_feed import CHANNEL  # the feed imports this module

    pointer = f'"{home}".{POINTER_TABLE}'
    conn.execute(text(f"DELETE FROM {pointer}"))
    conn.execute(
        text(f"INSERT INTO {pointer} (location, switched_at) VALUES (:location, clock_timestamp())"),
        {"location": schema},
    )
    conn.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": f"{SWITCH_NOTICE} {schema}"}
    )
