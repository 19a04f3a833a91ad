"""Row versions: every read table as it was at any past event position (`as_of` reads).

Each versioned read table has a `valid_from` column: the position of the event that wrote its
current row. Triggers the migration creates (and `install` renews whenever the migrations add
tables or columns) copy a row's superseded version, as the projector updates or deletes it, into
`<table>_versions` with `valid_to`, the position of the event that superseded it, in the same
transaction. Current rows keep their tables and indexes; reads of the current state are unchanged.

The position of the event being folded (the clock) comes from the projector (`set_clock`): a
transaction-local setting on PostgreSQL, a one-row table on SQLite (whose triggers cannot read
anything else). Writes outside the projector (a migration's backfill) take the read model's
position. A run of uploads the projector folds in one call (projections/projector.py) is stamped
with the position of its last event: an as-of read inside such a run shows the state before it.

A table as of position N is "current rows with valid_from <= N, and superseded versions with
valid_from <= N < valid_to". `as_of_prefix` writes that as one common table expression per table,
named like the table, to put before a SELECT: the statement, whatever built it, reads the tables
as they were at N. `events_index` is append-only: as of N it holds the events up to N.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, Table, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from read_model import READ_MODEL
from read_model.tables import metadata

VALID_FROM = "valid_from"
VALID_TO = "valid_to"
SUFFIX = "_versions"
# Bookkeeping of the consumers, the append-only events index (read as of N by its positions),
# and the numbers' counts by value (read for current totals only: read_model/tables.py).
UNVERSIONED = frozenset({"positions", "parked_events", "events_index", "result_number_values"})
APPEND_ONLY = {"events_index": "position"}  # table -> the column holding each row's event position
# Tables an as-of listing reads by their two halves (its page and count, a number filter's rows:
# query_service/as_of_pages.py): as of N their stored table is named `<table>@stored` too (the
# table's own name is its state as of N there).
PAGED = ("results", "result_numbers")
STORED = "@stored"
# Tables whose rows the projector changes in nearly every transaction (the counts it keeps):
# each key has a version per transaction, 10^5 of them after 10^5 uploads one at a time. Every
# other key's versions are few. A key's version as of N is the one whose interval holds N; by
# the key's index the server would read all of the key's versions to find it (45 ms as of a
# middle position of 3.8x10^5 events, growing with the log), so on PostgreSQL each of these
# versions tables has a GiST index of the intervals (`interval_indexes`), which finds the at
# most one version per key holding N directly (0.1-0.4 ms there). SQLite has no index of
# intervals: a copy of each of those versions goes into an R*Tree (`interval_tables`).
STEADILY_CHANGED = ("counters", "result_number_paths", "benchmark_results")
INTERVAL = f"int8range({VALID_FROM}, {VALID_TO})"  # [valid_from, valid_to): the positions a version held
AT = "_at"  # `<table>_versions_at`: the GiST index (PostgreSQL), the R*Tree (SQLite)
BY_END = "_valid"  # `<table>_versions_valid`: every versions table's index of (valid_to, valid_from)
# SQLite's R*Tree of integers (rtree_i32) keeps 32-bit coordinates: a version that ends past
# this position is read from its versions table alone (a store of over 2^31 events).
RTREE_LAST = 2**31 - 1
CLOCK_SETTING = "eosc_perf.row_clock"  # PostgreSQL: the position of the event being folded

_bookkeeping = MetaData()
# One row: since when versions are kept (`since`: the read model's position when the migration
# ran; an older state is unknown), and on SQLite the clock.
row_versions = Table(
    "row_versions",
    _bookkeeping,
    Column("since", BigInteger, nullable=False),
    Column("clock", BigInteger),
)


def versioned_tables() -> list[Table]:
    return [table for table in metadata.sorted_tables if table.name not in UNVERSIONED]


def versions_of(table: Table) -> Table:
    """`<table>_versions` as SQLAlchemy sees it, for the few writes into versions (an erasure),
    and as-of pages."""
    return Table(
        table.name + SUFFIX,
        MetaData(),
        *(Column(column.name, column.type) for column in table.columns if column.name != VALID_FROM),
        Column(VALID_FROM, BigInteger),
        Column(VALID_TO, BigInteger),
    )


def stored(table: Table) -> Table:
    """The stored table (its current rows and their `valid_from`) in a statement read as of a
    position, where the table's name is its state then (`as_of_prefix`); for tables in PAGED."""
    return Table(
        table.name + STORED,
        MetaData(),
        *(Column(column.name, column.type) for column in table.columns),
        Column(VALID_FROM, BigInteger),
    )


