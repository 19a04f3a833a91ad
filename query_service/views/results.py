"""Results: listing with every filter, JSON filters and sorting, search, and one by id.

A result is rendered by concatenating stored JSON: its own document and times, and the
current documents of its benchmark, site, flavor and tags (so their updates show at once). The
database does the concatenation (`_document`): a page arrives written, one text on PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from json import dumps
from typing import Callable, Mapping

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.selectable import FromClause, Subquery

from domain.actor import Actor
from http_api import documents, errors
from query_service import as_of, as_of_pages, deep_pages, json_numbers, listing
from query_service.driver_reads import DriverRead
from query_service.json_filters import json_dialect, parse_filter, sort_path
from read_model import counts, tag_lists
from read_model.tables import benchmarks, flavors, identity_is, result_numbers, result_tags, results, sites, tags

SORTABLE = {
    name: results.c[name]
    for name in (
        "id",
        "upload_datetime",
        "execution_datetime",
        "benchmark_id",
        "benchmark_name",
        "site_id",
        "site_name",
        "site_address",
        "flavor_id",
        "flavor_name",
    )
}
_RENDERED_FROM = (
    results.join(benchmarks, benchmarks.c.id == results.c.benchmark_id)
    .join(sites, sites.c.id == results.c.site_id)
    .join(flavors, flavors.c.id == results.c.flavor_id)
)
# A stored time as `documents.timestamp` writes it: ISO 8601, microseconds only when not zero.
# SQLite holds SQLAlchemy's text (`2021-07-05 17:22:02.000000`; without the fraction if a row
# was written by other means); PostgreSQL a `timestamp` (no time zone: to_char reads no setting).
_TIMESTAMP = {
    "postgresql": "to_char({0}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
    " || CASE to_char({0}, 'US') WHEN '000000' THEN '' ELSE to_char({0}, '.US') END",
    "sqlite": "substr({0}, 1, 10) || 'T'"
    " || CASE WHEN substr({0}, 20) IN ('', '.000000') THEN substr({0}, 12, 8) ELSE substr({0}, 12) END",
}


def _document(dialect: str) -> str:
    """A result's whole document as one SQL expression over the rendering joins: the database
    writes it (`documents.RESULT` around the stored documents, times and tags), so a page is
    neither decoded nor formatted row by row in Python."""
    timestamp = _TIMESTAMP[dialect].format
    values = (
        "benchmarks.doc",
        timestamp("results.execution_datetime"),
        "flavors.doc",
        "results.id",
        "results.json_text",
        "sites.doc",
        f"coalesce(results.tags_text, {tag_lists.FROM_TABLES[dialect]})",  # NULL: a version before it was kept
        timestamp("results.upload_datetime"),
    )
    parts = documents.RESULT.split("%s")
    quoted = ["'" + part.replace("'", "''") + "'" for part in parts]
    pieces = [quoted[0]]
    for value, after in zip(values, quoted[1:]):
        pieces += [f"({value})", after]
    return " || ".join(pieces)


_DOCUMENT = {dialect: literal_column(_document(dialect)) for dialect in _TIMESTAMP}


# The results of an as-of page by key (`_as_of_items`), its keys one parameter (a list of 100
# parameters is rendered into each execution's statement anew). The catalog's states are computed
# once for the statement: SQLite (3.40) flattened the join of the as-of states of results,
# benchmarks, sites and flavors (each the union of its two halves) into the 16 joins of their
# halves, each looking up every result of the page (1.3 ms instead of 5.0 at 10^5), and looked
# each result's tags up in both halves of `tags` (2.7 -> 1.9 ms computed once); PostgreSQL
# scanned both halves of `flavors` again for each result (5.5 ms instead of 7-9). PostgreSQL
# writes the page as one text, in the keys' order.
_PAGE_KEYS = bindparam("keys", type_=ARRAY(BigInteger))  # PostgreSQL; SQLite: a JSON array
_BY_KEYS = {
    "postgresql": select(
        func.string_agg(
            _DOCUMENT["postgresql"],
            aggregate_order_by(literal_column("','"), func.array_position(_PAGE_KEYS, results.c.seq)),
        )
    )
    .select_from(_RENDERED_FROM)
    .where(results.c.seq == any_(_PAGE_KEYS)),
    "sqlite": select(results.c.seq, _DOCUMENT["sqlite"])
    .select_from(_RENDERED_FROM)
    .where(results.c.seq.in_(select(literal_column("value")).select_from(func.json_each(bindparam("keys"))))),
}
_AS_OF_RENDERING = {as_of.MATERIALIZED: frozenset({"benchmarks", "sites", "flavors", "tags"})}


def _json(conn: Connection):
    return json_dialect(conn, results)


def _sortable(name: str) -> bool:
    return name in SORTABLE or sort_path(name) is not None


@dataclass(frozen=True)
class _Sort:
    """One sort key of a listing: the expressions it sorts by (a column, or the JSON
    expressions of json_filters.py), or `number` when the index of `result_numbers` gives the
    same order (query_service/json_numbers.py): the page is then chosen from the index
    (`_page_choice`) and its rows ordered by the numbers (`_chosen_order`), and the JSON
    expressions, which took a tenth of such a request's CPU to build, are not built."""

    key: listing.SortKey
    expressions: list | None
    number: json_numbers.NumberSort | None = None


