"""Number filters and numeric sorts answered through `result_numbers` (query_service/json_numbers.py)
give what the per-row JSON expressions give: checked against the Python reference of
test_result_queries.py on documents made to trip the fast path, through claims, restores,
deletions, uploads and cascades; then the table against a fresh replay and a backfill."""

from __future__ import annotations

import json

from sqlalchemy import delete, func, select, text

from configuration.settings import Limits
from http_api.operations import BY_ROUTE
from http_api.requests import parse_query
from projections.replay import _selection
from query_service import json_numbers
from query_service.json_filters import parse_filter
from query_service.views import results as views
from read_model import read_store
from read_model.migrations import migrate, schema_migrations
from read_model.tables import benchmark_results, result_number_paths, result_number_values, result_numbers
from tests.support import catalog
from tests.support.api import assert_equal_to_a_replay, read_store_url, settled
from tests.support.catalog import query_string
from tests.support.json_reference import matches, sorted_ids
from tests.support.sent_statements import sent_statements

# Every document has a number at `score` (the sort fast path needs that), some equal as
# numbers but not as text (3, 3.0), -0.0 and 0, and doubles' shortest texts. `m.n` holds
# numbers and everything else; keys that read as array indexes, hold "." or need escaping,
# numbers beyond 2^53, and paths longer than numbers.MAX_PATH_BYTES (in bytes: `é` is two),
# must keep the JSON expressions.
WIDE, FAR = "é" * 100, "ü" * 100  # WIDE (200 bytes) alone is kept; WIDE.FAR (401 bytes) is beyond the bound
ACCENTED = "é" * 130  # 130 characters, 260 bytes: beyond the bound
DOCUMENTS = [
    {"score": 3, "m": {"n": 8}, "k": {"0": 5}},
    {"score": 3.0, "m": {"n": 4}, "k": [5]},
    {"score": -0.0, "m": {"n": "8"}, "k": {" 1": 7}},
    {"score": 0, "m": {"n": True}, "d.e": 3, "d": {"e": 4}},
    {"score": 0.1, "m": {"n": None}, "q\\": 1, "t\tab": 2},
    {"score": 1e-07, "m": {"n": [8]}, "big": 2**53 + 1},
    {"score": 2**53 - 1, "m": {"n": {"0": 8}}, "big": 1},
    {"score": -(2**53 - 1), "m": {}, "huge": 1e300},
    {"score": 1.5, "m": {"n": 16.5}, "huge": -1e300},
    {"score": 1.5, "m": {"n": -3}, "x": {"y": {"z": 2}}},
    {"score": 0.30000000000000004, "m": {"n": 0.1}, "x": {"y": 2}},
    {"score": 12345.678, "m": {"n": 1e-07}},
    {"score": -7, "m": {"n": 8.0}, "é": {"ü": 9}},
    {"score": 99, "m": {"n": 2**53 - 1}, "é": {"ü": "9"}},
    {"score": 5, "m": 3},
    {"score": 4},
    {"score": 6, WIDE: {FAR: 5, "v": 1}, ACCENTED: 2},
    {"score": 7, WIDE: {FAR: 3, "v": 2}, ACCENTED: 1},
]
LATER = [{"score": 2.5, "m": {"n": 9}, "é": {"ü": 1}}, {"score": -0.5, "m": {"n": 1}}]
FILTERS = [
    "m.n > 4",
    "m.n >= 8",
    "m.n == 8",
    "m.n < 0",
    "m.n <= 0.1",
    "m.n == 1e-7",
    "m.n < inf",
    "m.n > -inf",
    "m.n < nan",
    "m.n <= nan",
    "m.n == nan",
    "m.n > nan",
    "score > 0",
    "score == 0",
    "score == -0",
    "score < 1.5",
    "score == 3",
    "score >= 9007199254740991",
    "k.0 == 5",
    "d.e == 3",
    "d.e > 0",
    "big > 2",
    "huge > 0",
    "x.y > 1",
    "x.y.z == 2",
    "é.ü > 1",
    "m > 1",
    "m.n == true",
    "m.n > 5x",
    "missing > 0",
    f"{WIDE}.{FAR} > 4",
    f"{ACCENTED} == 2",
]
SORTS = [
    "-json.score",
    "+json.score",
    "+json.score,-json.m.n",
    "-json.m.n",
    "+json.k.0",
    "+json.é.ü",
    "+json.m,-json.score",
    "-json.score,+json.score",
    f"-json.{WIDE}.{FAR},+json.score",
]


