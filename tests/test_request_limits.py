"""What one read may ask for (issue 10, item 6): filters, tags, sort keys and search terms are
bounded in number and length (QUERY_MAX_*), and so are the array steps of a filter path. Beyond
a bound the answer is a 422 in the API's validation format, before any SQL runs; at the bound
the request is answered as always."""

from __future__ import annotations

from dataclasses import replace

import falcon.testing
import pytest

from configuration.settings import QueryLimits, Settings
from eosc_perf.embedded import build
from query_service.json_filters import ARRAY_STEPS
from tests.support import catalog
from tests.support.api import service_settings
from tests.support.catalog import listed, query_string

LIMITS = QueryLimits()  # the defaults, which both test deployments run with


def refused(answer, field: str, messages) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.json == {"code": 422, "status": "Unprocessable Entity", "errors": {"query": {field: messages}}}


@pytest.mark.parametrize("count", [LIMITS.filters + 1, 60, 250])
def test_more_filters_than_allowed_are_refused(api, callers, count):
    """60 number filters held PostgreSQL for half a minute, 250 for minutes and 2 GB."""
    filters = [f"a < {n}" for n in range(count)]
    expected = [f"At most {LIMITS.filters} per request, not {count}."]
    refused(api.get("/results", query_string=query_string(filters=filters)), "filters", expected)
    refused(
        api.get("/users/self/results", callers.user, query_string=query_string(filters=filters)), "filters", expected
    )


def test_as_many_filters_as_allowed_are_all_applied(api, callers):
    where = catalog.setup(api, callers.user, callers.admin)
    low = catalog.upload(api, callers.user, where, {"a": 1, "b": {"c": "x"}})
    catalog.upload(api, callers.user, where, {"a": 50, "b": {"c": "x"}})
    filters = [f"a < {n}" for n in range(2, LIMITS.filters)] + ["b.c == x", "a >= 1"]
    assert len(filters) == LIMITS.filters
    assert listed(api, filters=filters) == [low["id"]]


def test_more_tags_than_allowed_are_refused(api, callers):
    tags = [catalog.tag(api, callers.user)["id"] for _ in range(LIMITS.filters + 1)]
    refused(
        api.get("/results", query_string=query_string(tags_ids=tags)),
        "tags_ids",
        [f"At most {LIMITS.filters} per request, not {len(tags)}."],
    )
    assert listed(api, tags_ids=tags[: LIMITS.filters]) == []


@pytest.mark.parametrize("count", [LIMITS.sort_keys + 1, 200])
def test_more_sort_keys_than_allowed_are_refused(api, callers, count):
    """200 sort keys took three seconds of a worker to compile and run."""
    sort_by = ",".join(f"+json.k{n}" for n in range(count))
    refused(
        api.get("/results", query_string=query_string(sort_by=sort_by)),
        "sort_by",
        [f"At most {LIMITS.sort_keys} sort keys per request, not {count}."],
    )
    refused(
        api.get("/sites", query_string=query_string(sort_by=",".join(["+name"] * count))),
        "sort_by",
        [f"At most {LIMITS.sort_keys} sort keys per request, not {count}."],
    )


def test_as_many_sort_keys_as_allowed_sort(api, callers):
    where = catalog.setup(api, callers.user, callers.admin)
    first = catalog.upload(api, callers.user, where, {"k": 1, "j": 2})
    second = catalog.upload(api, callers.user, where, {"k": 1, "j": 1})
    keys = ["+json.k", "+json.j", *(f"-json.missing{n}" for n in range(LIMITS.sort_keys - 3)), "+upload_datetime"]
    assert len(keys) == LIMITS.sort_keys
    assert listed(api, sort_by=",".join(keys) + ",") == [second["id"], first["id"]]  # empty parts do not count


@pytest.mark.parametrize("path", ["/results:search", "/benchmarks:search", "/sites:search", "/tags:search"])
def test_more_search_terms_than_allowed_are_refused(api, path):
    terms = [f"t{n}" for n in range(LIMITS.terms + 1)]
    refused(
        api.get(path, query_string=query_string(terms=terms)),
        "terms",
        [f"At most {LIMITS.terms} per request, not {len(terms)}."],
    )
    assert api.get(path, query_string=query_string(terms=terms[: LIMITS.terms])).status_code == 200


