"""The page of a result listing as of a past position, chosen from the two halves of `results`.

As of N, `results` is "stored rows with valid_from <= N, UNION ALL versions valid at N"
(read_model/row_versions.py). Neither database plans a listing's page well over that union: SQLite
builds and sorts the whole union, and PostgreSQL cannot pull an arm with a condition up into its
query, so it reads no index in the listing's order either. Here each half is a statement of its
own: the listing's conditions and order over the stored table (read through `results@stored`,
its index walked as a current listing walks it, skipping rows stamped after N) and over the
versions (with their mirrored indexes), each limited to the rows up to the end of the page; the
page is then the listing's order over those at most 2 × (offset + limit) rows. Its keys are read
first and its rows rendered by key, which both databases look up by index in each half.

The conditions and the order are the listing's own expressions, their `results` columns swapped
for each half's: anything else they read (the tags of a result, the number index) stays the
state as of N by its name.
"""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import Select, Table, literal_column, select, union_all
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


def _half(half: Table, valid: Sequence, conditions: Sequence, order: Sequence, rows: int) -> Select:
    keys = [_split(_on(half, clause)) for clause in order]
    return (
        select(
            half.c.seq.label("page_key"),
            *(expression.label(f"page_sort_{i}") for i, (expression, _) in enumerate(keys)),
        )
        .where(*valid, *(_on(half, condition) for condition in conditions))
        .order_by(*(_ordered(expression, descending) for expression, descending in keys))
        .limit(rows)
    )


def page_keys(
    conn: Connection, position: int, conditions: Sequence, order: Sequence, offset: int, limit: int
) -> list[int]:
    """The `seq` of the results on the page as of `position`, in the listing's order."""
    n = int(position)
    current = _half(_STORED, [_STORED.c.valid_from <= n], conditions, order, offset + limit).subquery("current")
    past = _half(
        _VERSIONS, [_VERSIONS.c.valid_from <= n, _VERSIONS.c.valid_to > n], conditions, order, offset + limit
    ).subquery("past")
    both = union_all(select(*current.c), select(*past.c))
    statement = (
        select(both.subquery("page").c.page_key)
        .order_by(*(_ordered(literal_column(f"page_sort_{i}"), _split(clause)[1]) for i, clause in enumerate(order)))
        .limit(limit)
        .offset(offset)
    )
    return list(conn.execute(statement).scalars())