def _page(api, path, token=None, **arguments) -> dict:
    answer = api.get(path, token, query_string=query_string(**arguments))
    assert answer.status_code == 200, (arguments, answer.text)
    return answer.json


def _expected(rows, filters, sort_by) -> list[str]:
    return sorted_ids([row for row in rows if all(matches(row["json"], sent) for sent in filters)], sort_by)


def _mismatches(api, callers, where, shown, everything) -> list:
    """The listing (visible results of the benchmark) and the uploader's own results (every
    result) against the reference, for each filter and sort, and two pages of each."""
    found = []
    benchmark_id = where.benchmark["id"]
    for filters in [[]] + [[sent] for sent in FILTERS] + [["m.n > 0", "score < 10"], ["score > 0", "k.0 == 5"]]:
        for sort_by in SORTS:
            for path, token, rows in (("/results", None, shown), ("/users/self/results", callers.user, everything)):
                expected = _expected(rows, filters, sort_by)
                arguments = dict(benchmark_id=benchmark_id, filters=filters, sort_by=sort_by, per_page=5)
                got = [
                    item["id"]
                    for page in (1, 2)
                    if (page - 1) * 5 < max(len(expected), 1)
                    for item in _page(api, path, token, page=page, **arguments)["items"]
                ]
                total = _page(api, path, token, **arguments)["total"]
                if got != expected[:10] or total != len(expected):
                    found.append((path, filters, sort_by, total, len(expected)))
    return found


def _upload(api, callers, where, documents) -> list[dict]:
    return [
        {"id": catalog.upload(api, callers.user, where, document)["id"], "json": document} for document in documents
    ]


def test_number_filters_and_sorts_agree_with_the_reference(api, callers):
    where = catalog.setup(api, callers.user, callers.admin)
    other = catalog.setup(api, callers.user, callers.admin)
    _upload(api, callers, other, [{"score": "none", "m": {"n": 10**20}}, {"m": {"n": 50}}])
    rows = _upload(api, callers, where, DOCUMENTS)
    assert not _mismatches(api, callers, where, rows, rows)

    # Claimed (hidden), deleted, claimed and restored, then more uploads.
    catalog.claim(api, callers.other, rows[0]["id"])
    assert api.delete(f"/results/{rows[10]['id']}", callers.admin).status_code == 204
    restored = catalog.claim(api, callers.other, rows[12]["id"])
    assert api.post(f"/reports/claims/{restored['id']}:reject", callers.admin).status_code == 204
    rows += _upload(api, callers, where, LATER)
    shown = [row for row in rows if row["id"] not in (rows[0]["id"], rows[10]["id"])]
    assert not _mismatches(api, callers, where, shown, rows)

    # A result without a number at `score` (sorts fall back), and one without `score`.
    rows += _upload(api, callers, where, [{"score": "high", "m": {"n": 7}}, {"m": {"n": 6}}])
    shown += rows[-2:]
    assert not _mismatches(api, callers, where, shown, rows)


# 30 results, ties on `score` (broken by seq): `n > 0` matches 24 of them, `n > 3` 6.
SPREAD = [{"score": i % 7, "n": i % 5} for i in range(30)]
PROBED = "LIMIT ALL OFFSET"  # an EXISTS with an OFFSET: PostgreSQL probes it per walked entry


