"""What every list and search shares: filters, search terms, sorting and pagination, compiled
to SQL. Field names come from per-view whitelists; values are bound, never interpolated."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Callable, Mapping, Sequence

from sqlalchemy import and_, func, or_, select
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


def order_by(
    sort_by: str,
    columns: Mapping[str, ColumnElement],
    dynamic: Callable[[str], ColumnElement | list | None] | None = None,
) -> list:
    """`+field` ascending, `-field` descending; empty parts ignored. `dynamic` resolves fields
    outside the whitelist (JSON paths) to an expression or a list of expressions."""
    clauses: list = []
    for part in sort_keys(sort_by):
        operator, name = part[0], part[1:]
        # The field is judged before the operator, as the original does: `name` is the
        # operator `n` and the unknown field `ame`.
        expression = columns.get(name)
        if expression is None and dynamic is not None:
            expression = dynamic(name)
        if expression is None:
            raise sort_error(f"Unexpected field '{name}'")
        if operator not in "+-":
            raise sort_error(f"Unknown order operator '{operator}'")
        for key in expression if isinstance(expression, list) else [expression]:
            clauses.append(key.asc() if operator == "+" else key.desc())
    return clauses


@dataclass(frozen=True)
class PageRequest:
    page: int
    per_page: int

    @classmethod
    def of(cls, query: Mapping) -> "PageRequest":
        return cls(query["page"], query["per_page"])


def page_document(items: Sequence[str], total: int, request: PageRequest) -> str:
    """The pagination object (contract §4.1) around already-rendered item documents."""
    pages = math.ceil(total / request.per_page) if total else 0
    page = request.page
    parts = [
        f'"has_next":{"true" if page < pages else "false"}',
        f'"has_prev":{"true" if page > 1 else "false"}',
        f'"items":[{",".join(items)}]',
    ]
    if page < pages:
        parts.append(f'"next_num":{page + 1}')
    parts += [f'"page":{page}', f'"pages":{pages}', f'"per_page":{request.per_page}']
    if page > 1:
        parts.append(f'"prev_num":{page - 1}')
    parts.append(f'"total":{total}')
    return "{" + ",".join(parts) + "}"


def paginate(
    conn: Connection,
    columns: Sequence,
    from_clause,
    conditions: Sequence[ColumnElement],
    order: Sequence,
    request: PageRequest,
    render: Callable[[Sequence], list[str]] = lambda rows: [row[0] for row in rows],
    count_from=None,
    total: int | None = None,
    page_key=None,
    page_choice=None,
) -> str:
    """`count_from`: a narrower FROM for counting, when joins only serve the rendering;
    `total`: the count when the caller knows it already (a count kept by the projector);
    `page_key`: a unique column of `count_from` that ends `order`: the page is then chosen on
    that table alone (sorting narrow rows) and only its rows are joined and rendered;
    `page_choice`: with `page_key`, a statement selecting the keys (as `page_key`) of the rows
    `conditions` select, in the sequence `order` gives them, faster (e.g. from an index of
    sort values): the page is taken from it, and `order` sorts the page's rows."""
    where = and_(True, *conditions)
    if total is None:
        count_table = from_clause if count_from is None else count_from
        total = conn.execute(select(func.count()).select_from(count_table).where(where)).scalar_one()
    offset = (request.page - 1) * request.per_page
    if request.page != 1 and offset >= total:
        raise errors.abort(404)
    if page_key is None:
        statement = (
            select(*columns)
            .select_from(from_clause)
            .where(where)
            .order_by(*order)
            .limit(request.per_page)
            .offset(offset)
        )
    else:
        if page_choice is None:
            page_choice = select(page_key.label("page_key")).select_from(count_from).where(where).order_by(*order)
        chosen = page_choice.limit(request.per_page).offset(offset).subquery("page")
        # The same order again, over the page's rows only (it ends with the unique key: no ties).
        statement = (
            select(*columns).select_from(from_clause.join(chosen, chosen.c.page_key == page_key)).order_by(*order)
        )
    rows = conn.execute(statement).all()
    return page_document(render(rows), total, request)
