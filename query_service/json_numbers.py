"""Number filters and numeric sorts on JSON paths, answered through the index of
`result_numbers` (kept by the projector: read_model/numbers.py) when that gives
exactly what the per-row JSON expressions of json_filters.py give. Each function returns None
otherwise, and the caller keeps those expressions.

Why the answers are the same:
- A number filter matches a result when the value at the path is a JSON number whose double
  compares true. On a path of plain keys, short enough to be kept (numbers.MAX_PATH_BYTES),
  where no key could read as an array index, the value is reached through object keys alone,
  which is what `result_numbers` holds, as the same double. Numbers beyond ±2^53 (counted
  per benchmark and path) keep the JSON expressions: there SQLite reads integers beyond 64
  bits its own way, and PostgreSQL refuses doubles beyond range.
- A sort key on a path where every result of the benchmark has a number, none beyond ±2^53:
  the expressions' "missing" and "type" keys are then the same for every candidate, and the
  numbers order as their doubles do. Integers below 2^53 are exact doubles, and every other
  number is stored as the shortest text of a double, which sits inside that double's rounding
  interval: distinct doubles keep their order, and equal ones tie as the numbers do.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from sqlalchemy import Double, Select, and_, bindparam, case, false, func, intersect, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from query_service import as_of, as_of_pages
from query_service.driver_reads import DriverRead
from query_service.json_filters import JsonFilter, compare
from read_model.numbers import kept_path, plain_key
from read_model.tables import benchmark_results, result_number_paths, result_number_values, result_numbers

# What PostgreSQL's `#>` might read as an array index (strtol: leading spaces, a sign, digits),
# taken widely: a filter on such a path may reach numbers inside arrays, which are not kept.
MAY_INDEX_ARRAY = re.compile(r"\s*[+-]?[0-9]+\s*")


def _indexed_path(keys: tuple[str, ...], *, indexes_arrays: bool) -> str | None:
    """The path as `result_numbers` names it, when it holds every number the path can reach."""
    if not keys or not all(plain_key(key) for key in keys):
        return None
    if indexes_arrays and any(MAY_INDEX_ARRAY.fullmatch(key) for key in keys):
        return None
    path = ".".join(keys)
    return path if kept_path(path) else None


# The statements asked before a filter or a sort is answered from the index, built once (with
# their parameters), not on every request.
_UNSAFE_SUM = select(func.coalesce(func.sum(result_number_paths.c.unsafe), 0)).where(
    result_number_paths.c.path == bindparam("path")
)
_UNSAFE = DriverRead(_UNSAFE_SUM)
_UNSAFE_OF_BENCHMARK = DriverRead(_UNSAFE_SUM.where(result_number_paths.c.benchmark_id == bindparam("benchmark_id")))
_KEPT_FOR_EVERY_RESULT = DriverRead(
    select(benchmark_results.c.results, result_number_paths.c.results, result_number_paths.c.unsafe)
    .select_from(
        benchmark_results.outerjoin(
            result_number_paths,
            and_(
                result_number_paths.c.benchmark_id == benchmark_results.c.benchmark_id,
                result_number_paths.c.path == bindparam("path"),
            ),
        )
    )
    .where(benchmark_results.c.benchmark_id == bindparam("benchmark_id"))
)


def _unsafe_numbers(conn: Connection, path: str, benchmark_id: str | None) -> int:
    if benchmark_id is None:
        return _UNSAFE.value(conn, {"path": path})
    return _UNSAFE_OF_BENCHMARK.value(conn, {"path": path, "benchmark_id": benchmark_id})


def matching_numbers(conn: Connection, flt: JsonFilter, benchmark_id: str | None, visible: bool) -> Select | None:
    """The seqs of the results whose number at the path compares true: a range of the index.
    `benchmark_id` and `visible` repeat conditions the listing applies anyway (its benchmark,
    only results not hidden), so that the range is narrowed by them as well."""
    if flt.kind != "number":
        return None
    path = _indexed_path(flt.path, indexes_arrays=True)
    if path is None or _unsafe_numbers(conn, path, benchmark_id):
        return None
    numbers = select(result_numbers.c.seq).where(result_numbers.c.path == path)
    if benchmark_id is not None:
        numbers = numbers.where(result_numbers.c.benchmark_id == benchmark_id)
    if visible:
        numbers = numbers.where(result_numbers.c.hidden.is_(False))
    if math.isnan(flt.value):  # as a float8: above every number, equal to none
        return numbers if flt.operator in ("<", "<=") else numbers.where(false())
    return numbers.where(compare(result_numbers.c.value, flt.operator, flt.value))


# A filter's range of `result_number_values` is summed when it holds at most this many distinct
# numbers; beyond, each of its rows costs about what a counted index entry of `result_numbers`
# does (a path of measurements, nearly one number per result), and the index is counted.
SUMMED_VALUES = 1000


@lru_cache(maxsize=16)
def _summed_or_counted(operator: str) -> DriverRead:
    """The visible results of a benchmark whose number at a path compares true: summed from
    `result_number_values` over the range, or counted from the index when the range holds
    more than SUMMED_VALUES numbers (PostgreSQL and SQLite evaluate only the CASE's branch taken)."""
    values = result_number_values.c
    in_range = (
        select(values.results)
        .where(
            values.benchmark_id == bindparam("benchmark_id"),
            values.path == bindparam("path"),
            compare(values.value, operator, bindparam("value", type_=Double)),
        )
        # In the index's order: without it, the generic plan PostgreSQL may use for this prepared
        # statement may read the range by scanning the whole table (the LIMIT made that look
        # cheap): 20-66 ms per request at 10^5 results, where the index takes 0.05.
        .order_by(values.value)
        .limit(SUMMED_VALUES + 1)
        .subquery()
    )
    counted = (
        select(func.count())
        .select_from(result_numbers)
        .where(
            result_numbers.c.benchmark_id == bindparam("benchmark_id"),
            result_numbers.c.path == bindparam("path"),
            result_numbers.c.hidden.is_(False),
            compare(result_numbers.c.value, operator, bindparam("value", type_=Double)),
        )
    )
    summed = select(func.coalesce(func.sum(in_range.c.results), 0)).scalar_subquery()
    few = select(func.count()).select_from(in_range).scalar_subquery() <= SUMMED_VALUES
    return DriverRead(select(case((few, summed), else_=counted.scalar_subquery())))


def count_shared(conn: Connection, matching: Sequence[tuple[JsonFilter, Select]], benchmark_id: str | None) -> int:
    """How many results every one of these number filters' selections (`matching_numbers`,
    of visible results) holds. It is the total of a listing of visible results narrowed by them
    alone (and by the benchmark they repeat): their rows mirror the results' benchmark and
    visibility, one row per result and path. One filter of a benchmark's current listing is
    summed from `result_number_values` (`_summed_or_counted`). As of a past position, one
    selection is counted in the two halves of `result_numbers` apart (each from its index,
    query_service/as_of_pages.py)."""
    position, (flt, rows) = as_of.position(), matching[0]
    if position is None and len(matching) == 1 and benchmark_id is not None and not math.isnan(flt.value):
        path = _indexed_path(flt.path, indexes_arrays=True)
        parameters = {"benchmark_id": benchmark_id, "path": path, "value": flt.value}
        return _summed_or_counted(flt.operator).value(conn, parameters)
    if position is not None and len(matching) == 1:
        return as_of_pages.total(conn, position, [rows.whereclause], result_numbers)
    shared = rows if len(matching) == 1 else intersect(*(rows for _flt, rows in matching))
    return conn.execute(select(func.count()).select_from(shared.subquery())).scalar_one()


@dataclass(frozen=True)
class NumberSort:
    """The numbers at a sort path: `numbers` (a named `result_numbers`) where `at_path`; every
    one of the benchmark's `results` has one there."""

    numbers: object
    at_path: ColumnElement
    results: int

    @property
    def value(self):
        return self.numbers.c.value

    def joined(self, seq) -> ColumnElement:
        """The condition joining the numbers to the rows of `seq` (a result's seq)."""
        return and_(self.numbers.c.seq == seq, self.at_path)


def number_sort(
    conn: Connection, keys: tuple[str, ...], benchmark_id: str | None, visible: bool, name: str
) -> NumberSort | None:
    """When every result of the benchmark has a number at the path (none beyond ±2^53), sorting
    by those numbers is sorting by the JSON expressions; `name` names the joined table."""
    path = _indexed_path(keys, indexes_arrays=False)
    if benchmark_id is None or path is None:
        return None
    found = _KEPT_FOR_EVERY_RESULT.rows(conn, {"path": path, "benchmark_id": benchmark_id})
    kept = found[0] if found else None
    if kept is None or kept[1] != kept[0] or kept[2]:
        return None
    numbers = result_numbers.alias(name)
    at_path = and_(numbers.c.path == path, numbers.c.benchmark_id == benchmark_id)
    return NumberSort(numbers, and_(at_path, numbers.c.hidden.is_(False)) if visible else at_path, kept[0])