def test_pages_of_dense_filters_walk_the_sort_and_others_are_left_to_the_planner(
    api, callers, request, tmp_path, monkeypatch
):
    """On PostgreSQL a page `_walks` finds by walking the sort's index is chosen by a statement
    that probes each entry against the filter (an EXISTS the planner does not make a join), with
    the page's bounds written in it; the others are planned as before. Every page agrees with
    the reference, on either backend."""
    where = catalog.setup(api, callers.user, callers.admin)
    rows = _upload(api, callers, where, SPREAD)
    settled(api, request)
    engine = read_store.connect(read_store_url(api, request, tmp_path))
    postgres = engine.dialect.name == "postgresql"
    sent = sent_statements(engine, monkeypatch)
    # (filter, page, per_page, walked): (offset + per_page) x 30 results against the matches squared.
    cases = [
        ("n > 0", 1, 2, True),  # 2 x 30 <= 24 x 24
        ("n > 0", 3, 6, True),  # 18 x 30 <= 576
        ("n > 0", 4, 5, False),  # 20 x 30 > 576
        ("n > 0", 1, 30, False),
        ("n > 3", 1, 1, True),  # 1 x 30 <= 6 x 6
        ("n > 3", 1, 2, False),  # 2 x 30 > 36
        ("n > 3", 2, 3, False),
    ]
    try:
        for sort_by in ("-json.score", "+json.score"):
            expected = {flt: _expected(rows, [flt], sort_by) for flt in ("n > 0", "n > 3")}
            for flt, page, per_page, walked in cases:
                arguments = dict(
                    benchmark_id=where.benchmark["id"], filters=flt, sort_by=sort_by, page=page, per_page=per_page
                )
                sent.clear()
                with engine.connect() as conn:
                    listed = json.loads(
                        views.list_results(conn, parse_query(BY_ROUTE[("GET", "/results")], query_string(**arguments)))
                    )
                offset = (page - 1) * per_page
                assert [item["id"] for item in listed["items"]] == expected[flt][offset : offset + per_page], arguments
                assert listed["total"] == len(expected[flt])
                chosen = next(statement for statement in sent if "page_key" in statement)
                assert (PROBED in chosen) == (walked and postgres), arguments
                if walked and postgres:
                    assert chosen.rstrip().endswith(
                        f"LIMIT {per_page} OFFSET {offset}) AS page ON page.page_key = results.seq"
                    )
    finally:
        engine.dispose()


NUMBER_TABLES = (result_numbers, result_number_paths, result_number_values, benchmark_results)


def _number_tables(engine) -> list[set]:
    with engine.connect() as conn:
        return [{tuple(row) for row in conn.execute(_selection(table))} for table in NUMBER_TABLES]


def test_filters_and_sorts_read_the_index(api, callers, request, tmp_path, monkeypatch):
    where = catalog.setup(api, callers.user, callers.admin)
    _upload(api, callers, where, DOCUMENTS[:4])
    settled(api, request)  # read here from the store, not through the API: projected first
    engine = read_store.connect(read_store_url(api, request, tmp_path))
    sent = sent_statements(engine, monkeypatch)
    query = parse_query(
        BY_ROUTE[("GET", "/results")],
        query_string(benchmark_id=where.benchmark["id"], filters="m.n > 4", sort_by="-json.score"),
    )
    with engine.connect() as conn:
        views.list_results(conn, query)
    count = next(statement for statement in sent if "count(" in statement)
    page = next(statement for statement in sent if "page_key" in statement)
    # The total summed by value over the filter's range (a few distinct numbers here).
    assert "FROM result_number_values" in count and "json" not in count
    # The page is chosen from the index alone (the filter as a probe of each walked entry).
    assert "FROM result_numbers AS sort_0 \nWHERE" in page and "ORDER BY sort_0.value DESC" in page
    assert "EXISTS (SELECT result_numbers.seq" in page
    engine.dispose()