def table_schema(conn: Connection) -> str | None:
    """The schema of the connection's tables: a scratch store (projections/replay.py) names its
    own by a translate map, while its search path shows the live tables too."""
    return (conn.get_execution_options().get("schema_translate_map") or {}).get(None)


def _has_table(conn: Connection, name: str) -> bool:
    return inspect(conn).has_table(name, schema=table_schema(conn))


def _columns(conn: Connection, name: str) -> dict:
    return {column["name"]: column for column in inspect(conn).get_columns(name, schema=table_schema(conn))}


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def install(conn: Connection) -> None:
    """Creates or renews what keeps the versions of every read table: its `valid_from`, its
    versions table with every column it has now, and its triggers. Idempotent."""
    postgres = conn.dialect.name == "postgresql"
    if not _has_table(conn, row_versions.name):
        row_versions.create(conn)
        start = conn.execute(text("SELECT position FROM positions WHERE name = :name"), {"name": READ_MODEL}).scalar()
        conn.execute(row_versions.insert().values(since=start or 0, clock=None))
    if postgres:
        conn.exec_driver_sql(
            f"""
                CREATE OR REPLACE FUNCTION row_clock() RETURNS bigint LANGUAGE sql STABLE AS $$
                    SELECT COALESCE(
                        NULLIF(current_setting('{CLOCK_SETTING}', true), '')::bigint,
                        (SELECT position FROM positions WHERE name = '{READ_MODEL}'),
                        0
                    )
                $$
                """
        )
    for table in versioned_tables():
        columns = _columns(conn, table.name)
        if VALID_FROM not in columns:
            _add_valid_from(conn, table.name, postgres)
            columns = _columns(conn, table.name)
        _versions_table(conn, table.name, columns)
        names = list(columns)
        keys = inspect(conn).get_pk_constraint(table.name, schema=table_schema(conn))["constrained_columns"]
        (_postgres_triggers if postgres else _sqlite_triggers)(conn, table.name, names, keys)
        _mirror_indexes(conn, table.name)
    interval_tables(conn)


def _add_valid_from(conn: Connection, name: str, postgres: bool) -> None:
    """The rows there are date from `since`. PostgreSQL stores a constant default without
    rewriting the table (then the clock becomes its default: `_postgres_triggers`); SQLite's
    insert trigger stamps only
    rows inserted without a stamp, so its default stays empty."""
    # No row: the tables were emptied by hand (TRUNCATE), and every state since is known.
    since = int(conn.execute(select(row_versions.c.since)).scalar() or 0)
    table = _quote(conn, name)
    if postgres:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {VALID_FROM} BIGINT NOT NULL DEFAULT {since}")
    else:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {VALID_FROM} BIGINT")
        conn.exec_driver_sql(f"UPDATE {table} SET {VALID_FROM} = {since}")


def _versions_table(conn: Connection, name: str, columns: dict) -> None:
    """`<name>_versions`: the table's columns (without constraints) and `valid_to`; columns the
    table gained since are added."""
    versions = name + SUFFIX
    if not _has_table(conn, versions):
        table = Table(
            versions,
            MetaData(),
            *(Column(column, info["type"], nullable=True) for column, info in columns.items()),
            Column(VALID_TO, BigInteger, nullable=False),
        )
        table.create(conn)
        conn.execute(text(f"CREATE INDEX {_quote(conn, versions + BY_END)} ON {versions} ({VALID_TO}, {VALID_FROM})"))
        return
    present = set(_columns(conn, versions))
    for column, info in columns.items():
        if column not in present:
            kind = info["type"].compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {versions} ADD COLUMN {_quote(conn, column)} {kind}"))


def drop_versions(conn: Connection) -> None:
    """Drops the versions tables of a store that no longer serves (projections/rebuild.py), with
    the read tables: they hold what those tables held before, users' addresses among them, which
    a later erasure would not reach in a store nobody reads. Their triggers went with the tables."""
    if conn.dialect.name == "sqlite":
        for name in STEADILY_CHANGED:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_quote(conn, name + SUFFIX + AT)}")
    for table in reversed(versioned_tables()):
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_quote(conn, table.name + SUFFIX)}")