def _sorts(conn: Connection, query: Mapping, keys: list[listing.SortKey], visible: bool | None) -> list[_Sort]:
    """`visible`: whether the listing shows results not hidden only; None where the number
    index is not asked (a search)."""
    json, sorts = _json(conn), []
    numbers = 0  # each number sort joins `result_numbers` under a name of its own
    for key in keys:
        column = SORTABLE.get(key.name)
        if column is not None:
            sorts.append(_Sort(key, [column]))
            continue
        path = sort_path(key.name)
        found = None
        if visible is not None:
            found = json_numbers.number_sort(conn, path, _benchmark_of(query), visible, f"sort_{numbers}")
            numbers += found is not None
        sorts.append(_Sort(key, json.sort_keys(path) if found is None else None, found))
    return sorts


def _order(sorts: list[_Sort]) -> list | None:
    """The listing's order over `results`; None when a number sort has the page chosen from the
    index (`_page_choice`, which is then never None)."""
    if any(sort.number is not None for sort in sorts):
        return None
    return [*(clause for sort in sorts for clause in sort.key.applied(sort.expressions)), results.c.seq]


def _benchmark_of(query: Mapping) -> str | None:
    return str(query["benchmark_id"]) if query["benchmark_id"] else None


@dataclass(frozen=True)
class _Choice:
    """A page chosen from the number index (`_page_choice`): the statement choosing it, and,
    when it is chosen from the rows of one number sort alone, those rows (a name of
    `result_numbers`), their conditions and their order: an as-of page is chosen by these from
    the two halves of `result_numbers` (query_service/as_of_pages.py). `walks`: the statement
    walks the sort's index, probing each entry against the filters (`_walks`)."""

    statement: Select
    halves: tuple[FromClause, list, list] | None = None
    walks: bool = False


def _walks(sort: json_numbers.NumberSort, total: int, request: listing.PageRequest) -> bool:
    """Whether a page of a benchmark's visible results that number filters narrow (`total` of
    them) is best found by walking the sort number's index in order, each entry probed against
    the filters, rather than by reading every match first. With the matches spread along the
    sort, the walk passes about (offset + limit) x results / total entries; reading the matches
    costs about as much per match as the walk per entry: so the walk when it passes at most as
    many entries as there are matches (at 38 % of 75,000 results, up to page 197 of 100).
    PostgreSQL, left to choose, made the same choice from its estimates, at about 1 ms of
    planning per request; from page 50 on it read every match (36 ms where the walk takes 15)."""
    end = request.database_offset() + request.per_page
    return total > 0 and end * sort.results <= total * total


