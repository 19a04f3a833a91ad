"""What every list and search shares: filters, search terms, sorting and pagination, compiled
to SQL. Field names come from per-view whitelists; values are bound, never interpolated."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Callable, Mapping, Protocol, Sequence

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from http_api import errors
from read_model.tables import STATUS

SORT_HINT = "Use '+' (send %2B) or '-' before a field name, comma separated, e.g. sort_by=%2Bname,-upload_datetime"


def start_of(day: date) -> datetime:
    return datetime.combine(day, time.min)


def date_conditions(column, before: date | None, after: date | None) -> list[ColumnElement]:
    """Both bounds strict, compared with midnight of the given day (contract §4.4)."""
    conditions = []
    if before is not None:
        conditions.append(column < start_of(before))
    if after is not None:
        conditions.append(column > start_of(after))
    return conditions


def upload_conditions(table, query: Mapping) -> list[ColumnElement]:
    return date_conditions(table.c.upload_datetime, query.get("upload_before"), query.get("upload_after"))


def status_condition(table, query: Mapping) -> ColumnElement:
    return table.c.status == STATUS[query["status"]]


def equal_conditions(table, query: Mapping, names: Sequence[str]) -> list[ColumnElement]:
    return [table.c[name] == query[name] for name in names if query.get(name) is not None]


def search_conditions(terms: Sequence[str], columns: Sequence, extra: Callable[[str], ColumnElement] | None = None):
    """Every term must match one of the columns, as a literal case-sensitive substring (Q-11)."""
    conditions = []
    for term in terms:
        alternatives = [column.contains(term, autoescape=True) for column in columns]
        if extra is not None:
            alternatives.append(extra(term))
        conditions.append(or_(*alternatives))
    return conditions


def sort_error(message: str) -> errors.ApiError:
    return errors.detailed(422, "message", {"KeyError": message, "hint": SORT_HINT})


def sort_keys(sort_by: str) -> list[str]:
    """The parts of `sort_by` that sort: empty parts are ignored (`+name,` is `+name`)."""
    return [part for part in sort_by.split(",") if part]


@dataclass(frozen=True)
class SortKey:
    """One part of `sort_by`: a field and its direction."""

    name: str
    descending: bool

    def applied(self, expressions: Sequence) -> list:
        """The ORDER BY clauses of this key over the expressions its field sorts by."""
        return [expression.desc() if self.descending else expression.asc() for expression in expressions]


def parse_sort(sort_by: str, known: Callable[[str], bool]) -> list[SortKey]:
    """`+field` ascending, `-field` descending, comma separated (`sort_keys`). `known`: whether
    a field may be sorted by; the first unknown field or operator is the 422."""
    keys = []
    for part in sort_keys(sort_by):
        operator, name = part[0], part[1:]
        # The field is judged before the operator, as the original does: `name` is the
        # operator `n` and the unknown field `ame`.
        if not known(name):
            raise sort_error(f"Unexpected field '{name}'")
        if operator not in "+-":
            raise sort_error(f"Unknown order operator '{operator}'")
        keys.append(SortKey(name, operator == "-"))
    return keys


def order_by(sort_by: str, columns: Mapping[str, ColumnElement | list]) -> list:
    """The ORDER BY of `sort_by` over a whitelist: each field names a column, or a list of them."""
    clauses: list = []
    for key in parse_sort(sort_by, columns.__contains__):
        expression = columns[key.name]
        clauses += key.applied(expression if isinstance(expression, list) else [expression])
    return clauses


@dataclass(frozen=True)
class PageRequest:
    page: int
    per_page: int

    @classmethod
    def of(cls, query: Mapping) -> "PageRequest":
        return cls(query["page"], query["per_page"])

    def database_offset(self) -> int:
        """The offset of the page's first row, for a statement: a page whose offset no database
        integer holds is past the end of any listing, a 404."""
        offset = (self.page - 1) * self.per_page
        if offset > LARGEST_OFFSET:
            raise errors.abort(404)
        return offset


def page_document(items: Sequence[str], total: int, request: PageRequest) -> str:
    """The pagination object (contract §4.1) around already-rendered item documents. Joined
    once: a page of 100 results is some 300 KB, and each concatenation copied all of it (a
    tenth of the query worker's CPU for `GET /results?per_page=100`, issue 16)."""
    pages = math.ceil(total / request.per_page) if total else 0
    page = request.page
    head = f'{{"has_next":{"true" if page < pages else "false"},"has_prev":{"true" if page > 1 else "false"},"items":['
    tail = [f'],"next_num":{page + 1}' if page < pages else "]"]
    tail.append(f',"page":{page},"pages":{pages},"per_page":{request.per_page}')
    if page > 1:
        tail.append(f',"prev_num":{page - 1}')
    tail.append(f',"total":{total}}}')
    return "".join([head, ",".join(items), *tail])


class Listing(Protocol):
    """What `paginate` asks of a listing, planned before any row is read."""

    def total(self, conn: Connection) -> int:
        """How many items the listing holds."""

    def items(self, conn: Connection, offset: int, limit: int, total: int) -> list[str]:
        """The rendered items of one page (of `total`, the count `total` gave before it)."""


def _first_column(rows: Sequence) -> list[str]:
    return [row[0] for row in rows]


@dataclass(frozen=True)
class Rows:
    """A listing of the rows `conditions` select from `from_clause`, in `order`, rendered by
    `render` (by default: the one column selected, a stored document)."""

    columns: Sequence
    from_clause: object
    conditions: Sequence[ColumnElement]
    order: Sequence
    render: Callable[[Sequence], list[str]] = _first_column

    def total(self, conn: Connection) -> int:
        where = and_(True, *self.conditions)
        return conn.execute(select(func.count()).select_from(self.from_clause).where(where)).scalar_one()

    def items(self, conn: Connection, offset: int, limit: int, total: int) -> list[str]:
        statement = (
            select(*self.columns)
            .select_from(self.from_clause)
            .where(and_(True, *self.conditions))
            .order_by(*self.order)
            .limit(limit)
            .offset(offset)
        )
        return self.render(conn.execute(statement).all())


LARGEST_OFFSET = 2**63 - 1  # PostgreSQL's bigint, SQLite's integer


def counted_page(rows: Rows, request: PageRequest) -> Select:
    """The statement of `counted_page_document`: the page, each row with the listing's total."""
    offset = request.database_offset()
    return (
        select(*rows.columns, func.count().over().label("listing_total"))
        .select_from(rows.from_clause)
        .where(and_(True, *rows.conditions))
        .order_by(*rows.order)
        .limit(request.per_page)
        .offset(offset)
    )


def counted_page_document(found: Sequence[Sequence], request: PageRequest) -> str:
    """`paginate` of one statement (`counted_page`), for listings of few rows (the catalog,
    users): each row `found` of the page carries the count of the whole listing (a window
    count, which reads every match) in its last column, so the page needs no second statement
    nor a transaction around the two. A page without rows is past the end (a 404) or the first
    of an empty listing."""
    if not found and request.page != 1:
        raise errors.abort(404)
    return page_document(_first_column(found), found[0][-1] if found else 0, request)


def paginate(conn: Connection, listing: Listing, request: PageRequest) -> str:
    """The page `request` asks of `listing`; past the last page (but the first) is a 404."""
    total = listing.total(conn)
    offset = (request.page - 1) * request.per_page
    if request.page != 1 and offset >= total:
        raise errors.abort(404)
    # The first page of an empty listing is known empty: its page is not looked for (a filter
    # that nothing passes would otherwise walk every candidate to find no row).
    items = listing.items(conn, offset, request.per_page, total) if offset < total else []
    return page_document(items, total, request)
