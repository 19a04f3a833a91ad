"""The page of a result listing as of a past position, chosen from the two halves of `results`
(or of `result_numbers`, for a page chosen from the number index).

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
for each half's: anything else they read (the tags of a result) stays the state as of N by its
name, but for the number index, whose selections an as-of listing asks of its two halves too
(`holds`). A page chosen from the number index (a numeric sort) is chosen from the two halves
of `result_numbers` in the same way.
"""

from __future__ import annotations

from typing import Callable, Sequence

from sqlalchemy import Boolean, Select, Table, func, literal_column, or_, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import ColumnClause, ColumnElement, UnaryExpression
from sqlalchemy.sql.expression import FromClause
from sqlalchemy.sql.visitors import InternalTraversal

from read_model import row_versions
from read_model.tables import result_numbers, results

# Each table in row_versions.PAGED: its stored half and its versions; and the same under names of
# their own, for a half read within a statement that reads the halves too (`holds`).
_HALVES = {
    table.name: (row_versions.stored(table), row_versions.versions_of(table)) for table in (results, result_numbers)
}
# An offset from which a page's stored rows before it are skipped in the stored half itself
# (`page_keys`): one statement more (the versions' count), and no merge of the skipped rows.
DEEP = 2_000
_NAMED_HALVES = {
    name: (stored.alias(f"{name}_held"), versions.alias(f"{name}_held_before"))
    for name, (stored, versions) in _HALVES.items()
}


class _Held(ColumnElement[bool]):
    """A number filter as of a position (`holds`) on the rows `seq` names: `form(seq, stored)`
    writes it for a column of any row of `results` or `result_numbers`, or of a row of their
    stored halves (`stored`), for which it asks the stored numbers alone. The projector changes
    a result's numbers only in the same event as its row (read_model/numbers.py: added, hidden
    and removed with it), so a row stored at N has its numbers of N stored, with it: the
    versions of the numbers need not be asked for it, and the stored half's filter is the
    current listing's (its plan probes the index per candidate). tests/test_as_of.py checks
    that no number of a result was written after its row. Each half's form is written for that
    half's column (`_on`), not copied from another: a copy of a clause holding subqueries costs
    more than the statement's compilation."""

    __visit_name__ = "as_of_held"
    type = Boolean()
    _traverse_internals = [("every", InternalTraversal.dp_clauseelement)]

    def __init__(self, seq: ColumnClause, form: Callable[[ColumnElement, bool], ColumnElement]):
        self.seq, self.form = seq, form
        self.every = form(seq, False)

    @property
    def _from_objects(self) -> list[FromClause]:
        return self.every._from_objects


@compiles(_Held)
def _held_anywhere(element: _Held, compiler, **kw) -> str:
    return f"({compiler.process(element.every, **kw)})"


_STORED = {stored for stored, _ in _HALVES.values()}


def _on(source: FromClause, half: Table, clause):
    """`clause` with every column of `source` in it read from `half` instead (and a number filter
    as of a position in its form for that half: `_Held`)."""

    def swap(element):
        if isinstance(element, _Held):  # on another table's rows it stays as it is
            return element.form(half.c[element.seq.name], half in _STORED) if element.seq.table is source else element
        # A column of a table: asking another element for its `table` raises inside SQLAlchemy
        # (an AttributeError per element, most of the cost of swapping a number filter's clause).
        if isinstance(element, ColumnClause) and element.table is source:
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


def _half(
    source: FromClause,
    half: Table,
    valid: Sequence,
    conditions: Sequence,
    order: Sequence,
    rows: int | None,
    skip: int = 0,
) -> Select:
    """The page keys and sort values of one half, in the listing's order (`rows`: at most, after
    the first `skip`)."""
    keys = [_split(_on(source, half, clause)) for clause in order]
    chosen = select(
        half.c.seq.label("page_key"),
        *(expression.label(f"page_sort_{i}") for i, (expression, _) in enumerate(keys)),
    ).where(*valid, *(_on(source, half, condition) for condition in conditions))
    if rows is None:
        return chosen
    in_order = chosen.order_by(*(_ordered(expression, descending) for expression, descending in keys))
    return in_order.limit(rows).offset(skip)


def _halves(source: FromClause, position: int, named: bool = False) -> list[tuple[FromClause, list]]:
    """Each half of the table `source` is (or is a name of), and its rows valid at the position.
    `named`: each half under a name of its own (within a statement that reads the halves too)."""
    name = source.name if isinstance(source, Table) else source.element.name
    stored, versions = (_NAMED_HALVES if named else _HALVES)[name]
    n = int(position)
    return [
        (stored, [stored.c.valid_from <= n]),
        (versions, [versions.c.valid_from <= n, versions.c.valid_to > n]),
    ]