def interval_indexes(conn: Connection) -> None:
    """PostgreSQL: the GiST index of the versions' intervals of each table in STEADILY_CHANGED
    (`<table>_versions_at`), and the statistics the planner needs to prefer it to the key's
    index. Idempotent; nothing on SQLite (`interval_tables`)."""
    if conn.dialect.name != "postgresql":
        return
    for name in STEADILY_CHANGED:
        versions = _quote(conn, name + SUFFIX)
        index = _quote(conn, f"{name}{SUFFIX}{AT}")
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {index} ON {versions} USING gist ({INTERVAL})")
        conn.exec_driver_sql(f"ANALYZE {versions}")


def interval_tables(conn: Connection) -> None:
    """SQLite: each table in STEADILY_CHANGED gets `<table>_versions_at`, an R*Tree of its
    versions' intervals that carries their columns too (auxiliary columns), filled by a trigger
    on each version written. An as-of read takes the at most one version per key holding N from
    it, where the versions table's indexes would have it read every version of the key after N
    (10-20 ms per count at 10^5 versions). Its rows are numbered by the R*Tree itself: the
    versions tables' rowids, which VACUUM renumbers, name nothing. Idempotent; built anew from
    the versions table when that has columns the R*Tree lacks. Nothing on PostgreSQL."""
    if conn.dialect.name != "sqlite":
        return
    for name in STEADILY_CHANGED:
        versions = name + SUFFIX
        carried = [column for column in _columns(conn, versions) if column not in (VALID_FROM, VALID_TO)]
        at = _quote(conn, versions + AT)
        present = [row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({at})")]
        columns = ", ".join(_quote(conn, column) for column in [VALID_FROM, VALID_TO, *carried])
        if present != ["id", VALID_FROM, VALID_TO, *carried]:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {at}")
            auxiliary = "".join(f", +{_quote(conn, column)}" for column in carried)
            conn.exec_driver_sql(f"CREATE VIRTUAL TABLE {at} USING rtree_i32(id, {VALID_FROM}, {VALID_TO}{auxiliary})")
            conn.exec_driver_sql(
                f"INSERT INTO {at} ({columns}) SELECT {columns} FROM {_quote(conn, versions)}"
                f" WHERE {VALID_FROM} < {VALID_TO} AND {VALID_TO} <= {RTREE_LAST}"
            )
        # Only versions that held a position: one without valid_from, or whose interval is
        # empty, is as of no position (`valid_from <= N < valid_to` is not true of it). The
        # R*Tree would take a missing coordinate for 0, and refuse a reversed interval (an
        # error that would stop the projector at that event).
        trigger = _quote(conn, f"{versions}_kept")
        new_values = ", ".join(f"NEW.{_quote(conn, column)}" for column in [VALID_FROM, VALID_TO, *carried])
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        conn.exec_driver_sql(
            f"CREATE TRIGGER {trigger} AFTER INSERT ON {_quote(conn, versions)}"
            f" WHEN NEW.{VALID_FROM} < NEW.{VALID_TO} AND NEW.{VALID_TO} <= {RTREE_LAST}"
            f" BEGIN INSERT INTO {at} ({columns}) VALUES ({new_values}); END"
        )


def mirror_indexes(conn: Connection) -> None:
    """Every versions table gets the indexes of its table (`_mirror_indexes`). Idempotent."""
    for table in versioned_tables():
        _mirror_indexes(conn, table.name)


def _mirror_indexes(conn: Connection, name: str) -> None:
    """The indexes of the table on its versions table, each followed by the primary key (none
    unique: a key has many versions): an as-of read walks the same kinds of index over both
    halves of a table as of N (an as-of listing's page merges the two walks in order; the page's
    rows are found by key). Indexes of expressions are not mirrored. Renewed with the triggers:
    indexes later migrations add are mirrored too."""
    versions = name + SUFFIX
    keys = inspect(conn).get_pk_constraint(name, schema=table_schema(conn))["constrained_columns"]
    found = inspect(conn).get_indexes(name, schema=table_schema(conn))
    wanted = [(f"{name}_pkey", [], None)] if keys else []
    wanted += [
        (index["name"], index["column_names"], index.get("dialect_options", {}).get("postgresql_using"))
        for index in found
        if index["column_names"] and None not in index["column_names"]
    ]
    wanted += [
        (f"{name}_{constraint['name'] or '_'.join(constraint['column_names'])}", constraint["column_names"], None)
        for constraint in inspect(conn).get_unique_constraints(name, schema=table_schema(conn))
    ]
    # An index the versions table has already serves whatever index of its table has the same
    # columns: a unique constraint is an index too, and an index dropped from the table leaves
    # its mirror, which an index it was the start of (read-store migration 23) shares.
    mirrored_columns = {
        (tuple(index["column_names"]), _method(index))
        for index in inspect(conn).get_indexes(versions, schema=table_schema(conn))
    }
    for index_name, columns, using in wanted:
        kind = _method_named(using)
        if kind is not None:  # a hash index finds equal values only: its key alone
            listed = columns
        else:
            listed = columns + [key for key in keys if key not in columns]
        if (tuple(listed), kind) in mirrored_columns:
            continue
        mirrored_columns.add((tuple(listed), kind))
        quoted = ", ".join(_quote(conn, column) for column in listed)
        method = f" USING {kind}" if kind is not None else ""
        mirrored = _quote(conn, f"{index_name}{SUFFIX}")
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {mirrored} ON {_quote(conn, versions)}{method} ({quoted})")


def _method(index: dict) -> str | None:
    """An inspected index's access method: None for a b-tree."""
    return _method_named(index.get("dialect_options", {}).get("postgresql_using"))


def _method_named(using: str | None) -> str | None:
    return None if using in (None, "btree") else using


def _postgres_triggers(conn: Connection, name: str, columns: list[str], keys: list[str]) -> None:
    """An insert is stamped by the column's default (the clock), not by the trigger: a bulk
    insert that knows the clock (`clock`) may stamp its rows itself, and the server then runs no
    function per inserted row. Updates and deletes keep the superseded version."""
    quoted = ", ".join(_quote(conn, column) for column in columns)
    old = ", ".join(f"OLD.{_quote(conn, column)}" for column in columns)
    function = _quote(conn, f"{name}_keep_version")
    table = _quote(conn, name)
    conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {VALID_FROM} SET DEFAULT row_clock()")
    conn.exec_driver_sql(
        f"""
            CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                clock bigint := row_clock();
            BEGIN
                -- A version written and superseded by one event was never seen at any position.
                IF OLD.{VALID_FROM} < clock THEN
                    INSERT INTO {name}{SUFFIX} ({quoted}, {VALID_TO}) VALUES ({old}, clock);
                END IF;
                IF TG_OP = 'UPDATE' THEN
                    NEW.{VALID_FROM} := clock;
                    RETURN NEW;
                END IF;
                RETURN OLD;
            END $$
            """
    )
    trigger = _quote(conn, f"{name}_keep_version")
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    conn.exec_driver_sql(
        f"CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()"
    )


_SQLITE_CLOCK = (
    f"COALESCE((SELECT clock FROM row_versions), (SELECT position FROM positions WHERE name = '{READ_MODEL}'), 0)"
)


def _sqlite_triggers(conn: Connection, name: str, columns: list[str], keys: list[str]) -> None:
    """SQLite's triggers cannot change the row being written: the stamp is a second update,
    which fires no trigger of its own (recursive triggers are off)."""
    quoted = ", ".join(f'"{column}"' for column in columns)
    old = ", ".join(f'OLD."{column}"' for column in columns)
    same_row = " AND ".join(f'"{key}" = NEW."{key}"' for key in keys)
    for suffix in ("inserted", "updated", "deleted"):
        conn.exec_driver_sql(f'DROP TRIGGER IF EXISTS "{name}_{suffix}"')
    conn.exec_driver_sql(
        f'CREATE TRIGGER "{name}_inserted" AFTER INSERT ON "{name}" WHEN NEW.{VALID_FROM} IS NULL BEGIN'
        f' UPDATE "{name}" SET {VALID_FROM} = {_SQLITE_CLOCK} WHERE {same_row}; END'
    )
    conn.exec_driver_sql(
        f'CREATE TRIGGER "{name}_updated" AFTER UPDATE ON "{name}" WHEN OLD.{VALID_FROM} < {_SQLITE_CLOCK} BEGIN'
        f' INSERT INTO "{name}{SUFFIX}" ({quoted}, {VALID_TO}) VALUES ({old}, {_SQLITE_CLOCK});'
        f' UPDATE "{name}" SET {VALID_FROM} = {_SQLITE_CLOCK} WHERE {same_row}; END'
    )
    conn.exec_driver_sql(
        f'CREATE TRIGGER "{name}_deleted" AFTER DELETE ON "{name}" WHEN OLD.{VALID_FROM} < {_SQLITE_CLOCK} BEGIN'
        f' INSERT INTO "{name}{SUFFIX}" ({quoted}, {VALID_TO}) VALUES ({old}, {_SQLITE_CLOCK}); END'
    )


def set_clock(conn: Connection, position: int | None) -> None:
    """The position of the event the projector folds next (None: no event; on SQLite the clock
    is a row, which a transaction must leave empty)."""
    if conn.dialect.name == "postgresql":
        if position is not None:  # parameters: one text for every event, prepared once by psycopg
            conn.exec_driver_sql("SELECT set_config(%s, %s, true)", (CLOCK_SETTING, str(int(position))))
    else:
        conn.execute(row_versions.update().values(clock=position))
    conn.info[_KNOWN_CLOCK] = (conn.get_transaction(), position)


# conn.info key: (the transaction, the clock set_clock set in it), so that a clock set in a
# transaction that failed is not taken for one in the next on the same connection.
_KNOWN_CLOCK = "eosc_perf.row_clock"


def clock(conn: Connection) -> int | None:
    """The clock set in this transaction by `set_clock`, None if none is: a bulk insert stamps
    `valid_from` with it itself (read_model/rows.py), as the trigger or default would have."""
    transaction, position = conn.info.get(_KNOWN_CLOCK, (None, None))
    return position if transaction is not None and transaction is conn.get_transaction() else None


def since(conn: Connection) -> int | None:
    """The oldest position whose state the versions give; None on a store without them. (Tables
    emptied by hand, e.g. TRUNCATE, hold no row: every state since is known.)"""
    try:
        return conn.execute(select(row_versions.c.since)).scalar() or 0
    except DBAPIError:  # no such table: a store not migrated yet
        conn.rollback()
        return None


def as_of_names() -> frozenset[str]:
    """The names `as_of_prefix` can give a state as of a position (a statement naming none of
    them reads nothing that has one)."""
    return frozenset([*(table.name for table in versioned_tables()), *APPEND_ONLY])


def as_of_prefix(
    dialect: str, position: int | None, named: frozenset[str], materialized: frozenset[str] = frozenset()
) -> str:
    """The common table expressions that stand for the read tables in `named` (those a statement
    names) as of `position`, to put after the WITH of a SELECT; only those: PostgreSQL parses
    every expression of a statement, read or not, and psycopg does not cache the conversion of a
    statement text over 4 KB. SQLite names the stored tables by schema (`main.`): an expression
    naming its own name would be recursive there; in PostgreSQL a plain WITH cannot see itself.
    The tables named in `materialized` are computed once for the statement; the others are read
    where the statement reads them (each of their conditions pushed into both halves).
    `position` None: each place of the position is a parameter (`?`, SQLite's), to be bound
    to it, so that the statement's text, and what SQLite prepared of it, serves every position."""
    stored = "main." if dialect == "sqlite" else ""
    n = "?" if position is None else int(position)
    # First: in PostgreSQL a later expression would see the one named like the table.
    parts = [
        f'"{name}{STORED}" AS NOT MATERIALIZED (SELECT * FROM {stored}"{name}")' for name in PAGED if name in named
    ]
    for table in versioned_tables():
        if table.name not in named:
            continue
        columns = ", ".join(f'"{column.name}"' for column in table.columns)
        hint = "MATERIALIZED" if table.name in materialized else "NOT MATERIALIZED"
        held = f"{VALID_FROM} <= {n} AND {VALID_TO} > {n}"
        versions = f'SELECT {columns} FROM {stored}"{table.name}{SUFFIX}" WHERE {held}'
        if table.name in STEADILY_CHANGED and dialect == "postgresql":
            versions += f" AND {INTERVAL} @> {n}::bigint"  # the same again, as `interval_indexes`' index reads it
        elif table.name in STEADILY_CHANGED:
            # `interval_tables`' R*Tree, and the versions it cannot hold, by the index that
            # finds none of them at once: with two bounds of valid_to SQLite walked it from the
            # lower one, and by the key's index (a condition pushed in) every version of the key.
            versions = (
                f'SELECT {columns} FROM {stored}"{table.name}{SUFFIX}{AT}" WHERE {held}'
                f' UNION ALL SELECT {columns} FROM {stored}"{table.name}{SUFFIX}"'
                f' INDEXED BY "{table.name}{SUFFIX}{BY_END}" WHERE {VALID_TO} > max({n}, {RTREE_LAST})'
                f" AND {VALID_FROM} <= {n}"
            )
        parts.append(
            f'"{table.name}" AS {hint} ('
            f'SELECT {columns} FROM {stored}"{table.name}" WHERE {VALID_FROM} <= {n} UNION ALL {versions})'
        )
    for name, column in APPEND_ONLY.items():
        if name in named:
            parts.append(f'"{name}" AS NOT MATERIALIZED (SELECT * FROM {stored}"{name}" WHERE "{column}" <= {n})')
    return ", ".join(parts)
