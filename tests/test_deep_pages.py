"""Deep pages of a listing sorted by one number, sought from the places earlier pages showed
(query_service/deep_pages.py), are the pages walked to from the start: in any order of pages
and page sizes, on ties of the sort number, in both directions, and after writes between them."""

from __future__ import annotations

import json

from http_api.operations import BY_ROUTE
from http_api.requests import parse_query
from query_service import deep_pages
from query_service.deep_pages import PageBoundaries, Place
from query_service.views import results as views
from read_model import read_store
from tests.support import catalog
from tests.support.api import read_store_url, settled, statements
from tests.support.catalog import query_string
from tests.support.sent_statements import sent_statements

# Three results per score (ties broken by seq), `m` from 0 to 4: 36 results.
DOCUMENTS = [{"score": i // 3, "m": i % 5} for i in range(36)]
SOUGHT = "sort_0.value <= "  # in the statement of a page sought from a place (descending)


def _query(benchmark_id: str, sort_by: str, page: int, per_page: int) -> dict:
    arguments = dict(benchmark_id=benchmark_id, filters="m > 0", sort_by=sort_by, page=page, per_page=per_page)
    return parse_query(BY_ROUTE[("GET", "/results")], query_string(**arguments))


def _engine(api, request, tmp_path):
    engine = read_store.connect(read_store_url(api, request, tmp_path))
    if engine.dialect.name == "postgresql":  # as the query service reads: one snapshot per request
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    return engine


def test_deep_pages_sought_from_known_places_are_the_pages_walked_to(api, callers, request, tmp_path, monkeypatch):
    monkeypatch.setattr(deep_pages, "FROM_OFFSET", 2)
    monkeypatch.setattr(deep_pages, "PLACES_EVERY", 4)
    where = catalog.setup(api, callers.user, callers.admin)
    ids = [catalog.upload(api, callers.user, where, document)["id"] for document in DOCUMENTS]
    engine = _engine(api, request, tmp_path)
    sent = sent_statements(engine, monkeypatch)
    boundaries = PageBoundaries()
    benchmark_id = where.benchmark["id"]

    def both(sort_by: str, page: int, per_page: int) -> tuple[str, str]:
        query = _query(benchmark_id, sort_by, page, per_page)
        with engine.connect() as conn:
            remembered = views.list_results(conn, query, boundaries)
        with engine.connect() as conn:
            walked = views.list_results(conn, query)
        return remembered, walked

    def projected(total: int) -> None:
        settled(api, request)
        assert json.loads(both("-json.score", 1, 1)[1])["total"] == total

    try:
        projected(28)
        # A first walk to page 6 leaves places every PLACES_EVERY rows: page 3 is then sought.
        both("-json.score", 6, 4)
        sent.clear()
        with engine.connect() as conn:
            remembered = views.list_results(conn, _query(benchmark_id, "-json.score", 3, 4), boundaries)
        assert any(SOUGHT in statement for statement in sent)
        assert remembered == both("-json.score", 3, 4)[1]
        pages = [(3, 4), (4, 4), (2, 4), (6, 4), (3, 4), (5, 4), (4, 3), (7, 3), (2, 5), (5, 5), (10, 2)]
        for sort_by in ("-json.score", "+json.score"):
            for page, per_page in pages:
                remembered, walked = both(sort_by, page, per_page)
                assert remembered == walked, (sort_by, page, per_page)
        assert any(SOUGHT in statement for statement in sent)  # places were used, not only learnt

        # A write between two pages: the places learnt before it are not used after it.
        catalog.upload(api, callers.user, where, {"score": 100, "m": 1})
        projected(29)
        assert both("-json.score", 4, 4)[0] == both("-json.score", 4, 4)[1]
        catalog.claim(api, callers.other, ids[31])  # m == 1: a match hidden
        projected(28)
        for page, per_page in [(3, 4), (4, 4), (2, 5)]:
            remembered, walked = both("-json.score", page, per_page)
            assert remembered == walked, (page, per_page)
    finally:
        engine.dispose()


def test_the_listing_api_seeks_deep_pages(embedded_api, monkeypatch):
    """The query service's listing learns and uses places (one PageBoundaries per worker)."""
    api = embedded_api
    monkeypatch.setattr(deep_pages, "FROM_OFFSET", 2)
    user, admin = api.register("alice"), api.register("root", admin=True)
    where = catalog.setup(api, user, admin)
    for document in DOCUMENTS[:12]:
        catalog.upload(api, user, where, document)
    arguments = dict(benchmark_id=where.benchmark["id"], filters="m > 0", sort_by="-json.score", per_page=2)
    pages = [api.get("/results", query_string=query_string(page=page, **arguments)).json for page in (2, 3)]
    with statements(api) as seen:
        pages.append(api.get("/results", query_string=query_string(page=4, **arguments)).json)
    assert any(SOUGHT in statement for statement in seen)
    # The 9 results with m > 0 have scores 3, 3, 2, 2, 2, 1, 1, 0, 0.
    assert [item["json"]["score"] for page in pages for item in page["items"]] == [2, 2, 2, 1, 1, 0]


def test_places_are_kept_per_position_and_bounded():
    boundaries = PageBoundaries(listings=2, places=3)
    boundaries.learn("a", 7, [Place(10, 5.0, 1), Place(19, 4.0, 2)])
    assert boundaries.nearest("a", 9) is None
    assert boundaries.nearest("a", 15) == (7, Place(10, 5.0, 1))
    assert boundaries.nearest("a", 19) == (7, Place(19, 4.0, 2))
    boundaries.learn("a", 8, [Place(30, 1.0, 3)])  # another position: the older places are gone
    assert boundaries.nearest("a", 25) is None and boundaries.nearest("a", 40) == (8, Place(30, 1.0, 3))
    boundaries.learn("a", 8, [Place(40, 0.5, 4), Place(50, 0.2, 5), Place(60, 0.1, 6)])
    assert boundaries.nearest("a", 35) is None  # the oldest place learnt went first
    boundaries.learn("b", 8, [Place(1, 1.0, 1)])
    boundaries.nearest("a", 60)  # "a" used last: "b" goes first
    boundaries.learn("c", 8, [Place(1, 1.0, 1)])
    assert boundaries.nearest("b", 1) is None and boundaries.nearest("a", 60) == (8, Place(60, 0.1, 6))