def holds(position: int, numbers: Select, seq: ColumnElement) -> ColumnElement:
    """As of the position: whether `numbers` (`result_numbers` rows by their conditions) holds
    a row of the result `seq` names, asked of each half of `result_numbers` apart, each read from
    its index (for a row of a stored half, of the stored numbers alone: `_Held`). Asked of their
    union, each row of the stored half is read for its `valid_from`, and PostgreSQL cannot look a
    row up in the union by key (it is not pulled up into the query): a numeric sort's page
    sorted every matching row instead of walking its index.

    For the listing's own results (`seq` is `results.seq`) each half's rows are collected once,
    as the current listing collects them: a filter that few results pass finds them without
    walking the others. For another row (a page chosen from the number index), each half is
    asked for that row by key, as the walk of the sort key's index reaches it."""
    halves = [
        (half, [*valid, _on(result_numbers, half, numbers.whereclause)])
        for half, valid in _halves(result_numbers, position, named=True)
    ]
    if seq is results.c.seq:
        asked = [select(half.c.seq).where(*conditions) for half, conditions in halves]

        def form(seq: ColumnElement, stored: bool) -> ColumnElement:
            return seq.in_(asked[0]) if stored else or_(*(seq.in_(numbers) for numbers in asked))

    else:

        def form(seq: ColumnElement, stored: bool) -> ColumnElement:
            by_key = [select(half.c.seq).where(*conditions, half.c.seq == seq).exists() for half, conditions in halves]
            return by_key[0] if stored else or_(*by_key)

    return _Held(seq, form)


def total(conn: Connection, position: int, conditions: Sequence, source: FromClause = results) -> int:
    """How many rows of `source` the conditions select as of `position`: the two halves counted
    apart (counted over their union, each row of both is read whole, not from a covering index)."""
    counts = [
        select(func.count())
        .select_from(half)
        .where(*valid, *(_on(source, half, c) for c in conditions))
        .scalar_subquery()
        for half, valid in _halves(source, position)
    ]
    return conn.execute(select(counts[0] + counts[1])).scalar_one()


def page_keys(
    conn: Connection,
    position: int,
    conditions: Sequence,
    order: Sequence,
    offset: int,
    limit: int,
    total: int,
    source: FromClause = results,
) -> list[int]:
    """The `seq` of the results on the page as of `position`, in the listing's order, chosen
    from the rows of `source` (`results`, or a name of `result_numbers`: a page chosen from the
    number index) that the conditions select, `total` rows.

    As of a position the listing does not change between its count and its page: a page nearer
    its end than its start is found walking from the end, in the reversed order (a walk as of a
    past position passes the rows written since too, and reads each one's `valid_from`; a
    current listing's count and page are not of one moment, so it walks from the start).

    SQLite merges a compound select ordered as a whole from its halves, each walked in order,
    and stops at the page's end. PostgreSQL plans such a compound as one sort of both halves
    (an arm with a condition is not pulled up into an ordered append): there each half is
    limited to the page's end in its own order, which it reads from an index, and the halves
    are merged (Merge Append). From an offset of DEEP on, the stored half skips the rows that
    are before the page whatever the versions hold (`_skipped`) itself, in its index, instead
    of passing each through the merge."""
    after = total - offset - limit  # the rows after the page
    backwards = after < offset
    if backwards:
        order = [_ordered(expression, not descending) for expression, descending in map(_split, order)]
        offset, limit = max(after, 0), min(limit, total - offset)
    halves = _halves(source, position)
    skipped = _skipped(conn, source, halves[1], conditions, offset) if offset >= DEEP else 0
    rows = None if conn.dialect.name == "sqlite" and not skipped else offset - skipped + limit
    chosen = [
        _half(source, half, valid, conditions, order, rows, skip) for (half, valid), skip in zip(halves, (skipped, 0))
    ]
    if rows is not None:
        chosen = [select(*half.subquery(name).c) for half, name in zip(chosen, ("current", "past"))]
    in_order = [_ordered(literal_column(f"page_sort_{i}"), _split(clause)[1]) for i, clause in enumerate(order)]
    statement = union_all(*chosen).order_by(*in_order).limit(limit).offset(offset - skipped)
    keys = [row.page_key for row in conn.execute(statement)]
    return keys[::-1] if backwards else keys


def _skipped(conn: Connection, source: FromClause, versions: tuple, conditions: Sequence, offset: int) -> int:
    """How many rows of the stored half, first in the listing's order, are before a page at
    `offset` whatever the versions are: all but as many as the versions half selects (each of
    those moves a stored row one place down at most). The page is then the rows of the merge of
    the stored half's rows after these and the versions half's, at an offset of `offset` minus
    these."""
    half, valid = versions
    held = select(func.count()).select_from(half).where(*valid, *(_on(source, half, c) for c in conditions))
    return max(0, offset - conn.execute(held).scalar_one())
