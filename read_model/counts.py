"""Counts the projector keeps with the rows, in the same transaction: the number of visible
results answers an unfiltered `GET /results`, and the number of events (of each type) the audit
search's broad questions, without counting the table (query_service). A missing row (tables
emptied by hand, e.g. TRUNCATE, or a store from before the count) is made from a count of the rows
at the next change, so the counts heal themselves; until then readers count the rows."""

from __future__ import annotations

from collections import Counter
from typing import Callable

from sqlalchemy import Select, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from read_model.rows import parameter_mark
from read_model.tables import counters, events_index, results

VISIBLE_RESULTS = "visible_results"  # results not hidden (by a claim or a deletion)
EVENTS = "events"  # rows of the events index
EVENTS_OF_TYPE = "events:"  # + a type name (Result.Claimed): its rows of the events index


def _add(conn: Connection, deltas: dict[str, int], rows_now: Callable[[str], Select]) -> None:
    """After the rows changed by `deltas` (counter name -> change), by one statement whose text
    depends only on how many counters change (psycopg prepares it once per connection).
    `rows_now(name)` counts the rows of a counter whose row is missing."""
    deltas = {name: delta for name, delta in deltas.items() if delta}
    if not deltas:
        return
    mark = parameter_mark(conn)
    cases = " ".join([f"WHEN {mark} THEN {mark}"] * len(deltas))
    names = ", ".join([mark] * len(deltas))
    updated = conn.exec_driver_sql(
        f"UPDATE counters SET value = value + CASE name {cases} END WHERE name IN ({names})",
        (*(v for pair in deltas.items() for v in pair), *deltas),
    )
    if updated.rowcount < len(deltas):
        present = set(conn.execute(select(counters.c.name).where(counters.c.name.in_(deltas))).scalars())
        for name in deltas.keys() - present:
            conn.execute(counters.insert().values(name=name, value=conn.execute(rows_now(name)).scalar_one()))


def _visible_rows() -> Select:
    return select(func.count()).select_from(results).where(results.c.hidden.is_(False))


def add_visible(conn: Connection, delta: int) -> None:
    _add(conn, {VISIBLE_RESULTS: delta}, lambda _name: _visible_rows())


def _event_rows(name: str) -> Select:
    rows = select(func.count()).select_from(events_index)
    if name == EVENTS:
        return rows
    return rows.where(events_index.c.type == name.removeprefix(EVENTS_OF_TYPE))


def add_events(conn: Connection, types: Counter) -> None:
    """After the events index gained rows of these types (type name -> rows)."""
    deltas = {EVENTS: types.total(), **{EVENTS_OF_TYPE + type_name: delta for type_name, delta in types.items()}}
    _add(conn, deltas, _event_rows)


_VISIBLE = text(f"SELECT value FROM counters WHERE name = '{VISIBLE_RESULTS}'")  # read on every unfiltered page


def visible(conn: Connection) -> int | None:
    return conn.execute(_VISIBLE).scalar()


def visible_expression() -> ColumnElement:
    """`visible` as an expression of another statement (read in the same snapshot as the page it
    counts): the rows counted when the count is not kept (yet)."""
    kept = select(counters.c.value).where(counters.c.name == VISIBLE_RESULTS).scalar_subquery()
    counted = _visible_rows().scalar_subquery()
    return func.coalesce(kept, counted)


def events(conn: Connection, type_name: str | None = None) -> int | None:
    """The events index's rows (of one type), or None when the count is not kept (yet)."""
    name = EVENTS if type_name is None else EVENTS_OF_TYPE + type_name
    return conn.execute(select(counters.c.value).where(counters.c.name == name)).scalar()


def recount(conn: Connection) -> dict[str, int]:
    """Every count, from the rows."""
    found = {
        VISIBLE_RESULTS: conn.execute(_visible_rows()).scalar_one(),
        EVENTS: conn.execute(_event_rows(EVENTS)).scalar_one(),
    }
    of_type = select(events_index.c.type, func.count()).group_by(events_index.c.type)
    found.update((EVENTS_OF_TYPE + type_name, rows) for type_name, rows in conn.execute(of_type))
    return found


def disagree(conn: Connection) -> bool:
    """Whether a kept count differs from the rows it counts. (A missing one is no difference:
    readers count the rows then.)"""
    actual = recount(conn)
    return any(actual.get(name, 0) != value for name, value in conn.execute(select(counters.c.name, counters.c.value)))
