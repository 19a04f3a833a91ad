"""The numbers of result documents by JSON path, kept with the result rows in the same
transaction: `result_numbers` (one row per number), `result_number_paths` (per benchmark and
path, the results with a number there), `result_number_values` (per benchmark, path and
number, the visible results with that number there) and `benchmark_results` (results per
benchmark).
The query service answers number filters and numeric sorts from them through an index
(query_service/json_numbers.py); `eosc-perf verify` compares them with a fresh replay.

Only numbers reached through object keys are kept, only through plain keys (see `plain_key`),
and only at paths of at most MAX_PATH_BYTES: the query service uses the table for such paths
alone, and keeps the per-row JSON expressions for the others. The bound keeps each row (and
its index entries) small, whatever the document: a row per number holds the number's whole
path, which without a bound grows with the depth of the number (a deep document would store
a quadratic amount), and PostgreSQL's b-trees refuse entries of more than 2704 bytes.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from functools import lru_cache
from itertools import repeat
from typing import Iterator, Sequence

from sqlalchemy import LargeBinary, case, cast, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from read_model.rows import insert_rows, parameter_mark
from read_model.tables import benchmark_results, result_number_paths, result_number_values, result_numbers, results

# From 2^53 on, doubles skip integers: two different JSON numbers may become one double, and
# SQLite reads integers beyond 64 bits on its own. Paths holding such numbers keep the
# per-row JSON evaluation (`unsafe` counts them).
UNSAFE = 2.0**53
# The longest path kept, in bytes of UTF-8. A property of the stored table (the query service
# trusts that every shorter path is there): changed only with a migration that rebuilds it.
MAX_PATH_BYTES = 256
_POSTGRES = postgresql.dialect()  # for the column types of the statements written below


# Not empty, no ".", and written in the stored JSON text exactly as it is: nothing that
# json.dumps(ensure_ascii=False) escapes ('"', backslash, control characters). Both databases'
# JSON paths then name the key the same way.
_PLAIN_KEY = re.compile(r'[^."\\\x00-\x1f]+')


def plain_key(key: str) -> bool:
    return _PLAIN_KEY.fullmatch(key) is not None


def kept_path(path: str) -> bool:
    """Whether numbers at this path (of plain keys) are in the table."""
    return len(path.encode()) <= MAX_PATH_BYTES


def _double(number) -> float:
    try:
        return float(number)
    except OverflowError:  # an integer beyond the double range
        return math.inf if number > 0 else -math.inf


@lru_cache(maxsize=4096)
def _kept_child(prefix: str, key: str) -> str | None:
    """The path of member `key` under `prefix` when numbers there are kept, else None. Cached:
    documents of one benchmark repeat their keys, and this is most of a replay's walk."""
    path = prefix + key
    return path if plain_key(key) and kept_path(path) else None


def numbers_of(document: dict) -> Iterator[tuple[str, float]]:
    """(path, value) of every number reachable through plain object keys at a kept path;
    booleans are no numbers. A path too long ends the walk there: all below it is longer."""
    pending = [("", document)]
    while pending:
        prefix, members = pending.pop()
        for key, value in members.items():
            path = _kept_child(prefix, key)
            if path is None:
                continue
            if isinstance(value, dict):
                pending.append((path + ".", value))
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                yield path, _double(value)


def paths_and_values(document: dict) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """`numbers_of` as the paths and, in the same order, the values: how `results_added` takes
    them, a run's rows and counts made by zips instead of a step of Python per number."""
    found = tuple(numbers_of(document))
    return tuple(path for path, _ in found), tuple(value for _, value in found)


def _all_safe(values: tuple[float, ...]) -> bool:
    return all(map(UNSAFE.__gt__, map(abs, values)))  # NaN is not safe: nan < UNSAFE is false


def _upsert_counts(conn: Connection, table, keys: tuple[str, ...], counted: dict[tuple, tuple]) -> None:
    """Adds counts to the rows of `table` keyed by `keys`, creating missing rows. PostgreSQL
    takes all of them in one statement, whose text is the same for any number of rows (each
    column as one array parameter): one execution per row took about a third of the statement
    time of a projected upload (pg_stat_statements, 4 writers). SQLite runs one per row in-process."""
    if not counted:
        return
    postgres = conn.dialect.name == "postgresql"
    statement = _upsert_statement(table, keys, postgres)
    rows = [(*key, *counts) for key, counts in counted.items()]
    conn.exec_driver_sql(statement, tuple(map(list, zip(*rows))) if postgres else rows)


