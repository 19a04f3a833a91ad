"""Results: listing with every filter, JSON filters and sorting, search, and one by id.

A result is rendered by concatenating stored JSON: its own document and times, and the
current documents of its benchmark, site, flavor and tags (so their updates show at once).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

from sqlalchemy import and_, exists, select
from sqlalchemy.engine import Connection

from domain.actor import Actor
from eosc_perf import documents
from query_service import listing
from query_service.json_filters import json_dialect, parse_filter, sort_path
from projections.tables import benchmarks, flavors, result_tags, results, sites, tags

SORTABLE = {
    name: results.c[name]
    for name in (
        "id", "upload_datetime", "execution_datetime", "benchmark_id", "benchmark_name", "site_id", "site_name",
        "site_address", "flavor_id", "flavor_name",
    )
}
_RENDERED_FROM = (
    results.join(benchmarks, benchmarks.c.id == results.c.benchmark_id)
    .join(sites, sites.c.id == results.c.site_id)
    .join(flavors, flavors.c.id == results.c.flavor_id)
)
_COLUMNS = (
    results.c.id, results.c.upload_datetime, results.c.execution_datetime, results.c.json_text,
    benchmarks.c.doc.label("benchmark"), sites.c.doc.label("site"), flavors.c.doc.label("flavor"),
)


def _bytewise(conn: Connection, column):
    """Names in byte order (as SQLite compares text, and as the upload answer lists tags)."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def _tags_of(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    """The tag list JSON of each result of a page, in one query."""
    found: dict[str, list[str]] = defaultdict(list)
    if ids:
        rows = conn.execute(
            select(result_tags.c.result_id, tags.c.doc)
            .join(tags, tags.c.id == result_tags.c.tag_id)
            .where(result_tags.c.result_id.in_(ids))
            .order_by(result_tags.c.result_id, _bytewise(conn, tags.c.name))
        )
        for row in rows:
            found[row.result_id].append(row.doc)
    return {id: "[" + ",".join(docs) + "]" for id, docs in found.items()}


def _renderer(conn: Connection):
    def render(rows) -> list[str]:
        tag_lists = _tags_of(conn, [row.id for row in rows])
        return [
            '{"benchmark":%s,"execution_datetime":"%s","flavor":%s,"id":"%s","json":%s,"site":%s,"tags":%s,'
            '"upload_datetime":"%s"}'
            % (row.benchmark, documents.timestamp(row.execution_datetime), row.flavor, row.id, row.json_text,
               row.site, tag_lists.get(row.id, "[]"), documents.timestamp(row.upload_datetime))
            for row in rows
        ]

    return render


def _json(conn: Connection):
    return json_dialect(conn, results)


def _order(conn: Connection, sort_by: str) -> list:
    json = _json(conn)

    def json_field(name: str):
        keys = sort_path(name)
        return None if keys is None else json.sort_keys(keys)

    return [*listing.order_by(sort_by, SORTABLE, json_field), results.c.seq]


def _has_tag(tag_id) -> object:
    return exists().where(and_(result_tags.c.result_id == results.c.id, result_tags.c.tag_id == str(tag_id)))


def _filters(conn: Connection, query: Mapping) -> list:
    json = _json(conn)
    conditions = [
        *listing.upload_conditions(results, query),
        *listing.date_conditions(results.c.execution_datetime, query["execution_before"], query["execution_after"]),
        *[results.c[name] == str(query[name]) for name in ("benchmark_id", "site_id", "flavor_id") if query[name]],
        *[_has_tag(tag_id) for tag_id in dict.fromkeys(query["tags_ids"])],
    ]
    conditions += [json.condition(parse_filter(sent)) for sent in query["filters"]]
    return conditions


def _page(conn: Connection, conditions: list, order: list, query: Mapping) -> str:
    return listing.paginate(
        conn, _COLUMNS, _RENDERED_FROM, conditions, order, listing.PageRequest.of(query), _renderer(conn),
        count_from=results,
    )


def list_results(conn: Connection, query: Mapping) -> str:
    conditions = [results.c.hidden.is_(False), *_filters(conn, query)]
    return _page(conn, conditions, _order(conn, query["sort_by"]), query)


def list_uploaded_by(conn: Connection, uploader: Actor, query: Mapping) -> str:
    """The caller's own results, hidden and deleted ones included, every filter applied (Q-6)."""
    mine = [results.c.uploader_sub == uploader.sub, results.c.uploader_iss == uploader.iss]
    return _page(conn, [*mine, *_filters(conn, query)], _order(conn, query["sort_by"]), query)


def _has_tag_named(term: str) -> object:
    return exists().where(
        and_(result_tags.c.result_id == results.c.id, result_tags.c.tag_id == tags.c.id, tags.c.name == term)
    )


def search_results(conn: Connection, query: Mapping) -> str:
    searched = [results.c.benchmark_name, results.c.site_name, results.c.site_address, results.c.flavor_name]
    conditions = [
        results.c.hidden.is_(False),
        *listing.upload_conditions(results, query),
        *listing.search_conditions(query["terms"], searched, extra=_has_tag_named),
    ]
    return _page(conn, conditions, _order(conn, query["sort_by"]), query)


def get_result(conn: Connection, id) -> str | None:
    """Claimed results stay readable by id; admin-deleted ones are gone (Q-5)."""
    rows = conn.execute(
        select(*_COLUMNS).select_from(_RENDERED_FROM).where(results.c.id == str(id), results.c.deleted.is_(False))
    ).all()
    return _renderer(conn)(rows)[0] if rows else None


def uploader_of(conn: Connection, id) -> Actor | None:
    row = conn.execute(select(results.c.uploader_sub, results.c.uploader_iss).where(results.c.id == str(id))).first()
    return Actor(row.uploader_sub, row.uploader_iss) if row else None
