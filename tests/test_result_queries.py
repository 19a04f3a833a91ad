"""Listing and searching results (contract §4, §5.5): filters, dates, search, pagination,
sorting, and a property-style comparison of JSON filters and sorts with a Python reference."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from tests.support import catalog
from tests.support.catalog import ids, listed, query_string
from tests.support.json_reference import jsonb_key, matches, sorted_ids


def unprocessable(answer) -> dict:
    assert answer.status_code == 422, answer.text
    return answer.json


# --- filters by id, tags, dates -------------------------------------------------------------
def test_results_are_filtered_by_benchmark_site_flavor_and_tags(api, callers):
    one = catalog.setup(api, callers.user, callers.admin)
    two = catalog.setup(api, callers.user, callers.admin)
    other_flavor = catalog.flavor(api, callers.user, callers.admin, one.site["id"])
    three = catalog.Setup(two.benchmark, one.site, other_flavor)
    red, blue, green = (catalog.tag(api, callers.user, name) for name in ("red", "blue", "green"))
    a = catalog.upload(api, callers.user, one, tags=[red["id"], blue["id"]])
    b = catalog.upload(api, callers.user, two, tags=[red["id"]])
    c = catalog.upload(api, callers.other, three, tags=[blue["id"], red["id"], green["id"]])
    d = catalog.upload(api, callers.other, one)
    a, b, c, d = a["id"], b["id"], c["id"], d["id"]

    assert listed(api) == [a, b, c, d]
    assert listed(api, benchmark_id=one.benchmark["id"]) == [a, d]
    assert listed(api, benchmark_id=two.benchmark["id"]) == [b, c]
    assert listed(api, site_id=one.site["id"]) == [a, c, d]
    assert listed(api, flavor_id=other_flavor["id"]) == [c]
    assert listed(api, benchmark_id=two.benchmark["id"], site_id=one.site["id"]) == [c]
    assert listed(api, benchmark_id=one.benchmark["id"], flavor_id=other_flavor["id"]) == []
    assert listed(api, tags_ids=[red["id"]]) == [a, b, c]
    # Every listed tag must be carried (AND), in any order, duplicates harmless.
    assert listed(api, tags_ids=[red["id"], blue["id"]]) == [a, c]
    assert listed(api, tags_ids=[blue["id"], red["id"], green["id"], blue["id"]]) == [c]
    assert listed(api, **{"tags_ids[]": [green["id"]]}) == [c]
    assert listed(api, tags_ids=[red["id"]], benchmark_id=two.benchmark["id"]) == [b, c]
    # Unknown ids are no error: nothing carries them.
    assert listed(api, tags_ids=[str(uuid4())]) == []
    assert listed(api, benchmark_id=str(uuid4())) == []
    assert listed(api, site_id=one.flavor["id"]) == []


BAD_LIST_ARGUMENTS = [
    ({"benchmark_id": "x"}, "benchmark_id", ["Not a valid UUID."]),
    ({"tags_ids": [str(uuid4()), "x"]}, "tags_ids", {"1": ["Not a valid UUID."]}),
    ({"execution_before": "2024-01-01T00:00:00"}, "execution_before", ["Not a valid date."]),
    ({"upload_after": "01/02/2024"}, "upload_after", ["Not a valid date."]),
    ({"uploader_email": "a@b"}, "uploader_email", ["Unknown field."]),
    ({"docker_image": "x"}, "docker_image", ["Unknown field."]),
    ({"terms": "x"}, "terms", ["Unknown field."]),
    ({"per_page": "0"}, "per_page", ["Must be greater than or equal to 1 and less than or equal to 100."]),
    ({"per_page": "101"}, "per_page", ["Must be greater than or equal to 1 and less than or equal to 100."]),
    ({"page": "0"}, "page", ["Must be greater than or equal to 1."]),
    ({"page": "one"}, "page", ["Not a valid integer."]),
]


def test_bad_list_arguments_are_refused(api, callers):
    for path, token in (("/results", None), ("/users/self/results", callers.user)):
        for arguments, field, message in BAD_LIST_ARGUMENTS:
            answer = unprocessable(api.get(path, token, query_string=query_string(**arguments)))
            assert answer["errors"] == {"query": {field: message}}, (path, arguments)


def test_search_takes_no_list_filters(api):
    for arguments, field in (
        ({"filters": "a > 1"}, "filters"),
        ({"benchmark_id": str(uuid4())}, "benchmark_id"),
        ({"execution_after": "2020-01-01"}, "execution_after"),
        ({"tags_ids": str(uuid4())}, "tags_ids"),
        ({"status": "approved"}, "status"),
    ):
        answer = unprocessable(api.get("/results:search", query_string=query_string(**arguments)))
        assert answer["errors"] == {"query": {field: ["Unknown field."]}}


def test_execution_date_filters_are_strict_and_compare_utc(api, callers):
    where = catalog.setup(api, callers.user, callers.admin)

    def at(executed):
        return catalog.upload(api, callers.user, where, executed=executed)["id"]

    midnight = at("2024-01-02T00:00:00+00:00")
    morning = at("2024-01-02T10:00:00+00:00")
    late = at("2024-01-02T01:00:00+02:00")  # 2024-01-01T23:00 in UTC
    next_day = at("2024-01-03T00:00:00.000001+00:00")
    assert listed(api) == [late, midnight, morning, next_day]
    assert listed(api, execution_before="2024-01-02") == [late]
    assert listed(api, execution_before="2024-01-03") == [late, midnight, morning]
    assert listed(api, execution_after="2024-01-02") == [morning, next_day]
    assert listed(api, execution_after="2024-01-01") == [late, midnight, morning, next_day]
    assert listed(api, execution_after="2024-01-03") == [next_day]
    assert listed(api, execution_after="2024-01-01", execution_before="2024-01-02") == [late]
    assert listed(api, execution_after="2024-01-02", execution_before="2024-01-02") == []


def test_upload_date_filters_are_strict(api, callers):
    where = catalog.setup(api, callers.user, callers.admin)
    result = catalog.upload(api, callers.user, where)
    day = datetime.fromisoformat(result["upload_datetime"]).date()

    def around(**arguments):
        found = listed(api, **{k: v.isoformat() for k, v in arguments.items()})
        assert found == listed(
            api, "/users/self/results", callers.user, **{k: v.isoformat() for k, v in arguments.items()}
        )
        return found

    assert around(upload_before=day) == []
    assert around(upload_before=day + timedelta(days=1)) == [result["id"]]
    assert around(upload_after=day) == [result["id"]]
    assert around(upload_after=day - timedelta(days=1)) == [result["id"]]
    assert around(upload_after=day + timedelta(days=1)) == []
    search = api.get("/results:search", query_string=f"upload_before={day.isoformat()}").json
    assert search["items"] == []
    search = api.get("/results:search", query_string=f"upload_after={(day - timedelta(days=1)).isoformat()}").json
    assert ids(search) == [result["id"]]


# --- search ---------------------------------------------------------------------------------
@pytest.fixture
def searchable(api, callers):
    """Three results with distinct names everywhere; `ids` by letter."""
    first = catalog.setup(
        api,
        callers.user,
        callers.admin,
        image="org/alpha-bench",
        tag="v1.0",
        site_name="Karlsruhe",
        address="Hermann-von-Helmholtz-Platz 1",
        flavor_name="small_vm",
    )
    second = catalog.setup(
        api,
        callers.user,
        callers.admin,
        image="lab/beta",
        tag="2023-05",
        site_name="CESNET 100%",
        address="Zikova 4, Praha",
        flavor_name="gpu.large",
    )
    third = catalog.setup(
        api,
        callers.user,
        callers.admin,
        image="org/gamma",
        tag="latest",
        site_name="IFCA",
        address="Santander",
        flavor_name="smallXvm",
    )
    cpu = catalog.tag(api, callers.user, "cpu")
    gpu_tag = catalog.tag(api, callers.user, "gpu-heavy")
    a = catalog.upload(api, callers.user, first, tags=[cpu["id"]])["id"]
    b = catalog.upload(api, callers.user, second, tags=[gpu_tag["id"], cpu["id"]])["id"]
    c = catalog.upload(api, callers.user, third)["id"]
    return {"a": a, "b": b, "c": c}


SEARCHES = [
    ([], "abc"),
    (["alpha"], "a"),
    (["bench:v1"], "a"),  # the `image:tag` name, across the colon
    (["org/"], "ac"),
    ([":latest"], "c"),
    (["2023"], "b"),
    (["Karls"], "a"),  # site name
    (["karlsruhe"], ""),  # case-sensitive
    (["Praha"], "b"),  # site address
    (["Platz 1"], "a"),  # spaces are significant
    ([" 1"], "ab"),
    (["Platz  1"], ""),
    (["large"], "b"),  # flavor name
    (["cpu"], "ab"),  # tag name, exactly
    (["gpu-heavy"], "b"),
    (["gpu"], "b"),  # not the tag "gpu-heavy": the flavor "gpu.large"
    (["heavy"], ""),  # a part of a tag name does not match
    (["cp"], ""),
    (["org/", "small"], "ac"),  # every term must match (AND) ...
    (["org/", "cpu"], "a"),
    (["alpha", "gamma"], ""),  # ... one field each
    (["a"], "abc"),
    # Q-11 fixed: % and _ are literal characters, not wildcards.
    (["%"], "b"),
    (["100%"], "b"),
    (["_"], "a"),
    (["small_vm"], "a"),
    (["small_"], "a"),
    (["l_b"], ""),
    (["%a"], ""),
    (["\\"], ""),
    (["'"], ""),
]


def test_search_terms(api, searchable):
    wrong = []
    for terms, expected in SEARCHES:
        answer = api.get("/results:search", query_string=query_string(terms=terms))
        assert answer.status_code == 200, answer.text
        if ids(answer.json) != [searchable[letter] for letter in expected]:
            wrong.append((terms, expected, ids(answer.json)))
    assert not wrong, wrong
    # Bracketed keys, pagination and sorting apply to searches too.
    page = api.get("/results:search", query_string=query_string(**{"terms[]": ["org/"], "per_page": 1, "page": 2})).json
    assert ids(page) == [searchable["c"]]
    assert (page["total"], page["pages"], page["has_prev"], page["has_next"]) == (2, 2, True, False)
    answer = api.get("/results:search", query_string=query_string(terms="a", sort_by="-site_name"))
    assert ids(answer.json) == [searchable["a"], searchable["c"], searchable["b"]]
    answer = api.get("/results:search", query_string=query_string(sort_by="+flavor_name"))
    assert ids(answer.json) == [searchable["b"], searchable["c"], searchable["a"]]


# --- pagination -----------------------------------------------------------------------------
def test_pagination(api, callers):
    where = catalog.setup(api, callers.user, callers.admin)
    every = [catalog.upload(api, callers.user, where, {"n": n})["id"] for n in range(5)]
    pages = [api.get("/results", query_string=f"per_page=2&page={page}").json for page in (1, 2, 3)]
    assert [ids(page) for page in pages] == [every[0:2], every[2:4], every[4:5]]
    first, middle, last = pages
    assert {k: v for k, v in first.items() if k != "items"} == {
        "total": 5,
        "per_page": 2,
        "page": 1,
        "pages": 3,
        "has_prev": False,
        "has_next": True,
        "next_num": 2,
    }
    assert {k: v for k, v in middle.items() if k != "items"} == {
        "total": 5,
        "per_page": 2,
        "page": 2,
        "pages": 3,
        "has_prev": True,
        "has_next": True,
        "next_num": 3,
        "prev_num": 1,
    }
    assert {k: v for k, v in last.items() if k != "items"} == {
        "total": 5,
        "per_page": 2,
        "page": 3,
        "pages": 3,
        "has_prev": True,
        "has_next": False,
        "prev_num": 2,
    }
    beyond = api.get("/results", query_string="per_page=2&page=4")
    assert beyond.status_code == 404
    assert beyond.json == {"code": 404, "status": "Not Found"}
    assert api.get("/results").json["per_page"] == 100
    assert ids(api.get("/results", query_string="per_page=100&page=1").json) == every


def test_an_empty_listing_is_one_empty_page(api):
    page = api.get("/results").json
    assert page == {
        "items": [],
        "total": 0,
        "per_page": 100,
        "page": 1,
        "pages": 0,
        "has_prev": False,
        "has_next": False,
    }
    assert api.get("/results", query_string="page=2").status_code == 404
    assert api.get("/results:search", query_string="page=2").status_code == 404


def test_a_page_past_any_database_integer_is_past_the_end(api, callers):
    """Its offset (page x per_page) is more than a database integer holds: still a 404."""
    far = f"page={2**63 // 100 + 1}&per_page=100"
    for path in ("/results", "/results:search", "/benchmarks", "/benchmarks:search", "/tags", "/sites"):
        assert api.get(path, query_string=far).status_code == 404, path
    for path in ("/users", "/users:search"):
        assert api.get(path, callers.admin, query_string=far).status_code == 404, path


# --- sorting --------------------------------------------------------------------------------
@pytest.fixture
def sortable(api, callers):
    """Three results whose every sortable field orders them differently."""
    x = catalog.setup(
        api,
        callers.user,
        callers.admin,
        image="img-b",
        tag="1",
        site_name="site-c",
        address="addr-a",
        flavor_name="flavor-b",
    )
    y = catalog.setup(
        api,
        callers.user,
        callers.admin,
        image="img-a",
        tag="2",
        site_name="site-a",
        address="addr-c",
        flavor_name="flavor-c",
    )
    z = catalog.setup(
        api,
        callers.user,
        callers.admin,
        image="img-c",
        tag="0",
        site_name="site-b",
        address="addr-b",
        flavor_name="flavor-a",
    )
    first = catalog.upload(api, callers.user, x, {"type": "b", "s1": {"t2": 3}}, executed="2024-01-03T00:00:00Z")
    second = catalog.upload(api, callers.user, y, {"type": "c", "s1": {"t2": 1}}, executed="2024-01-01T00:00:00Z")
    third = catalog.upload(
        api, callers.user, z, {"type": "a", "s1": {"t2": 2, "t3": 0}}, executed="2024-01-02T00:00:00Z"
    )
    return first, second, third


SORTINGS = [
    ("", [0, 1, 2]),  # an empty sort_by: no order asked, upload order
    ("+execution_datetime", [1, 2, 0]),
    ("-execution_datetime", [0, 2, 1]),
    ("+upload_datetime", [0, 1, 2]),
    ("-upload_datetime", [2, 1, 0]),
    ("+benchmark_name", [1, 0, 2]),
    ("-benchmark_name", [2, 0, 1]),
    ("+site_name", [1, 2, 0]),
    ("+site_name,+flavor_name", [1, 2, 0]),
    ("-site_address", [1, 2, 0]),
    ("+site_address", [0, 2, 1]),
    ("+flavor_name", [2, 0, 1]),
    ("+json", [1, 0, 2]),  # objects: fewer pairs first, then pair by pair
    ("-json", [2, 0, 1]),
    ("+json.type", [2, 0, 1]),
    ("-json.type", [1, 0, 2]),
    ("+json.s1.t2", [1, 2, 0]),
    ("-json.s1.t3,-json.type", [1, 0, 2]),  # missing first when descending
    ("+json.s1.t3,+json.type", [2, 0, 1]),  # missing last when ascending
    ("+json.nothing", [0, 1, 2]),  # ties keep upload order
    ("-json.nothing", [0, 1, 2]),
    (",+json.type,", [2, 0, 1]),  # empty parts ignored
]


def test_sorting(api, callers, sortable):
    # Without sort_by: +execution_datetime.
    assert listed(api) == [sortable[i]["id"] for i in (1, 2, 0)]
    wrong = []
    for sort_by, expected in SORTINGS:
        wanted = [sortable[i]["id"] for i in expected]
        if listed(api, sort_by=sort_by) != wanted:
            wrong.append(("/results", sort_by))
        if listed(api, "/users/self/results", callers.user, sort_by=sort_by) != wanted:
            wrong.append(("/users/self/results", sort_by))
    assert not wrong, wrong
    for field, key in (
        ("id", lambda r: r["id"]),
        ("benchmark_id", lambda r: r["benchmark"]["id"]),
        ("site_id", lambda r: r["site"]["id"]),
        ("flavor_id", lambda r: r["flavor"]["id"]),
    ):
        assert listed(api, sort_by=f"+{field}") == [r["id"] for r in sorted(sortable, key=key)]
        assert listed(api, sort_by=f"-{field}") == [r["id"] for r in sorted(sortable, key=key, reverse=True)]


def test_search_has_upload_order_unless_sorted(api, callers, sortable):
    assert ids(api.get("/results:search").json) == [r["id"] for r in sortable]
    assert ids(api.get("/results:search", query_string="sort_by=%2Bjson.type").json) == [
        sortable[i]["id"] for i in (2, 0, 1)
    ]


BAD_SORTS = [
    ("name", "Unexpected field 'ame'"),
    ("+name", "Unexpected field 'name'"),
    (" execution_datetime", "Unknown order operator ' '"),
    ("Bad sort command", "Unexpected field 'ad sort command'"),  # the field is judged first
    ("*json.a", "Unknown order operator '*'"),
    ("xname,+json", "Unexpected field 'name'"),
    ("+uploader_sub", "Unexpected field 'uploader_sub'"),
    ("+uploader_iss", "Unexpected field 'uploader_iss'"),
    ("+deleted", "Unexpected field 'deleted'"),
    ("+hidden", "Unexpected field 'hidden'"),
    ("+seq", "Unexpected field 'seq'"),
    ("+json_text", "Unexpected field 'json_text'"),
    ("+benchmark", "Unexpected field 'benchmark'"),
    ("+tags", "Unexpected field 'tags'"),
    ("+tags_ids", "Unexpected field 'tags_ids'"),
    ("+status", "Unexpected field 'status'"),
    ("+execution_datetime,-nope", "Unexpected field 'nope'"),
    ("+jsonx", "Unexpected field 'jsonx'"),
]


def test_unknown_sort_fields_are_refused(api, callers):
    for path, token in (("/results", None), ("/results:search", None), ("/users/self/results", callers.user)):
        for sort_by, message in BAD_SORTS:
            answer = unprocessable(api.get(path, token, query_string=query_string(sort_by=sort_by)))
            assert answer["code"] == 422 and answer["status"] == "Unprocessable Entity"
            assert answer["message"]["KeyError"] == message, (path, sort_by)
            assert "hint" in answer["message"]


# --- malformed JSON filters -----------------------------------------------------------------
def test_malformed_filters_are_refused(api, callers):
    for path, token in (("/results", None), ("/users/self/results", callers.user)):
        for sent in ("time>5", "time  > 5", "time > 5 5", "time", " time > 5", "a > b c", ""):
            answer = unprocessable(api.get(path, token, query_string=query_string(filters=sent)))
            assert answer["errors"]["filter"] == sent
            assert answer["errors"]["hint"] == "Probably missing spaces (%20)"
            assert answer["errors"]["example"] == "filters=machine.cpu.count%20%3E%205"
            assert isinstance(answer["errors"]["reason"], list)
        for operator in ("<>", "=", "!=", "=>", "eq", "≤"):
            answer = unprocessable(api.get(path, token, query_string=query_string(filters=f"time {operator} a")))
            assert answer["message"]["filter"] == f"time {operator} a"
            assert answer["message"]["hint"] == "Use only one of ['==', '>', '<', '>=', '<=']"
            assert "errors" not in answer
        answer = unprocessable(api.get(path, token, query_string=query_string(filters=["a > 1", "b <> 2"])))
        assert answer["message"]["filter"] == "b <> 2"
        answer = unprocessable(api.get(path, token, query_string=query_string(filters='a."b" == 1')))
        assert answer["errors"]["filter"] == 'a."b" == 1'


# === property-style comparison with a Python reference ======================================
#
# The reference: tests/support/json_reference.py.

DOCUMENTS = [
    {"a": 5},
    {"a": 11},
    {"a": 11.0},
    {"a": -3.25},
    {"a": 0},
    {"a": 1},
    {"a": 2.5},
    {"a": 10},
    {"a": -0.5},
    {"a": 100.0},
    {"a": "5"},
    {"a": "11"},
    {"a": "10"},
    {"a": "1.0"},
    {"a": "abc"},
    {"a": "ABC"},
    {"a": "x"},
    {"a": ""},
    {"a": "true"},
    {"a": "Yes"},
    {"a": " off "},
    {"a": "t"},
    {"a": "12abc"},
    {"a": "ñandú"},
    {"a": True},
    {"a": False},
    {"a": None},
    {"a": [1, 2]},
    {"a": [10]},
    {"a": []},
    {"a": [[1], "z"]},
    {"a": ["b", 2, None]},
    {"a": {"b": [1, 2]}},
    {"a": {"b": [3]}},
    {"a": {"b": {"0": 1}}},
    {"a": {"b": 1, "c": 2}},
    {"a": {}},
    {"a": {"b": "11"}},
    {"a": {"b": True, "0": "zero"}},
    {"a": {"bb": 1, "c": 0}},
    {"a": {"b": None}},
    {},
    {"x": 1, "a2": 3},
    {"a": {"b": {"c": {"d": 4}}}},
    {"a": 1, "b": {"²": 7}},
    {"a": ["x", "y", "z"], "n": 2},
    {"a": {"": {"b": 5}}, "": 1},
]


def _random_value(rng, depth: int = 0):
    """Small JSON values where collisions are likely: equal numbers of other types, equal
    lengths, shared key prefixes, multi-byte keys (jsonb orders keys by byte length)."""
    kinds = ["null", "bool", "int", "float", "string"] + (["array", "object"] * 2 if depth < 2 else [])
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, 1, 2, -1, 10])
    if kind == "float":
        return rng.choice([0.5, 2.0, -1.0, 1.0])
    if kind == "string":
        return rng.choice(["", "a", "b", "ab", "B", "é", "1", "true", "no"])
    if kind == "array":
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = rng.sample(["a", "b", "ab", "é", "0", "", "zz"], rng.randrange(4))
    return {key: _random_value(rng, depth + 1) for key in keys}


# Most documents also carry a seeded random value at `r`.
_rng = random.Random(20240521)
DOCUMENTS = [{**document, "r": _random_value(_rng)} if _rng.random() < 0.8 else document for document in DOCUMENTS]
RANDOM_FILTERS = [
    "r > 1",
    "r >= 0",
    "r == 2.0",
    "r < 0.5",
    "r == a",
    "r > a",
    "r <= B",
    "r == true",
    "r == false",
    "r > false",
    "r.0 == 1",
    "r.0 > a",
    "r.-1 <= 0",
    "r.a >= 0",
    "r.a == ab",
    "r.ab == true",
    "r.é < b",
    "r. == 1",
    "r.0.a >= 0",
    "r.a.0 == b",
    "r.1.0 < 1",
    "r.zz > 0",
    "r == 1",
    "r == 0",
]
RANDOM_SORTS = ["+json.r", "-json.r", "+json.r.a", "-json.r.0", "+json.r.é", "+json.r.,-json.a"]

FILTERS = [
    "a > 5",
    "a >= 5",
    "a < 5",
    "a <= 5",
    "a == 5",
    "a == 11",
    "a == 11.0",
    "a == 1e1",
    "a == 1_0",
    "a > -1",
    "a < 0",
    "a == 0",
    "a == -0",
    "a <= -3.25",
    "a == 2.5",
    "a == .5",
    "a == -.5",
    "a > 99.9",
    "a < inf",
    "a > -Infinity",
    "a == inf",
    "a < nan",
    "a <= nan",
    "a == nan",
    "a > nan",
    "a >= NaN",
    "a == 100",
    "a == true",
    "a == True",
    "a == TRUE",
    "a == false",
    "a == FALSE",
    "a > false",
    "a >= false",
    "a < true",
    "a <= true",
    "a == abc",
    "a == ABC",
    "a > x",
    "a < x",
    "a <= x",
    "a >= abc",
    "a == 5x",
    'a == "abc"',
    "a == true1",
    "a == tRuE",
    "a < 1a",
    "a > Z",
    "a == ñandú",
    "a > ñ",
    "a == yes",
    "a == t",
    "a == 1.0x",
    "a < [",
    "a > {",
    "a >= [1",
    "a == 10",
    "a.b == 1",
    "a.b.0 == 1",
    "a.b.0 >= 1",
    "a.b.1 == 2",
    "a.0 == 1",
    "a.0 == x",
    "a.-1 == z",
    "a.-1 == 2",
    "a.1 == 2",
    "a.2 == z",
    "a.3 == z",
    "a.0.0 == 1",
    "a.b > 0",
    "a.b == true",
    "a.b == 11",
    "a.b < 2",
    "a.0 == zero",
    "a.b.c.d >= 4",
    "a.b.c > 0",
    "x == 1",
    "missing == 1",
    "a2 > 2",
    "n < 3",
    "b.² == 7",
    "a.² == 1",
    "a.b.00 == 1",
    "a.+1 == 2",
    "a..b == 5",
    " >= 1",
    "a. == 5",
]
FILTER_COMBINATIONS = [["a > 0", "a < 11"], ["a >= 1", "a <= true"], ["a.b >= 1", "a.c == 2"], ["n == 2", "a.0 == x"]]
SORTS = [
    "+json.a",
    "-json.a",
    "+json.a.b",
    "-json.a.b",
    "+json",
    "-json",
    "+json.a.0",
    "-json.a.b.0",
    "+json.x",
    "-json.x,+json.a",
    "+json.a.c,-json.a",
    "+json.b.²",
    "+json.",
    "-json.a.",
]


@pytest.fixture
def json_results(api, callers) -> list[dict]:
    where = catalog.setup(api, callers.user, callers.admin)
    return [catalog.upload(api, callers.user, where, document) for document in DOCUMENTS]


def test_the_reference_itself():
    # A few hand-checked cases, so the reference is not trusted blindly.
    assert matches({"a": 11}, "a == 11.0") and matches({"a": 11.0}, "a == 11")
    assert not matches({"a": "11"}, "a == 11") and not matches({"a": None}, "a == null")
    assert matches({"a": 1}, "a == true") and matches({"a": " Off "}, "a == false")
    assert not matches({"a": 1.0}, "a == true") and not matches({"a": 2}, "a > false")
    assert matches({"a": {"b": [7, 8]}}, "a.b.-1 == 8") and not matches({"a": {"b": [7]}}, "a.b.1 == 7")
    assert matches({"a": 3}, "a < nan") and not matches({"a": 3}, "a > nan")
    assert matches({"a": "b"}, "a > B") and not matches({"a": "abc"}, 'a == "abc"')
    rows = [
        {"id": i, "json": doc}
        for i, doc in enumerate(
            [{"a": {}}, {"a": [0, 0]}, {"a": [5]}, {"a": True}, {"a": 2}, {"a": "z"}, {"a": None}, {}, {"a": 2.0}]
        )
    ]
    assert sorted_ids(rows, "+json.a") == [6, 5, 4, 8, 3, 2, 1, 0, 7]
    assert sorted_ids(rows, "-json.a") == [7, 0, 1, 2, 3, 4, 8, 5, 6]
    # Pairs in storage order (shorter keys first): {"c", "aa"} starts with "c", not "aa".
    assert jsonb_key({"b": 0, "c": 0}) < jsonb_key({"c": 0, "aa": 0}) < jsonb_key({"bb": 0, "c": 9})


def test_json_filters_and_sorts_agree_with_the_reference(api, callers, json_results):
    rows = [{"id": r["id"], "json": r["json"]} for r in json_results]
    position = {row["id"]: index for index, row in enumerate(rows)}

    def shown(found):
        return [DOCUMENTS[position[i]] for i in found]

    mismatches = []
    for filters in [[sent] for sent in FILTERS + RANDOM_FILTERS] + FILTER_COMBINATIONS:
        expected = [row["id"] for row in rows if all(matches(row["json"], sent) for sent in filters)]
        answer = api.get("/results", query_string=query_string(filters=filters, sort_by=""))
        if answer.status_code != 200:
            mismatches.append((filters, answer.status_code, answer.text))
        elif ids(answer.json) != expected:
            mismatches.append((filters, "got", shown(ids(answer.json)), "expected", shown(expected)))
    for sort_by in SORTS + RANDOM_SORTS:
        expected = sorted_ids(rows, sort_by)
        got = listed(api, sort_by=sort_by)
        if got != expected:
            mismatches.append((sort_by, "got", shown(got), "expected", shown(expected)))
    # Filters and sorting together; a sorted search; the caller's own results.
    filtered = [row for row in rows if matches(row["json"], "a > 0")]
    if listed(api, filters="a > 0", sort_by="-json.a") != sorted_ids(filtered, "-json.a"):
        mismatches.append(("filters=a > 0&sort_by=-json.a",))
    search = api.get("/results:search", query_string=query_string(sort_by="+json.a")).json
    if ids(search) != sorted_ids(rows, "+json.a"):
        mismatches.append(("search sort_by=+json.a",))
    sent = ["a >= 1", "a <= true"]
    own = listed(api, "/users/self/results", callers.user, filters=sent, sort_by="-json.a")
    if own != sorted_ids([row for row in rows if all(matches(row["json"], f) for f in sent)], "-json.a"):
        mismatches.append(("/users/self/results", sent))
    assert not mismatches, "\n".join(map(str, mismatches))