def _page_choice(
    sorts: list[_Sort], conditions: list, visible: bool, only_numbers: list | None, walks: bool = False
) -> _Choice | None:
    """A statement choosing the page as `_order` would, with numeric JSON sort keys read from
    `result_numbers` (its index walked in value order) instead of every document; None when no
    key can be. `only_numbers`: the number filters' selections, when they and the benchmark
    alone narrow the listing (`_only_indexed`); sorted by number keys alone, the page of visible
    results is then chosen from the index without reading results. `walks` (`_walks`, on
    PostgreSQL): its index is walked, whatever the planner's estimates."""
    numbered = [sort.number for sort in sorts if sort.number is not None]
    if not numbered:
        return None
    keys = [
        clause
        for sort in sorts
        for clause in sort.key.applied(sort.expressions if sort.number is None else [sort.number.value])
    ]
    walks = walks and visible and only_numbers is not None and len(numbered) == len(sorts)
    if visible and only_numbers is not None and len(numbered) == len(sorts):
        first, *others = numbered
        seq, chosen_from = first.numbers.c.seq, first.numbers
        # The first numbers' benchmark and visibility are the listing's conditions on results.
        where = [first.at_path, *(_holds(numbers, seq, probed=walks) for numbers in only_numbers)]
    else:
        seq, chosen_from, others, where = results.c.seq, results, numbered, conditions
    halves = (chosen_from, where, [*keys, seq]) if chosen_from is not results and not others else None
    for found in others:
        chosen_from = chosen_from.join(found.numbers, found.joined(seq))
    # The numbers the page is sorted by come along: the rows of the page are put in order by them
    # again (`_chosen_order`), instead of by the JSON expressions over each row's document.
    values = [sort.number.value.label(f"page_sort_{i}") for i, sort in enumerate(sorts) if sort.number is not None]
    statement = select(seq.label("page_key"), *values).select_from(chosen_from).where(*where).order_by(*keys, seq)
    return _Choice(statement, halves, walks)


def _chosen_order(sorts: list[_Sort]) -> Callable[[Subquery], list]:
    """The order of `_order` over the rows of a page chosen by `_page_choice`, each number key
    read from the page's own column: the same order (json_numbers.py), without reading every
    row's document again (PostgreSQL's sort of a page by the JSON expressions detoasted 100
    documents; ordered by the numbers, the plan needs no sort at all)."""

    def order(page: Subquery) -> list:
        clauses = []
        for i, sort in enumerate(sorts):
            clauses += sort.key.applied(sort.expressions if sort.number is None else [page.c[f"page_sort_{i}"]])
        return [*clauses, results.c.seq]

    return order


def _holds(numbers: Select, seq, probed: bool = False) -> ColumnElement:
    """Whether the selection of `result_numbers` rows holds one of the result `seq` names (as of
    a past position, asked of the two halves of `result_numbers` apart: as_of_pages.holds).
    `probed`: asked of each row `seq` comes from, one at a time: PostgreSQL turns no EXISTS
    with an OFFSET into a join (with which it may read every row of the selection first)."""
    position = as_of.position()
    if position is not None:
        return as_of_pages.holds(position, numbers, seq)
    if seq is results.c.seq:
        return seq.in_(numbers)
    held = numbers.where(result_numbers.c.seq == seq)
    return (held.offset(0) if probed else held).exists()


def _has_tag(tag_id) -> object:
    return exists().where(and_(result_tags.c.result_id == results.c.id, result_tags.c.tag_id == str(tag_id)))


def _filters(conn: Connection, query: Mapping, visible: bool) -> tuple[list, list]:
    """The conditions, and the number filters answered from `result_numbers` with their index
    selections, as (filter, selection). `visible`: the listing shows results not hidden only (the selections
    are narrowed by it too)."""
    json = _json(conn)
    conditions = [
        *listing.upload_conditions(results, query),
        *listing.date_conditions(results.c.execution_datetime, query["execution_before"], query["execution_after"]),
        *[results.c[name] == str(query[name]) for name in ("benchmark_id", "site_id", "flavor_id") if query[name]],
        *[_has_tag(tag_id) for tag_id in dict.fromkeys(query["tags_ids"])],
    ]
    indexed = []
    for sent in query["filters"]:
        flt = parse_filter(sent)
        numbers = json_numbers.matching_numbers(conn, flt, _benchmark_of(query), visible)
        if numbers is None:
            conditions.append(json.condition(flt))
        else:
            conditions.append(_holds(numbers, results.c.seq))
            indexed.append((flt, numbers))
    return conditions, indexed