def test_the_numbers_equal_a_replay_and_a_backfill(api, callers, request, tmp_path):
    where = catalog.setup(api, callers.user, callers.admin)
    rows = _upload(api, callers, where, DOCUMENTS)
    catalog.claim(api, callers.other, rows[1]["id"])
    assert api.delete(f"/results/{rows[2]['id']}", callers.admin).status_code == 204
    doomed = catalog.setup(api, callers.user, callers.admin)
    _upload(api, callers, doomed, [{"score": 1, "m": {"n": 2}}])
    assert api.delete(f"/benchmarks/{doomed.benchmark['id']}", callers.admin).status_code == 204
    engine = read_store.connect(read_store_url(api, request, tmp_path))
    assert_equal_to_a_replay(api, request, engine)
    projected = _number_tables(engine)
    assert len(projected[0]) > len(DOCUMENTS) and len(projected[3]) == 1
    # A store from before migration 7: the backfill (and migration 19's counts by value) give
    # what the projector wrote.
    with engine.begin() as conn:
        for table in NUMBER_TABLES:
            conn.execute(text(f"DROP TABLE {table.name}"))
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version.in_([7, 19])))
    assert migrate(engine) == [7, 19]
    assert _number_tables(engine) == projected
    # From before migration 19 alone: its counts by value are made from the numbers.
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {result_number_values.name}"))
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version == 19))
    assert migrate(engine) == [19]
    assert _number_tables(engine) == projected
    # The dropped table took migration 18's index along; the store (shared with later tests) gets
    # it back, as a store from before migration 7 gets it after the row versions' migration.
    with engine.begin() as conn:
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version == 18))
    assert migrate(engine) == [18]
    engine.dispose()


def test_a_filters_total_is_summed_by_value_or_counted_alike(api, callers, request, tmp_path, monkeypatch):
    """A listing narrowed by one number filter has its total summed from `result_number_values`
    over the filter's range, or, past json_numbers.SUMMED_VALUES distinct numbers there, counted
    from the index: both give the count of the filter's visible matches."""
    where = catalog.setup(api, callers.user, callers.admin)
    rows = _upload(api, callers, where, DOCUMENTS)
    catalog.claim(api, callers.other, rows[3]["id"])  # hidden: counted by neither
    settled(api, request)  # the stack's projector: the two counts are asked in separate statements
    engine = read_store.connect(read_store_url(api, request, tmp_path))
    benchmark_id, default = where.benchmark["id"], json_numbers.SUMMED_VALUES

    def totals(bound: int) -> dict[str, tuple[int, int]]:
        """Per filter: (the total, the count of its selection's rows)."""
        monkeypatch.setattr(json_numbers, "SUMMED_VALUES", bound)
        json_numbers._summed_or_counted.cache_clear()  # the statement holds the bound
        found = {}
        for sent in ("score > 0", "score == 0", "score <= 3", "score < -1e300", "m.n >= 8", "m.n < 5"):
            flt = parse_filter(sent)
            selection = json_numbers.matching_numbers(conn, flt, benchmark_id, True)
            counted = conn.execute(select(func.count()).select_from(selection.subquery())).scalar_one()
            found[sent] = (json_numbers.count_shared(conn, [(flt, selection)], benchmark_id), counted)
        return found

    try:
        with engine.connect() as conn:
            for bound in (default, 2):
                assert all(total == counted for total, counted in totals(bound).values())
            # Which of the two answers: with every count by value made 100 too high, the
            # ranges of few numbers are summed, the wider ones counted.
            conn.execute(result_number_values.update().values(results=result_number_values.c.results + 100))
            summed = totals(default)
            assert summed["score > 0"][0] > summed["score > 0"][1] + 100
            assert summed["score < -1e300"] == (0, 0)
            wide = totals(2)
            assert wide["score > 0"][0] == wide["score > 0"][1] and wide["score == 0"][0] > wide["score == 0"][1]
            conn.rollback()
    finally:
        json_numbers._summed_or_counted.cache_clear()
        engine.dispose()


