"""Review of the `result_numbers` fast path: on one store, every listing answered through the
index (query_service/json_numbers.py) must be the very text the per-row JSON expressions give
(the fast path switched off in-process): items, order, totals, page boundaries, errors. The
documents, keys, sorts and argument combinations are chosen to trip the exactness argument;
then the side tables are recomputed from the stored documents after every kind of removal."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import select

from domain.actor import Actor
from http_api import errors
from http_api.operations import BY_ROUTE
from http_api.requests import parse_query
from query_service import json_numbers
from query_service.views import results as views
from read_model import read_store
from read_model.numbers import UNSAFE, numbers_of
from read_model.tables import benchmark_results, result_number_paths, result_numbers, results
from tests.support import catalog
from tests.support.api import read_store_url, settled
from tests.support.catalog import Setup, query_string

# Every document of the main benchmark has a number at `s`, ` 1`, `01`, `é.ü`, `w` (sorts may
# take the index); the rest varies in type from one document to the next.
TRICKY_KEYS = (" 1", "01", "+1", "1e2", "a b", "$", "[0]", "*", "x/y", "\u2028", "\x7f", "é")


def _document(i: int, score) -> dict:
    document = {"s": score, " 1": -i, "01": i % 3, "é": {"ü": (i % 4) * 0.25}, "w": float(i % 5) - 2.0}
    variants = [
        {"n": {"o": 3}},
        {"n": {"o": [{"p": 1}]}},
        {"n": {"o": {"p": 2}}},
        {"n": [1]},
        {"n": "3"},
        {"n": True},
        {"n": None},
        {"n": {"o": -0.0}},
        {"n": {"o": 2**53 - 1}},
        {"n": {"o": 5e-324}},
    ]
    document.update(variants[i % len(variants)])
    for j, key in enumerate(TRICKY_KEYS):
        if (i + j) % 3 == 0:
            document.setdefault("t", {})[key] = (i * 7 + j) % 5 - 2
        elif (i + j) % 3 == 1:
            document.setdefault("t", {})[key] = [i % 4]
    return document


# (A filter splits on spaces: keys holding one, ` 1` and `a b`, are reached by sorts only.)
SCORES = [
    0,
    -0.0,
    1,
    1.0,
    2**53 - 1,
    -(2**53 - 1),
    0.1,
    0.30000000000000004,
    5e-324,
    -5e-324,
    1e-300,
    0.1,
    3,
    3.0,
    9007199254740990.0,
    2.5,
    -2.5,
    1e-07,
    12345.678,
    0.0,
    1,
    7,
]
FILTERS = [
    "s > 0",
    "s >= 0",
    "s == 0",
    "s == -0",
    "s < 0",
    "s <= 5e-324",
    "s == 5e-324",
    "s > -5e-324",
    "s < 1e-320",
    "s == 0.1",
    "s == 0.30000000000000004",
    "s == 3",
    "s >= 9007199254740991",
    "s < inf",
    "s > -inf",
    "s <= nan",
    "s > nan",
    "s == 9007199254740990",
    "w >= 0",
    "w < 0",
    "w == -2",
    "01 == 1",
    "é.ü > 0.25",
    "é.ü == 0.5",
    "n.o >= 0",
    "n.o == 0",
    "n.o < 1e-300",
    "n.o > 1",
    "n > 0",
    "t.$ > -1",
    "t.[0] < 1",
    "t.* == 0",
    "t.x/y >= 0",
    "t.\u2028 == 2",
    "t.\x7f > -3",
    "t.é <= 0",
    "t.01 == 0",
    "t.1e2 > 0",
    "t.+1 > 0",
    "missing > 0",
    "n.o.p > 0",
]
SORTS = [
    "-json.s",
    "+json.s",
    "+json.s,-json.s",
    "-json.s,+upload_datetime",
    "+upload_datetime,-json.s",
    "-json.w,+json.s",
    "+json.w,-json.01",
    "+json.01,+json. 1",
    "-json. 1",
    "+json.é.ü,-json.w",
    "-json.w,-json.n.o",
    "+json.n.o",
    "-json.t.é",
    "+json.s,+json",
    "-json.s,-site_name",
    "+execution_datetime",
]
FILTER_SETS = (
    [[]]
    + [[sent] for sent in FILTERS]
    + [["s > 0", "s < 100"], ["s >= 0", "s >= 0"], ["w >= 0", "é.ü > 0", "01 == 1"], ["s > 0", "n > 0"]]
)


def _answer(conn, route, query_text, actor):
    query = parse_query(BY_ROUTE[("GET", route)], query_text)
    try:
        if route == "/results":
            return views.list_results(conn, query)
        return views.list_uploaded_by(conn, actor, query)
    except errors.ApiError as error:
        return ("error", error.args, getattr(error, "status", None))


def _differences(engine, monkeypatch, requests) -> list:
    """Each request answered with the index and without it."""
    with engine.connect() as conn:
        fast = [_answer(conn, *request) for request in requests]
    with monkeypatch.context() as patched:
        patched.setattr(json_numbers, "matching_numbers", lambda *arguments: None)
        patched.setattr(json_numbers, "number_sort", lambda *arguments: None)
        with engine.connect() as conn:
            slow = [_answer(conn, *request) for request in requests]
    return [(request[:2], a, b) for request, a, b in zip(requests, fast, slow) if a != b]


def _requests(setup: Setup, other: Setup, actor: Actor, tag_id: str) -> list:
    requests = []
    b = setup.benchmark["id"]
    for k, filters in enumerate(FILTER_SETS):
        # Every sort with no filter and a few filter sets, a quarter of them with the others.
        for sort_by in SORTS if k % 8 == 0 else SORTS[k % 4 :: 4]:
            for per_page, page in ((7, 3), (100, 1)):  # a middle page and a whole listing
                arguments = dict(benchmark_id=b, filters=filters, sort_by=sort_by, per_page=per_page, page=page)
                text = query_string(**arguments)
                requests.append(("/results", text, None))
                requests.append(("/users/self/results", text, actor))
        for extra in (
            dict(site_id=setup.site["id"]),
            dict(flavor_id=other.flavor["id"]),
            dict(tags_ids=[tag_id]),
            dict(execution_after="2020-01-01"),
            dict(upload_before="2000-01-01"),
            {},
        ):
            for sort_by in ("-json.s", "+json.w,-json.s"):
                arguments = dict(filters=filters, sort_by=sort_by, per_page=5, page=1, **extra)
                if "benchmark_id" not in extra and extra:
                    arguments["benchmark_id"] = b
                requests.append(("/results", query_string(**arguments), None))
                requests.append(("/users/self/results", query_string(**arguments), actor))
        # Without benchmark_id: every benchmark's numbers.
        requests.append(("/results", query_string(filters=filters, per_page=3, page=2), None))
        requests.append(("/users/self/results", query_string(filters=filters, sort_by="-json.s", per_page=4), actor))
    return requests


def _actor_of(engine, result_id: str) -> Actor:
    with engine.connect() as conn:
        row = conn.execute(
            select(results.c.uploader_sub, results.c.uploader_iss).where(results.c.id == result_id)
        ).one()
    return Actor(row.uploader_sub, row.uploader_iss)


def _recomputed(engine) -> tuple:
    """The three tables as the stored documents give them."""
    numbers, paths, per_benchmark, unsafe = set(), Counter(), Counter(), Counter()
    with engine.connect() as conn:
        stored = conn.execute(
            select(results.c.seq, results.c.benchmark_id, results.c.hidden, results.c.json_text)
        ).all()
        kept = (
            set(
                conn.execute(
                    select(
                        result_numbers.c.seq,
                        result_numbers.c.path,
                        result_numbers.c.benchmark_id,
                        result_numbers.c.hidden,
                        result_numbers.c.value,
                    )
                ).all()
            ),
            {tuple(row) for row in conn.execute(select(result_number_paths)).all()},
            {tuple(row) for row in conn.execute(select(benchmark_results)).all()},
        )
    for seq, benchmark_id, hidden, text in stored:
        per_benchmark[benchmark_id] += 1
        for path, value in numbers_of(json.loads(text)):
            numbers.add((seq, path, benchmark_id, bool(hidden), value))
            paths[benchmark_id, path] += 1
            unsafe[benchmark_id, path] += not abs(value) < UNSAFE
    expected = (
        numbers,
        {(*key, count, unsafe[key]) for key, count in paths.items()},
        {(key, count) for key, count in per_benchmark.items()},
    )
    kept = ({(seq, path, b, bool(hidden), value) for seq, path, b, hidden, value in kept[0]}, *kept[1:])
    return expected, kept


def test_the_index_answers_as_the_expressions(api, callers, request, tmp_path, monkeypatch):
    setup = catalog.setup(api, callers.user, callers.admin)
    other_flavor = catalog.flavor(api, callers.user, callers.admin, setup.site["id"])
    other = Setup(setup.benchmark, setup.site, other_flavor)
    elsewhere = catalog.setup(api, callers.other, callers.admin)
    tag = catalog.tag(api, callers.user)
    ids = []
    for i, score in enumerate(SCORES):
        where = other if i % 4 == 1 else setup
        token = callers.other if i % 5 == 2 else callers.user
        extra = dict(tags=[tag["id"]]) if i % 3 == 0 else {}
        ids.append(catalog.upload(api, token, where, _document(i, score), **extra)["id"])
    # Another benchmark with the same paths, some beyond 2^53 elsewhere than `s`.
    for i, score in enumerate([4, 2**60, "x", -1.5, 10**30]):
        catalog.upload(api, callers.other, elsewhere, {"s": score, "w": i, "n": {"o": 2**70 if i == 1 else i}})
    catalog.claim(api, callers.other, ids[3])
    catalog.claim(api, callers.user, ids[4])
    assert api.delete(f"/results/{ids[5]}", callers.admin).status_code == 204
    settled(api, request)
    engine = read_store.connect(read_store_url(api, request, tmp_path))
    try:
        actor = _actor_of(engine, ids[0])
        requests = _requests(setup, other, actor, tag["id"])
        found = _differences(engine, monkeypatch, requests)
        assert not found, found[:5]
        expected, kept = _recomputed(engine)
        assert kept == expected
    finally:
        engine.dispose()


def _small_requests(benchmark_ids, actor) -> list:
    requests = []
    for b in benchmark_ids:
        for filters in ([], ["s > 0"], ["s >= -1", "w < 3"]):
            for sort_by in ("-json.s", "+json.w,-json.s", "+upload_datetime"):
                for page in (1, 2):
                    text = query_string(benchmark_id=b, filters=filters, sort_by=sort_by, per_page=2, page=page)
                    requests += [("/results", text, None), ("/users/self/results", text, actor)]
    requests.append(("/results", query_string(filters="s > 0", per_page=3), None))
    return requests


def test_the_side_tables_follow_every_removal(api, callers, request, tmp_path, monkeypatch):
    kept = catalog.setup(api, callers.user, callers.admin)
    bobs_flavor = catalog.flavor(api, callers.other, callers.admin, kept.site["id"])
    in_bobs_flavor = Setup(kept.benchmark, kept.site, bobs_flavor)
    bobs = catalog.setup(api, callers.other, callers.admin)
    emptied = catalog.setup(api, callers.user, callers.admin)
    doomed_site = catalog.setup(api, callers.user, callers.admin)
    ids = []
    for i in range(8):
        document = {"s": i - 3.5, "w": i % 3, "m": {"s": i}}
        for token, where in (
            (callers.user, kept),
            (callers.other, kept),
            (callers.user, in_bobs_flavor),
            (callers.user, bobs),
            (callers.other, bobs),
            (callers.user, emptied),
            (callers.user, doomed_site),
        ):
            ids.append(catalog.upload(api, token, where, document)["id"])
    engine = read_store.connect(read_store_url(api, request, tmp_path))
    try:
        actor = _actor_of(engine, ids[0])
        benchmark_ids = [s.benchmark["id"] for s in (kept, bobs, emptied, doomed_site)]

        def check(step):
            settled(api, request)
            expected, stored = _recomputed(engine)
            assert stored == expected, step
            found = _differences(engine, monkeypatch, _small_requests(benchmark_ids, actor))
            assert not found, (step, found[:3])

        check("uploads")
        for result_id in ids[5::7]:  # every result of `emptied` deleted by an admin, one claimed first
            if result_id == ids[5]:
                catalog.claim(api, callers.other, result_id)
            assert api.delete(f"/results/{result_id}", callers.admin).status_code == 204
        check("admin deletes")
        assert api.delete(f"/benchmarks/{emptied.benchmark['id']}", callers.admin).status_code == 204
        check("benchmark deleted: its counts reach 0")
        assert api.delete(f"/flavors/{doomed_site.flavor['id']}", callers.admin).status_code == 204
        check("flavor deleted")
        assert api.delete(f"/sites/{doomed_site.site['id']}", callers.admin).status_code == 204
        check("site deleted")
        claimed = catalog.claim(api, callers.other, ids[0])
        assert api.post(f"/reports/claims/{claimed['id']}:reject", callers.admin).status_code == 204
        catalog.claim(api, callers.user, ids[1])
        check("claims and restores")
        assert api.post("/users:remove", callers.admin, query_string="email=bob@example.org").status_code == 204
        check("user removed: their results (their benchmark and flavor stay, owned by no one)")
        # A result without a number at `s` (sorts fall back), then gone again: the sorts return.
        lacking = catalog.upload(api, callers.user, kept, {"s": "none", "w": 1})["id"]
        check("a result without the number")
        assert api.delete(f"/results/{lacking}", callers.admin).status_code == 204
        check("it is hidden, still counted")
        catalog.upload(api, callers.user, kept, {"s": 2**53, "w": 0})
        check("a number beyond 2^53")
    finally:
        engine.dispose()