@dataclass(frozen=True)
class ResultListing:
    """A listing of results, planned once per request (listing.Listing): the results
    `conditions` select, in `order` (ending with the unique seq). The page is chosen on
    `results` alone, sorting narrow rows, or by `choice` (from the number index, `_page_choice`;
    `order` is then None, the page's rows put in order by `chosen_order`); only its rows are
    joined and rendered. `known_total`: the count when it is known without counting (a count
    kept by the projector, or the number index's)."""

    conditions: list
    order: list | None
    choice: _Choice | None = None
    known_total: int | None = None
    chosen_order: Callable[[Subquery], list] | None = None  # the order over `choice`'s rows
    # A current listing whose `choice` walks one number sort: its deep pages are sought from
    # places remembered there (query_service/deep_pages.py).
    deep: tuple[deep_pages.SortedByNumber, deep_pages.PageBoundaries] | None = None

    def total(self, conn: Connection) -> int:
        if self.known_total is not None:
            return self.known_total
        as_of_position = as_of.position()
        if as_of_position is not None:
            return as_of_pages.total(conn, as_of_position, self.conditions)
        where = and_(True, *self.conditions)
        return conn.execute(select(func.count()).select_from(results).where(where)).scalar_one()

    def _rendered(self, dialect: str, offset: int | BindParameter, limit: int | BindParameter) -> Select:
        """The page's documents: on PostgreSQL one row, the page as one text (NULL when empty);
        on SQLite a row per document, in order. `offset` and `limit`: numbers, or parameters."""
        if self.choice is None:
            where = and_(True, *self.conditions)
            choice = select(results.c.seq.label("page_key")).select_from(results).where(where).order_by(*self.order)
        else:
            choice = self.choice.statement
        if self.choice is not None and self.choice.walks:
            # The page's bounds written in the statement: knowing how far the walk goes,
            # PostgreSQL plans it once for every filter and threshold (a generic plan of a
            # prepared statement), where it planned each request anew (1.1 ms at 10^5 results).
            offset, limit = (
                literal(offset, BigInteger, literal_execute=True),
                literal(limit, BigInteger, literal_execute=True),
            )
        choice = choice.limit(limit).offset(offset)
        if dialect == "postgresql" and self.choice is None:
            # The page's keys as an array, its rows looked up by key: so the plan does not depend
            # on the page asked, and PostgreSQL keeps one for every page instead of planning each
            # anew (1 ms of its CPU; joined to the page, a plan for any limit read the whole table).
            joined = func.string_agg(_DOCUMENT[dialect], aggregate_order_by(literal_column("','"), *self.order))
            return (
                select(joined)
                .select_from(_RENDERED_FROM)
                .where(results.c.seq == any_(func.array(choice.scalar_subquery())))
            )
        chosen = choice.subquery("page")
        # The same order again, over the page's rows only (it ends with the unique key: no ties).
        order = self.order if self.chosen_order is None else self.chosen_order(chosen)
        rendered_from = _RENDERED_FROM.join(chosen, chosen.c.page_key == results.c.seq)
        if dialect == "postgresql":
            joined = func.string_agg(_DOCUMENT[dialect], aggregate_order_by(literal_column("','"), *order))
            return select(joined).select_from(rendered_from)
        # SQLite (3.40) orders an aggregate's input only as a window's: the rows are joined by `items`.
        return select(_DOCUMENT[dialect]).select_from(rendered_from).order_by(*order)

    def items(self, conn: Connection, offset: int, limit: int, total: int) -> list[str]:
        as_of_position = as_of.position()
        page = (offset, limit, total)
        if as_of_position is not None and self.choice is None:
            return self._as_of_items(conn, as_of_position, (results, self.conditions, self.order), page)
        if as_of_position is not None and self.choice.halves is not None:
            return self._as_of_items(conn, as_of_position, self.choice.halves, page)
        if self.deep is not None and offset >= deep_pages.FROM_OFFSET:
            return _by_keys(conn, deep_pages.page_keys(conn, *self.deep, offset, limit), {})
        found = conn.execute(self._rendered(conn.dialect.name, offset, limit)).scalars().all()
        return [document for document in found if document is not None]

    def page_with_total(self, total: ColumnElement) -> Select:
        """`listing.paginate` as one statement on PostgreSQL (`_paginated`), `total` its
        expression of the count: one round trip instead of two. Its offset and limit are
        parameters, so the statement does not depend on the page asked."""
        page = self._rendered("postgresql", _PAGE_OFFSET, _PAGE_LIMIT).scalar_subquery()
        return select(total.label("total"), page.label("page"))

    def _as_of_items(
        self, conn: Connection, position: int, chosen: tuple[FromClause, list, list], page: tuple[int, int, int]
    ) -> list[str]:
        """The page's keys chosen first from the two halves of the rows `chosen` names (`results`,
        or the numbers of a number sort) as of the position, then its rows by key, put in the
        keys' order (query_service/as_of_pages.py). `page`: its offset, its limit and the total."""
        source, conditions, order = chosen
        return _by_keys(conn, as_of_pages.page_keys(conn, position, conditions, order, *page, source), _AS_OF_RENDERING)