@lru_cache(maxsize=None)
def _upsert_statement(table, keys: tuple[str, ...], postgres: bool) -> str:
    """The text of `_upsert_counts` for a table: per row (SQLite) or for arrays (PostgreSQL)."""
    columns = keys + tuple(c.name for c in table.columns if c.name not in keys)
    added = ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in columns[len(keys) :])
    if not postgres:
        rows = f"VALUES ({', '.join('?' * len(columns))})"
    else:
        arrays = (f"%s::{table.c[c].type.compile(dialect=_POSTGRES)}[]" for c in columns)
        rows = f"SELECT * FROM unnest({', '.join(arrays)})"
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) {rows} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {added}"
    )


# A connection whose `info` holds this key keeps no `result_number_values` (nor looks up what to
# change in them): a replay into an empty store (projections/replay.py) counts them all at its
# end, by one grouping (`count_values`).
VALUES_COUNTED_AT_END = "result_number_values counted at the end"


def _values_kept(conn: Connection) -> bool:
    return VALUES_COUNTED_AT_END not in conn.info


def _add_values(conn: Connection, added: Counter) -> None:
    """Adds visible results to the counts of `result_number_values`, keyed by
    (benchmark_id, path, value)."""
    _upsert_counts(conn, result_number_values, ("benchmark_id", "path", "value"), {k: (n,) for k, n in added.items()})


def _take_values(conn: Connection, taken: Counter) -> None:
    """Takes visible results away from the counts of `result_number_values`, keyed by
    (benchmark_id, path, value); rows left with none go (a fresh replay has none of them)."""
    if not taken:
        return
    mark = parameter_mark(conn)
    key = f"benchmark_id = {mark} AND path = {mark} AND value = {mark}"
    conn.exec_driver_sql(
        f"UPDATE result_number_values SET results = results - {mark} WHERE {key}",
        [(count, *values) for values, count in taken.items()],
    )
    conn.exec_driver_sql(f"DELETE FROM result_number_values WHERE {key} AND results = 0", list(taken))


def _numbers_of_results(conn: Connection, seqs, visible_only: bool) -> Counter:
    """(benchmark_id, path, value) -> how many of these results (visible ones only, if asked)
    have that number there."""
    found = select(result_numbers.c.benchmark_id, result_numbers.c.path, result_numbers.c.value, func.count())
    found = found.where(result_numbers.c.seq.in_(seqs))
    if visible_only:
        found = found.where(result_numbers.c.hidden.is_(False))
    grouped = found.group_by(result_numbers.c.benchmark_id, result_numbers.c.path, result_numbers.c.value)
    return Counter({(benchmark_id, path, value): count for benchmark_id, path, value, count in conn.execute(grouped)})


_COLUMNS = ("seq", "path", "benchmark_id", "hidden", "value")


def results_added(conn: Connection, added: Sequence[tuple[int, str, bool, tuple[str, ...], tuple[float, ...]]]) -> None:
    """Results just inserted, each as (seq, benchmark_id, hidden, the paths of its document's
    numbers, their values: `paths_and_values`)."""
    rows, per_path, per_benchmark = [], Counter(), Counter()
    unsafe, per_value = Counter(), Counter()
    values_kept = _values_kept(conn)
    for seq, benchmark_id, hidden, paths, values in added:
        per_benchmark[benchmark_id] += 1
        if not paths:
            continue
        rows += zip(repeat(seq), paths, repeat(benchmark_id), repeat(hidden), values)
        per_path.update(zip(repeat(benchmark_id), paths))
        if not _all_safe(values):  # seldom: look at each
            unsafe.update((benchmark_id, path) for path, value in zip(paths, values) if not abs(value) < UNSAFE)
        if values_kept and not hidden:
            per_value.update(zip(repeat(benchmark_id), paths, values))
    if rows:
        insert_rows(conn, result_numbers, _COLUMNS, rows)  # COPY on PostgreSQL
    _upsert_counts(
        conn,
        result_number_paths,
        ("benchmark_id", "path"),
        {key: (count, unsafe[key]) for key, count in per_path.items()},
    )
    _add_values(conn, per_value)
    _upsert_counts(conn, benchmark_results, ("benchmark_id",), {(b,): (count,) for b, count in per_benchmark.items()})


