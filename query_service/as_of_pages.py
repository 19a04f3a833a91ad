"""The page of a result listing as of a past position, chosen from the two halves of `results`.

As of N, `results` is "stored rows with valid_from <= N, UNION ALL versions valid at N"
(read_model/row_versions.py). Neither database plans a listing's page well over that union: SQLite
builds and sorts the whole union, and PostgreSQL cannot pull an arm with a condition up into its
query, so it reads no index in the listing's order either. Here each half is a select of its
own: the listing's conditions and order over the stored table (read through `results@stored`,
its index walked as a current listing walks it, skipping rows stamped after N) and over the
versions (with their mirrored indexes); the page is the listing's order over both, merged from
the two ordered walks (`page_keys`). Its keys are read first and its rows rendered by key,
which both databases look up by index in each half.

The conditions and the order are the listing's own expressions, their `results` columns swapped
for each half's: anything else they read (the tags of a result, the number index) stays the
state as of N by its name.
"""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import Select, Table, func, literal_column, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from read_model import row_versions
from read_model.tables import results

_STORED = row_versions.stored(results)
_VERSIONS = row_versions.versions_of(results)


def _on(half: Table, clause):
    """`clause` with every column of `results` in it read from `half` instead."""

    def swap(element):
        if isinstance(element, ColumnElement) and getattr(element, "table", None) is results:
            return half.c[element.name]
        return None

    return visitors.replacement_traverse(clause, {}, swap)


def _split(clause) -> tuple[ColumnElement, bool]:
    """An ORDER BY clause: its expression, and whether it is descending."""
    if isinstance(clause, UnaryExpression) and clause.modifier in (operators.asc_op, operators.desc_op):
        return clause.element, clause.modifier is operators.desc_op
    return clause, False


def _ordered(expression, descending: bool):
    return expression.desc() if descending else expression.asc()


def _half(half: Table, valid: Sequence, conditions: Sequence, order: Sequence, rows: int | None) -> Select:
    """The page keys and sort values of one half, in the listing's order (`rows`: at most)."""
    keys = [_split(_on(half, clause)) for clause in order]
    chosen = select(
        half.c.seq.label("page_key"),
        *(expression.label(f"page_sort_{i}") for i, (expression, _) in enumerate(keys)),
    ).where(*valid, *(_on(half, condition) for condition in conditions))
    if rows is None:
        return chosen
    return chosen.order_by(*(_ordered(expression, descending) for expression, descending in keys)).limit(rows)


def _halves(position: int) -> list[tuple[Table, list]]:
    """Each half of `results` and its rows valid at the position."""
    n = int(position)
    return [
        (_STORED, [_STORED.c.valid_from <= n]),
        (_VERSIONS, [_VERSIONS.c.valid_from <= n, _VERSIONS.c.valid_to > n]),
    ]


def total(conn: Connection, position: int, conditions: Sequence) -> int:
    """How many results the conditions select as of `position`: the two halves counted apart
    (counted over their union, each row of both is read whole, not from a covering index)."""
    counts = [
        select(func.count()).select_from(half).where(*valid, *(_on(half, c) for c in conditions)).scalar_subquery()
        for half, valid in _halves(position)
    ]
    return conn.execute(select(counts[0] + counts[1])).scalar_one()


def page_keys(
    conn: Connection, position: int, conditions: Sequence, order: Sequence, offset: int, limit: int
) -> list[int]:
    """The `seq` of the results on the page as of `position`, in the listing's order.

    SQLite merges a compound select ordered as a whole from its halves, each walked in order,
    and stops at the page's end. PostgreSQL plans such a compound as one sort of both halves
    (an arm with a condition is not pulled up into an ordered append): there each half is
    limited to the page's end in its own order, which it reads from an index, and the halves
    are merged (Merge Append)."""
    rows = None if conn.dialect.name == "sqlite" else offset + limit
    halves = [_half(half, valid, conditions, order, rows) for half, valid in _halves(position)]
    if rows is not None:
        halves = [select(*half.subquery(name).c) for half, name in zip(halves, ("current", "past"))]
    in_order = [_ordered(literal_column(f"page_sort_{i}"), _split(clause)[1]) for i, clause in enumerate(order)]
    statement = union_all(*halves).order_by(*in_order).limit(limit).offset(offset)
    return [row.page_key for row in conn.execute(statement)]