_PAGE_BY_KEYS = DriverRead(_BY_KEYS["postgresql"])  # a current page, on PostgreSQL


def _by_keys(conn: Connection, keys: list[int], options: Mapping) -> list[str]:
    """The documents of the results `keys` names, in the keys' order (a page chosen before)."""
    if not keys:
        return []
    if conn.dialect.name == "postgresql":
        if options:  # as of a past position: SQLAlchemy's execution, which takes them
            page = conn.execute(_BY_KEYS["postgresql"].execution_options(**options), {"keys": keys}).scalar_one()
        else:
            page = _PAGE_BY_KEYS.value(conn, {"keys": keys})
        return [page] if page is not None else []  # NULL when no key has a row
    statement = _BY_KEYS[conn.dialect.name].execution_options(**options)
    rendered = dict(conn.execute(statement, {"keys": dumps(keys)}).all())
    return [rendered[key] for key in keys if key in rendered]


_PAGE_OFFSET = bindparam("page_offset", type_=BigInteger)
_PAGE_LIMIT = bindparam("page_limit", type_=BigInteger)


def _paginated(conn: Connection, statement: Select, request: listing.PageRequest) -> str:
    """The page `request` asks of a `ResultListing.page_with_total` statement."""
    found = conn.execute(statement, {"page_offset": request.database_offset(), "page_limit": request.per_page}).one()
    return _paged(found, request)


def _paged(found, request: listing.PageRequest) -> str:
    """The answer of a page read with its total (`found`). A page without rows is past the end
    (a 404) or the first of an empty listing, as in `listing.paginate`."""
    if found.page is None and request.page != 1:
        raise errors.abort(404)
    return listing.page_document([found.page] if found.page is not None else [], found.total, request)


@lru_cache(maxsize=64)
def _unfiltered(keys: tuple[listing.SortKey, ...]) -> Select:
    """The statement of a current, unfiltered page on PostgreSQL sorted by columns (the
    frontend's first listing), built once per order: building it anew, and having SQLAlchemy
    take the new statement apart to find its cached form, cost more CPU than the execution."""
    sorts = [_Sort(key, [SORTABLE[key.name]]) for key in keys]
    return ResultListing([results.c.hidden.is_(False)], _order(sorts)).page_with_total(counts.visible_expression())


