"""Connection to the read tables (SQLite file by default, PostgreSQL in production), and the
consumers' positions in the event log that they record."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

from sqlalchemy import bindparam, create_engine, event, select
from sqlalchemy.engine import Connection, Engine

from configuration.private_files import private_file
from read_model.tables import positions

# How often SQLite asks whether a statement is past its time: every this many virtual machine
# instructions (well under a millisecond of work), a cost too small to measure.
PROGRESS_STEPS = 10_000
DEADLINE = "statement_deadline"  # in a connection's `info`: when its running statement must stop
STATEMENT_SECONDS = "statement_seconds"  # in a connection's `info`: how long each statement may run


def connect(
    url: str,
    *,
    pool_size: int = 5,
    statement_seconds: float | None = None,
    ping: bool = True,
    parallel: bool = True,
    reads_only: bool = False,
) -> Engine:
    """`statement_seconds`: the longest any one statement may run on this engine (for the
    engines that serve reads; the projector's and the tools' writes are never cut short). A
    statement past it fails with PostgreSQL's QueryCanceled or SQLite's SQLITE_INTERRUPT.
    `ping` (PostgreSQL): each checkout first proves its connection alive, one round trip more.
    Without it a connection the server dropped fails the statement that uses it (a 503 from
    the API), and that failure discards every pooled connection of that time at once.
    `parallel=False` (PostgreSQL): no parallel workers for a statement. They shorten a long scan
    but cost more CPU in all (each started for the one statement): with every core busy serving
    requests, a page that walks thousands of index entries is cheaper in one process.
    `reads_only` (PostgreSQL): the server refuses any write on this engine's connections, and
    their transactions end by COMMIT (`_ended_by_commit`). Each statement is its own transaction
    (autocommit) unless a connection asks for an isolation level: most reads are one statement,
    and an engine's own level costs no setting and resetting at each checkout (the query app's
    listings of two statements ask REPEATABLE READ)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            private_file(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets readers work while the projector writes.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA case_sensitive_like=ON")  # search terms are case-sensitive
            # Deleted rows (a removed user's) are overwritten, not left readable in free pages.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        if statement_seconds is not None:
            _bound_sqlite_statements(engine, statement_seconds)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]  # psycopg 3, as the event store
    # The server itself cancels a statement past the limit, planning included.
    settings = [] if parallel else ["-c max_parallel_workers_per_gather=0"]
    if statement_seconds is not None:
        settings.append(f"-c statement_timeout={max(1, round(statement_seconds * 1000))}")
    if reads_only:
        settings.append("-c default_transaction_read_only=on")
    options = {"options": " ".join(settings)} if settings else {}
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=ping,
        connect_args=options,
        **({"isolation_level": "AUTOCOMMIT"} if reads_only else {}),
    )
    if reads_only:
        _ended_by_commit(engine)
    return engine


def _ended_by_commit(engine: Engine) -> None:
    """The transactions of an engine that only reads end by COMMIT, not ROLLBACK. To the server
    the two are the same for a transaction that wrote nothing (its connections cannot write), and
    either ends a failed one. But psycopg forgets every statement it has prepared on a connection
    at each ROLLBACK (it cannot tell which of them a failed transaction lost), and SQLAlchemy ends
    each transaction, and each connection's return to the pool, by one: no statement reached
    psycopg's threshold of 5 executions, and every statement of every request was parsed and
    planned anew (1.2-1.6 ms of PostgreSQL's CPU of a filtered listing, 2026-12-04). Prepared
    statements outlive transactions, committed or not, so psycopg loses none this way."""
    engine.dialect.do_rollback = lambda dbapi_connection: dbapi_connection.commit()


def checkpoint(engine: Engine) -> None:
    """SQLite: copies the write-ahead log into the database file and empties it, since the log
    may still hold pages as they were before a deletion. Nothing to do on PostgreSQL (its WAL is
    the server's, see docs/security.md)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _bound_sqlite_statements(engine: Engine, seconds: float) -> None:
    """SQLite has no statement timeout: each statement of the engine notes its deadline in its
    connection's `info` as it starts, and a progress handler, called as the statement runs
    (rows fetched later included), interrupts it once that deadline has passed."""

    @event.listens_for(engine, "connect")
    def _progress_handler(dbapi_connection, record):
        info = record.info  # the `info` of every Connection that checks this one out
        info[STATEMENT_SECONDS] = seconds
        dbapi_connection.set_progress_handler(lambda: time.monotonic() > info.get(DEADLINE, math.inf), PROGRESS_STEPS)

    @event.listens_for(engine, "before_cursor_execute")
    def _deadline(conn, cursor, statement, parameters, context, executemany):
        statement_starts(conn.info)


def statement_starts(info: dict) -> None:
    """Notes the deadline of the statement a connection (`Connection.info`) starts now, when its
    engine bounds its statements; for reads run by the driver itself (query_service/driver_reads.py)."""
    seconds = info.get(STATEMENT_SECONDS)
    if seconds is not None:
        info[DEADLINE] = time.monotonic() + seconds


def past_deadline(info: dict) -> bool:
    """Whether the statement running on a connection (`Connection.info`) is past its deadline.
    For functions written in Python that SQLite calls: the progress handler counts instructions,
    and one call of such a function is one instruction, however long it takes."""
    return time.monotonic() > info.get(DEADLINE, math.inf)


# Built once: a consumer reads and writes its position in every transaction.
_POSITION = select(positions.c.position).where(positions.c.name == bindparam("consumer"))
_POSITION_FOR_UPDATE = _POSITION.with_for_update()
_SET_POSITION = positions.update().where(positions.c.name == bindparam("consumer")).values(position=bindparam("to"))


def position(conn: Connection, name: str, *, for_update: bool = False) -> int:
    """`for_update` locks the row (PostgreSQL) so two instances of a projector take turns."""
    value = conn.execute(_POSITION_FOR_UPDATE if for_update else _POSITION, {"consumer": name}).scalar()
    return value or 0


def current_position(engine: Engine, name: str) -> int:
    """The position of consumer `name`, read on a connection of its own."""
    with engine.connect() as conn:
        return position(conn, name)


def wait_for_position(current: Callable[[], int], wanted: int, seconds: float) -> bool:
    """Whether `current()` reaches `wanted` within `seconds`: the one bounded wait of both
    services for the read model to include a write. The pause between two looks starts at 2 ms
    (a write the embedded projector is folding now) and doubles up to 50 ms."""
    deadline = time.monotonic() + seconds
    pause = 0.002
    while current() < wanted:
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    return True


def set_position(conn: Connection, name: str, value: int) -> None:
    updated = conn.execute(_SET_POSITION, {"consumer": name, "to": value}).rowcount
    if not updated:
        conn.execute(positions.insert().values(name=name, position=value))