def results_removed(conn: Connection, condition) -> None:
    """Before the results matching `condition` are deleted: their numbers and counts go."""
    doomed = select(results.c.seq).where(condition)
    unsafe = func.sum(case((func.abs(result_numbers.c.value) >= UNSAFE, 1), else_=0))
    for benchmark_id, path, count, unsafe_count in conn.execute(
        select(result_numbers.c.benchmark_id, result_numbers.c.path, func.count(), unsafe)
        .where(result_numbers.c.seq.in_(doomed))
        .group_by(result_numbers.c.benchmark_id, result_numbers.c.path)
    ).all():
        key = (result_number_paths.c.benchmark_id == benchmark_id) & (result_number_paths.c.path == path)
        conn.execute(
            result_number_paths.update()
            .where(key)
            .values(results=result_number_paths.c.results - count, unsafe=result_number_paths.c.unsafe - unsafe_count)
        )
    conn.execute(result_number_paths.delete().where(result_number_paths.c.results == 0))
    for benchmark_id, count in conn.execute(
        select(results.c.benchmark_id, func.count()).where(condition).group_by(results.c.benchmark_id)
    ).all():
        conn.execute(
            benchmark_results.update()
            .where(benchmark_results.c.benchmark_id == benchmark_id)
            .values(results=benchmark_results.c.results - count)
        )
    conn.execute(benchmark_results.delete().where(benchmark_results.c.results == 0))
    if _values_kept(conn):
        _take_values(conn, _numbers_of_results(conn, doomed, visible_only=True))
    conn.execute(result_numbers.delete().where(result_numbers.c.seq.in_(doomed)))


def visibility_changed(conn: Connection, result_id: str, hidden: bool) -> None:
    """After a result was hidden or shown again (its `hidden` flag changed)."""
    of_result = select(results.c.seq).where(results.c.id == result_id)
    conn.execute(
        result_numbers.update().where(result_numbers.c.seq == of_result.scalar_subquery()).values(hidden=hidden)
    )
    if _values_kept(conn):
        changed = _numbers_of_results(conn, of_result, visible_only=False)
        (_take_values if hidden else _add_values)(conn, changed)


def count_values(conn: Connection) -> None:
    """Fills `result_number_values` from `result_numbers` (a migration, and the end of a replay
    into an empty store). Grouped by the columns of the number index in its order, `hidden`
    among them, and the hidden groups left out after: SQLite then reads the index in order
    instead of sorting every visible number again, as it does for a `hidden` filter before the
    grouping. `NOT hidden` as written here: SQLAlchemy writes `hidden = 0` for SQLite, and SQLite
    moves a comparison with a constant into the filter, and sorts again. At the end of a replay
    of 10^5 uploads (578,624 numbers): 0.16 s instead of 0.83."""
    conn.execute(result_number_values.delete())
    c = result_numbers.c
    conn.execute(
        result_number_values.insert().from_select(
            ["benchmark_id", "path", "value", "results"],
            select(c.benchmark_id, c.path, c.value, func.count())
            .group_by(c.benchmark_id, c.path, c.hidden, c.value)
            .having(text("NOT hidden")),
        )
    )


def forget_long_paths(conn: Connection) -> None:
    """Drops the numbers at paths longer than MAX_PATH_BYTES (kept before the bound: a
    migration), with their per-path counts."""

    def long(path):
        in_bytes = (
            func.octet_length(path) if conn.dialect.name == "postgresql" else func.length(cast(path, LargeBinary))
        )
        return in_bytes > MAX_PATH_BYTES

    conn.execute(result_numbers.delete().where(long(result_numbers.c.path)))
    conn.execute(result_number_paths.delete().where(long(result_number_paths.c.path)))


def backfill(conn: Connection, chunk: int = 5000) -> None:
    """The numbers of the results stored before this table existed (a migration)."""
    last = 0
    while True:
        stored = conn.execute(
            select(results.c.seq, results.c.benchmark_id, results.c.hidden, results.c.json_text)
            .where(results.c.seq > last)
            .order_by(results.c.seq)
            .limit(chunk)
        ).all()
        if not stored:
            return
        results_added(
            conn,
            [(row.seq, row.benchmark_id, row.hidden, *paths_and_values(json.loads(row.json_text))) for row in stored],
        )
        last = stored[-1].seq