@lru_cache(maxsize=64)
def _unfiltered_first(keys: tuple[listing.SortKey, ...], per_page: int, dialect: Dialect) -> str:
    """`_unfiltered`'s first page of `per_page` as a text without parameters. PostgreSQL plans a
    prepared statement once only when that plan's estimate is as good as a plan for the values:
    with the page's bounds as parameters, it estimates a tenth of the results read, and planned
    the page for every request (0.5-0.6 ms of its 1.5 at 10^5). The first page is most of the
    unfiltered listings asked (the frontend's first view); later pages keep their parameters, so
    that their many texts do not take psycopg's places of prepared statements (100 a connection)."""
    bounded = _unfiltered(keys).params(page_offset=0, page_limit=per_page)
    written = str(bounded.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    # Sent without parameters, the text is not read for placeholders: a `%` would be doubled.
    assert "%" not in written, written
    return written


def _only_indexed(query: Mapping, filters: list, indexed: list) -> bool:
    """Whether the listing is narrowed by its benchmark and number filters answered from the
    index, and nothing else. (Every other argument adds a condition of its own.)"""
    return len(filters) == len(indexed) + bool(query["benchmark_id"])


def _page(conn: Connection, query: Mapping, plan: ResultListing) -> str:
    return listing.paginate(conn, plan, listing.PageRequest.of(query))


def list_results(conn: Connection, query: Mapping, boundaries: deep_pages.PageBoundaries | None = None) -> str:
    """`boundaries`: where the deep pages of listings sorted by one number begin, as this
    process has learnt (query_service/deep_pages.py)."""
    filters, indexed = _filters(conn, query, visible=True)
    conditions = [results.c.hidden.is_(False), *filters]
    only_indexed = _only_indexed(query, filters, indexed)
    # PostgreSQL reads the projector's kept count with the current page, in one statement.
    counted_with_page = not filters and conn.dialect.name == "postgresql" and as_of.position() is None
    keys = listing.parse_sort(query["sort_by"], _sortable)
    if counted_with_page and all(key.name in SORTABLE for key in keys):
        # The page and its total in one statement, its own snapshot: no transaction around it
        # (its BEGIN and ROLLBACK were two of the request's three round trips), unless the
        # caller has begun one on this connection.
        if not conn.in_transaction():
            conn.execution_options(isolation_level="AUTOCOMMIT")
        request = listing.PageRequest.of(query)
        if request.page == 1:
            return _paged(
                conn.exec_driver_sql(_unfiltered_first(tuple(keys), request.per_page, conn.dialect)).one(), request
            )
        return _paginated(conn, _unfiltered(tuple(keys)), request)
    if not filters:  # the total is every visible result: the projector keeps that count
        total = None if counted_with_page else counts.visible(conn)
    elif indexed and only_indexed:  # the index entries the number filters share
        total = json_numbers.count_shared(conn, indexed, _benchmark_of(query))
    else:
        total = None
    sorts = _sorts(conn, query, keys, visible=True)
    walks = (
        conn.dialect.name == "postgresql"
        and as_of.position() is None
        and total is not None
        and bool(sorts)
        and sorts[0].number is not None
        and _walks(sorts[0].number, total, listing.PageRequest.of(query))
    )
    choice = _page_choice(sorts, conditions, True, [rows for _flt, rows in indexed] if only_indexed else None, walks)
    deep = None
    if boundaries is not None and choice is not None and choice.halves is not None and as_of.position() is None:
        # Chosen from the numbers of its one sort key alone: the listing is its benchmark, its
        # number filters and that key.
        named = (query["benchmark_id"], tuple(query["filters"]), query["sort_by"])
        sorted_by = deep_pages.SortedByNumber(
            choice.statement, choice.halves[0], keys[0].descending, named, choice.walks
        )
        deep = (sorted_by, boundaries)
    if total is None and not indexed and not counted_with_page:
        total = _kept_narrowed_total(conn, query, filters)
    plan = ResultListing(conditions, _order(sorts), choice, total, _chosen_order(sorts), deep)
    if counted_with_page:
        return _paginated(conn, plan.page_with_total(counts.visible_expression()), listing.PageRequest.of(query))
    return _page(conn, query, plan)


def _kept_narrowed_total(conn: Connection, query: Mapping, filters: list) -> int | None:
    """The total of a current listing narrowed by one benchmark, site or flavor and nothing
    else, as the projector keeps it (None: counted from the rows)."""
    narrowing = [column for column in counts.NARROWING if query[column]]
    if as_of.position() is not None or len(filters) != 1 or len(narrowing) != 1:
        return None
    return counts.visible_of(conn, narrowing[0], [str(query[narrowing[0]])])


def list_uploaded_by(conn: Connection, uploader: Actor, query: Mapping) -> str:
    """The caller's own results, hidden and deleted ones included, every filter applied (Q-6)."""
    mine = [identity_is(results.c.uploader_sub, uploader.sub), results.c.uploader_iss == uploader.iss]
    conditions = [*mine, *_filters(conn, query, visible=False)[0]]
    sorts = _sorts(conn, query, listing.parse_sort(query["sort_by"], _sortable), visible=False)
    choice = _page_choice(sorts, conditions, False, None)
    return _page(conn, query, ResultListing(conditions, _order(sorts), choice, chosen_order=_chosen_order(sorts)))


# The catalog rows a search term names (`_search_term`), asked in one statement built once: each
# row says which column of `results` its id is for. `pattern`: the term as a LIKE pattern.
_PATTERN = bindparam("pattern")
_NAMED_BY_TERM = union_all(
    select(literal_column("'benchmark_id'"), benchmarks.c.id).where(benchmarks.c.name.like(_PATTERN, escape="/")),
    select(literal_column("'site_id'"), sites.c.id).where(
        or_(sites.c.name.like(_PATTERN, escape="/"), sites.c.address.like(_PATTERN, escape="/"))
    ),
    select(literal_column("'flavor_id'"), flavors.c.id).where(flavors.c.name.like(_PATTERN, escape="/")),
    select(literal_column("'tag'"), tags.c.id).where(tags.c.name == bindparam("term")),
)


def _like_pattern(term: str) -> str:
    """The term anywhere in a text, each of its characters literal (as SQLAlchemy's
    `contains(term, autoescape=True)` writes it)."""
    return "%" + term.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def _named_by_term(conn: Connection, term: str) -> dict[str, list[str]]:
    """The catalog rows a search term names, by the column of `results` their ids are for
    (`benchmark_id`, `site_id`, `flavor_id`, or `tag`)."""
    named = defaultdict(list)
    for column, id in conn.execute(_NAMED_BY_TERM, {"pattern": _like_pattern(term), "term": term}):
        named[column].append(id)
    return dict(named)


def _search_term(conn: Connection, named: dict[str, list[str]]) -> object:
    """The results a term matches, from the catalog rows it names (`_named_by_term`). A result's
    benchmark_name, site_name, site_address and flavor_name are copies of its benchmark's,
    site's and flavor's columns (the projector keeps them equal on every rename, and a result
    goes with its site, flavor or benchmark), so the catalog rows the term matches are found
    first (a few rows) and the results are then selected by their indexed ids: the work follows
    the matching results, not the table. With the ids as values, PostgreSQL estimates each
    alternative from its statistics and combines selective ones as a BitmapOr of index scans."""
    alternatives = [results.c[column].in_(ids) for column, ids in named.items() if column != "tag"]
    if "tag" in named:  # the tagged results themselves may be many: left to the database
        tagged = select(result_tags.c.result_id).where(result_tags.c.tag_id.in_(named["tag"]))
        if conn.dialect.name == "postgresql":
            alternatives.append(results.c.id == any_(func.array(tagged.scalar_subquery())))
        else:
            alternatives.append(results.c.id.in_(tagged))
    return or_(*alternatives) if alternatives else false()


def _kept_search_total(conn: Connection, named: list[dict[str, list[str]]]) -> int | None:
    """The total of a current search of one term that names benchmarks, sites or flavors of one
    kind alone (a site's name, as most searches), as the projector keeps it (None: counted from
    the rows). Names of two kinds could both be a result's, and two terms narrow each other."""
    if as_of.position() is not None or len(named) != 1 or len(named[0]) != 1:
        return None
    [(column, ids)] = named[0].items()
    return counts.visible_of(conn, column, ids) if column in counts.NARROWING else None


def search_results(conn: Connection, query: Mapping) -> str:
    """Every term must match, as a literal case-sensitive substring, the result's benchmark
    name, site name or address, or flavor name, or be the name of one of its tags (Q-11)."""
    if conn.dialect.name == "postgresql":
        visible = results.c.hidden.is_(False)
    else:  # `hidden + 0`: SQLite would walk the `hidden` index (most rows); the term indexes are better
        visible = type_coerce(results.c.hidden, Integer) + 0 == 0
    named = [_named_by_term(conn, term) for term in query["terms"]]
    uploaded = listing.upload_conditions(results, query)
    conditions = [visible, *uploaded, *(_search_term(conn, names) for names in named)]
    sorts = _sorts(conn, query, listing.parse_sort(query["sort_by"], _sortable), visible=None)
    total = None if uploaded else _kept_search_total(conn, named)
    return _page(conn, query, ResultListing(conditions, _order(sorts), known_total=total))


# One result by id, written once per dialect (its compiled form is cached; nothing is built per
# request). Its colons are escaped: text() would read `:MI` of a time format as a parameter.
_ONE_RESULT = {
    dialect: DriverRead(
        text(
            "SELECT "
            + _document(dialect).replace(":", "\\:")
            + " FROM results JOIN benchmarks ON benchmarks.id = results.benchmark_id"
            " JOIN sites ON sites.id = results.site_id JOIN flavors ON flavors.id = results.flavor_id"
            " WHERE results.id = :id AND results.deleted = :deleted"
        )
    )
    for dialect in _TIMESTAMP
}


def get_result(conn: Connection, id) -> str | None:
    """Claimed results stay readable by id (the id is the key: one row at most); admin-deleted
    ones are gone (Q-5)."""
    return _ONE_RESULT[conn.dialect.name].value(conn, {"id": str(id), "deleted": False})


def uploader_of(conn: Connection, id) -> Actor | None:
    row = conn.execute(select(results.c.uploader_sub, results.c.uploader_iss).where(results.c.id == str(id))).first()
    return Actor(row.uploader_sub, row.uploader_iss) if row else None