def test_numbers_are_kept_only_at_paths_within_the_bound(api, callers, request, tmp_path):
    """A row per number holds the number's whole path: a deep document with long keys made the
    table grow with the square of its depth (issue 10: 0.33 MB made 412 MB). Paths beyond the
    bound are not kept; filters on them read the documents, and still find them."""
    where = catalog.setup(api, callers.user, callers.admin)
    key = "é" * 40  # 80 bytes
    document = level = {}
    for depth in range(Limits().json_depth - 1):
        level["n"] = depth
        level = level.setdefault(key, {})
    uploaded = catalog.upload(api, callers.user, where, document)
    deep = ".".join([key] * 6 + ["n"])  # 247 characters, 487 bytes
    assert catalog.listed(api, benchmark_id=where.benchmark["id"], filters=f"{deep} == 6") == [uploaded["id"]]
    assert catalog.listed(api, benchmark_id=where.benchmark["id"], filters=f"{deep} > 6") == []
    engine = read_store.connect(read_store_url(api, request, tmp_path))
    with engine.connect() as conn:
        paths = conn.execute(select(result_numbers.c.path)).scalars().all()
    engine.dispose()
    assert sorted(paths, key=len) == [".".join([key] * depth + ["n"]) for depth in range(4)]  # 244 bytes; next 325


# The text indexes before migration 9 (b-trees of whole values), as migration 1 made them.
UNBOUNDED_INDEXES = (
    "CREATE INDEX users_identity ON users (sub, iss)",
    "CREATE INDEX users_email ON users (email)",
    "CREATE INDEX benchmarks_status_image ON benchmarks (status, docker_image)",
    "CREATE INDEX sites_status_name ON sites (status, name)",
    "CREATE INDEX flavors_site_status_name ON flavors (site_id, status, name)",
    "CREATE INDEX tags_name ON tags (name)",
    "CREATE INDEX results_uploader ON results (uploader_sub, uploader_iss)",
    "CREATE INDEX claims_uploader ON claims (uploader_sub, uploader_iss)",
)
BOUNDED_INDEXES = {
    "users_by_sub",
    "users_by_email",
    "benchmarks_by_image",
    "sites_by_name",
    "flavors_site_status",
    "tags_by_name",
    "results_by_uploader",
    "claims_by_uploader",
}


def _text_indexes(engine) -> dict[str, str]:
    """Index name -> its definition, for the indexes of tables holding users' text."""
    if engine.dialect.name == "postgresql":
        catalog_query = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    else:
        catalog_query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    names = BOUNDED_INDEXES | {statement.split()[2] for statement in UNBOUNDED_INDEXES}
    with engine.connect() as conn:
        return {name: definition for name, definition in conn.execute(text(catalog_query)) if name in names}


def test_a_store_from_before_migration_9_gets_bounded_indexes_and_keeps_no_long_paths(api, callers, request, tmp_path):
    where = catalog.setup(api, callers.user, callers.admin)
    catalog.tag(api, callers.user)
    _upload(api, callers, where, DOCUMENTS)
    assert len(catalog.listed(api, benchmark_id=where.benchmark["id"])) == len(DOCUMENTS)  # projected (production)
    engine = read_store.connect(read_store_url(api, request, tmp_path))
    projected = _number_tables(engine)
    long_path = "p" * 300
    with engine.begin() as conn:
        for name in BOUNDED_INDEXES:
            conn.execute(text(f"DROP INDEX {name}"))
        for statement in UNBOUNDED_INDEXES:
            conn.execute(text(statement))
        seq, benchmark_id = conn.execute(select(result_numbers.c.seq, result_numbers.c.benchmark_id)).first()
        conn.execute(
            result_numbers.insert().values(seq=seq, path=long_path, benchmark_id=benchmark_id, hidden=False, value=1.0)
        )
        conn.execute(
            result_number_paths.insert().values(benchmark_id=benchmark_id, path=long_path, results=1, unsafe=0)
        )
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version == 9))
    assert migrate(engine) == [9]
    indexes = _text_indexes(engine)
    assert set(indexes) == BOUNDED_INDEXES
    if engine.dialect.name == "postgresql":
        hashed = {name for name, definition in indexes.items() if "USING hash" in definition}
        uploaders = {"results_by_uploader", "claims_by_uploader"}  # of the identity's beginning (migration 22)
        assert hashed == BOUNDED_INDEXES - {"flavors_site_status"} - uploaders
        assert all("USING btree (substr(uploader_sub, 1, 256))" in indexes[name] for name in uploaders)
    assert _number_tables(engine) == projected
    engine.dispose()
