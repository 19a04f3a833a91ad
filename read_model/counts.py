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
# The visible results of one benchmark, site or flavor: + "benchmark=<id>" (or "site=", "flavor=";
# with a UUID, 54 characters at most of the 64 a name may have). They answer the totals of
# listings and searches narrowed to such items alone.
VISIBLE_OF = "visible:"
NARROWING = ("benchmark_id", "site_id", "flavor_id")  # the columns of `results` they count by
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


def _narrowed(column: str, id: str) -> str:
    return f"{VISIBLE_OF}{column.removesuffix('_id')}={id}"


def _visible_rows_of(name: str) -> Select:
    if name == VISIBLE_RESULTS:
        return _visible_rows()
    kind, _, id = name.removeprefix(VISIBLE_OF).partition("=")
    return _visible_rows().where(results.c[kind + "_id"] == id)


def add_visible(conn: Connection, changed: Counter) -> None:
    """After results became visible or not, or went: `changed` maps their (benchmark_id,
    site_id, flavor_id) to the change of the visible results with them. Called after the rows
    changed: a count whose row is missing is made from the rows as they are now. A benchmark,
    site or flavor without visible results has no count (readers find none in the rows): the
    counts of removed ones go."""
    deltas = Counter()
    for key, delta in changed.items():
        deltas[VISIBLE_RESULTS] += delta
        for column, id in zip(NARROWING, key):
            deltas[_narrowed(column, id)] += delta
    _add(conn, deltas, _visible_rows_of)
    fewer = [name for name, delta in deltas.items() if delta < 0 and name != VISIBLE_RESULTS]
    if fewer:
        conn.execute(counters.delete().where(counters.c.name.in_(fewer), counters.c.value == 0))


def visible_of(conn: Connection, column: str, ids: list[str]) -> int | None:
    """The visible results with any of these benchmarks, sites or flavors (`column`), or None
    when one of their counts is not kept (yet)."""
    names = [_narrowed(column, id) for id in dict.fromkeys(ids)]
    kept = conn.execute(select(counters.c.value).where(counters.c.name.in_(names))).scalars().all()
    return sum(kept) if len(kept) == len(names) else None


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
    found.update(_visible_of_items(conn))
    return found


def _visible_of_items(conn: Connection) -> dict[str, int]:
    """Every benchmark's, site's and flavor's count of visible results, from the rows."""
    found = {}
    for column in NARROWING:
        of_item = select(results.c[column], func.count()).where(results.c.hidden.is_(False)).group_by(results.c[column])
        found.update((_narrowed(column, id), rows) for id, rows in conn.execute(of_item))
    return found


def start_visible_of(conn: Connection) -> None:
    """The counts of every benchmark's, site's and flavor's visible results, from the rows (a
    migration: until then readers count the rows)."""
    conn.execute(counters.delete().where(counters.c.name.startswith(VISIBLE_OF, autoescape=True)))
    found = _visible_of_items(conn)
    if found:
        conn.execute(counters.insert(), [{"name": name, "value": value} for name, value in found.items()])


def disagree(conn: Connection) -> bool:
    """Whether a kept count differs from the rows it counts. (A missing one is no difference:
    readers count the rows then.)"""
    actual = recount(conn)
    return any(actual.get(name, 0) != value for name, value in conn.execute(select(counters.c.name, counters.c.value)))