def test_a_term_a_filter_or_a_sort_key_longer_than_allowed_is_refused(api, callers):
    longest = "x" * LIMITS.term_length
    too_long = longest + "x"
    tag = catalog.tag(api, callers.user, name=longest)
    assert [
        item["id"] for item in api.get("/tags:search", query_string=query_string(terms=["x", longest])).json["items"]
    ] == [tag["id"]]
    refused(
        api.get("/tags:search", query_string=query_string(terms=["x", too_long])),
        "terms",
        {"1": [f"Longer than {LIMITS.term_length} characters."]},
    )

    at_limit = "a == " + "v" * (LIMITS.term_length - len("a == "))
    assert listed(api, filters=[at_limit]) == []
    refused(
        api.get("/results", query_string=query_string(filters=[at_limit + "v"])),
        "filters",
        {"0": [f"Longer than {LIMITS.term_length} characters."]},
    )

    refused(
        api.get("/results", query_string=query_string(sort_by="+json." + "k" * LIMITS.term_length)),
        "sort_by",
        [f"A sort key is longer than {LIMITS.term_length} characters."],
    )


def test_a_long_sort_path_within_the_limit_sorts(api, callers):
    """A JSON path of 125 keys: PostgreSQL's sort expression nests once per key (thousands of
    keys overflowed the compiler's recursion, a 500). Results lacking the path sort last."""
    where = catalog.setup(api, callers.user, callers.admin)
    first = catalog.upload(api, callers.user, where, {"k": 2})
    second = catalog.upload(api, callers.user, where, {"k": 1})
    deep = "+json." + ".".join(["k"] * 125)
    assert len(deep) <= LIMITS.term_length
    assert listed(api, sort_by=f"{deep},+json.k") == [second["id"], first["id"]]


def test_a_filter_path_with_more_array_steps_than_allowed_is_refused(api, callers):
    """Each key that may index an array doubles the SQLite expression that finds the value: a
    filter of 18 such keys took 70 seconds to compile, the server frozen meanwhile."""
    where = catalog.setup(api, callers.user, callers.admin)
    nested = catalog.upload(api, callers.user, where, {"a": [{"b": [{"c": [{"d": [5]}]}]}]})
    allowed = "a.0.b.0.c.0.d.0 < 6"
    assert listed(api, filters=[allowed]) == [nested["id"]]
    sent = ".".join(["0"] * (ARRAY_STEPS + 1)) + " < 1"
    answer = api.get("/results", query_string=query_string(filters=[sent]))
    assert answer.status_code == 422, answer.text
    assert answer.json["errors"] == {
        "filter": sent,
        "reason": [
            f"Invalid JSON path '{sent.split(' ')[0]}': at most {ARRAY_STEPS} keys may be numbers (array indexes)"
        ],
        "hint": "Use dot-separated keys, e.g. machine.cpu.count",
        "example": "filters=machine.cpu.count%20%3E%205",
    }


def test_limits_are_checked_after_authentication(api):
    filters = [f"a < {n}" for n in range(LIMITS.filters + 1)]
    answer = api.get("/users/self/results", query_string=query_string(filters=filters))
    assert answer.status_code == 401
    assert answer.json["error"] == "Unauthenticated"


def test_the_limits_follow_the_settings(tmp_path, identity_provider):
    settings = replace(
        service_settings(tmp_path / "data", identity_provider),
        query_limits=Settings.from_env({"QUERY_MAX_TERMS": "2", "QUERY_MAX_TERM_LENGTH": "3"}).query_limits,
    )
    service = build(settings)
    client = falcon.testing.TestClient(service.app)
    try:
        assert client.simulate_get("/sites:search", query_string="terms=a&terms=bcd").status_code == 200
        refused(
            client.simulate_get("/sites:search", query_string="terms=a&terms=b&terms=c"),
            "terms",
            ["At most 2 per request, not 3."],
        )
        refused(
            client.simulate_get("/sites:search", query_string="terms=abcd"),
            "terms",
            {"0": ["Longer than 3 characters."]},
        )
    finally:
        service.close()
