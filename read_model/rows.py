"""Small pieces every read-model handler needs: times, uploader columns, existence checks."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache
from uuid import UUID

from psycopg import postgres
from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy import and_, exists, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from domain.actor import Actor
from read_model import row_versions
from read_model.tables import users


def id_text(value: UUID) -> str:
    """`str(value)`, kept for the next ID_TEXTS_KEPT ids asked: a run of uploads names the same
    benchmarks, sites, flavors and tags again and again, and an upload's own id twice (its row and
    its events index row). UUID's text is made in Python (0.7 µs); the same text object also
    pickles once per task of a replay's worker (projections/replay_workers.py). Keyed by the
    integer: a UUID hashes and compares in Python."""
    key = value.int
    text = _ID_TEXTS.get(key)
    if text is None:
        if len(_ID_TEXTS) >= ID_TEXTS_KEPT:
            _ID_TEXTS.clear()  # simpler than least-recently-used, and as good: few ids repeat
        text = _ID_TEXTS[key] = str(value)
    return text


ID_TEXTS_KEPT = 4096
_ID_TEXTS: dict[int, str] = {}


def utc(value: datetime) -> datetime:
    """Read tables store naive UTC, as the original stores naive server time."""
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def uploader_columns(actor: Actor) -> dict:
    return {"uploader_sub": actor.sub, "uploader_iss": actor.iss}


def is_registered(conn: Connection, actor: Actor) -> bool:
    """An upload whose uploader was removed before it was projected is gone by the cascade."""
    return conn.execute(select(exists().where(and_(users.c.sub == actor.sub, users.c.iss == actor.iss)))).scalar()


def parameter_mark(conn: Connection) -> str:
    """The driver's placeholder of a parameter in SQL written by hand: `?` (sqlite3) or `%s` (psycopg)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def insert_rows(conn: Connection, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """A multi-row insert straight through the driver: the bulk path of a replay, without
    SQLAlchemy's per-row parameter processing (values are prepared as it would). PostgreSQL
    takes many rows by COPY: one stream rather than a statement per row, with each value parsed
    from its text as an insert's parameter is; a few rows (one upload's) by one INSERT, which
    costs both sides less than a COPY's extra exchange. Rows of a versioned table are stamped
    with the projector's clock here when it is known: the database then runs nothing per row for
    it (SQLite's insert trigger skips stamped rows; PostgreSQL's default is not evaluated)."""
    if not rows:
        return
    clock = row_versions.clock(conn) if table.name not in row_versions.UNVERSIONED else None
    if clock is not None:  # a parameter, not in the text: one text for every event, prepared once by psycopg
        columns, rows = (*columns, row_versions.VALID_FROM), [(*row, clock) for row in rows]
    names = ", ".join(columns)
    postgres = conn.dialect.name == "postgresql"
    if postgres and len(rows) >= COPY_FROM_ROWS:
        with conn.connection.cursor() as cursor:
            cursor.adapters.register_dumper(None, _JsonTextDumper)  # this cursor's, for the jsonb columns
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_copy_types(table, columns))
                for row in rows:
                    copy.write_row(row)
        return
    mark = parameter_mark(conn)
    marks = "(" + ", ".join([mark] * len(columns)) + ")"
    if postgres:
        values = ", ".join([marks] * len(rows))
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES {values}", tuple(v for r in rows for v in r))
    else:
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES {marks}", rows)


# From this many rows on, COPY costs PostgreSQL and the projector less than an INSERT of them
# (measured: 1 row 0.35 ms by COPY, 0.22 by INSERT; 15 rows 0.46 by COPY, 0.59 by INSERT).
# In binary: PostgreSQL reads each value as it keeps it, where text has it parse timestamps and
# numbers, and psycopg writes them without formatting. 10^5 results took 0.31 s instead of 0.59,
# their numbers 0.23 instead of 0.34 (docs/performance.md). Binary asks for each value in its
# column's type, which the rows hold: ints, floats, booleans, naive datetimes, text.
COPY_FROM_ROWS = 8


@lru_cache(maxsize=None)
def _copy_types(table, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The PostgreSQL type of each column, as psycopg names it (`varchar` of `VARCHAR(36)`);
    `valid_from`, which the migrations add (read_model/row_versions.py), is a bigint."""
    return tuple(
        "int8"
        if column == row_versions.VALID_FROM
        else _TYPE_MODIFIER.sub("", table.c[column].type.compile(dialect=_POSTGRES)).lower()
        for column in columns
    )


_POSTGRES = postgresql.dialect()
_TYPE_MODIFIER = re.compile(r"\(.*\)")


class _JsonTextDumper(Dumper):
    """A JSON document given as its text (rows hold documents as the text they are served as),
    in jsonb's binary form: a version byte, then the text. psycopg's own jsonb dumper would
    encode the text again, as a JSON string."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()


def row_exists(conn: Connection, table, id) -> bool:
    return conn.execute(select(exists().where(table.c.id == str(id)))).scalar()


def stored_time(value, postgres: bool):
    """As SQLAlchemy's DateTime stores it: a timestamp on PostgreSQL, fixed-width text on SQLite."""
    if postgres:
        return value
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # years before 1000 too (strftime would not pad)
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )
