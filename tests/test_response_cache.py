"""The query service's response cache: public answers are reused while the read model's
position stays the same, never once an event has moved it, and never for callers' own views."""

from __future__ import annotations

import logging
import tracemalloc
from pathlib import Path

import falcon.testing
import pytest

from eosc_perf.embedded import build
from query_service.response_cache import Entry, ResponseCache, cost
from tests.support import catalog
from tests.support.api import Api, service_settings, statements


def test_a_public_list_is_answered_again_without_recomputing_it(embedded_api):
    api = embedded_api
    user, admin = api.register("alice"), api.register("root", admin=True)
    catalog.benchmark(api, user, admin)
    first = api.get("/benchmarks", query_string="per_page=5")
    with statements(api) as seen:
        again = api.get("/benchmarks", query_string="per_page=5")
    assert again.status_code == 200 and again.text == first.text
    assert seen == []  # not even the read model's position: the projector tells it (read_model/position_feed.py)


def test_an_event_retires_cached_answers(embedded_api):
    api = embedded_api
    user = api.register("alice")
    before = api.get("/tags").json
    api.get("/tags")
    made = catalog.tag(api, user)
    after = api.get("/tags").json
    assert after["total"] == before["total"] + 1
    assert made["id"] in [item["id"] for item in after["items"]]
    head = api.request("HEAD", "/tags")  # served from the entry GET just stored: no body
    assert head.status_code == 200 and head.text == ""


def test_other_arguments_are_other_answers(embedded_api):
    api = embedded_api
    user = api.register("alice")
    for n in range(3):
        catalog.tag(api, user, name=f"t{n}")
    one = api.get("/tags", query_string="per_page=1").json
    two = api.get("/tags", query_string="per_page=2").json
    assert (len(one["items"]), len(two["items"])) == (1, 2)


def test_a_callers_own_view_is_never_cached(embedded_api):
    api = embedded_api
    user = api.register("alice")
    api.get("/users/self", user)
    with statements(api) as seen:
        assert api.get("/users/self", user).status_code == 200
    assert any("FROM users" in statement for statement in seen)  # computed again
    # and a refusal stays a refusal: nothing public was stored for it
    assert api.get("/users/self").status_code == 401


def test_the_cache_can_be_turned_off(tmp_path: Path, identity_provider):
    service = build(service_settings(tmp_path / "data", identity_provider, query_cache_mb=0))
    api = Api(service, falcon.testing.TestClient(service.app), identity_provider)
    try:
        api.get("/benchmarks")
        with statements(api) as seen:
            api.get("/benchmarks")
        assert any("FROM benchmarks" in statement for statement in seen)  # computed again
    finally:
        service.close()


ENTRIES = {
    "a": Entry(1, "application/json", "aaa"),
    "b": Entry(1, "application/json", "bbb"),
    "c": Entry(1, "application/json", "cccc"),
}
A, B, C = (cost(key, entry) for key, entry in ENTRIES.items())


@pytest.mark.parametrize(
    "budget, kept", [(A + B + C, ["a", "b", "c"]), (A + B + C - 1, ["b", "c"]), (C, ["c"]), (B, ["b"])]
)
def test_the_least_recently_used_answers_leave_first(budget, kept):
    cache = ResponseCache(lambda: 1, budget)
    for key, entry in ENTRIES.items():
        if cost(key, entry) <= budget:
            cache._put(key, entry)
    assert list(cache.entries) == kept
    assert cache.size == sum(cost(key, cache.entries[key]) for key in kept)


def test_many_distinct_urls_with_tiny_answers_stay_within_the_budget(tmp_path: Path, identity_provider, caplog):
    """Keys count: a client choosing long, distinct URLs (an empty page each) cannot grow a
    worker's cache beyond QUERY_CACHE_MB. Measured as the memory the process keeps."""
    # The request log's records would be kept by pytest's log capture, and counted here.
    caplog.set_level(logging.WARNING, logger="http_api.access")
    service = build(service_settings(tmp_path / "data", identity_provider, query_cache_mb=1))
    api = Api(service, falcon.testing.TestClient(service.app), identity_provider)
    padding = "x" * 3000
    try:
        api.get("/tags", query_string="name=warm-up")
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(1000):  # ~3 MB of URLs: three times the budget
            assert api.get("/tags", query_string=f"name={padding}{n}").json["total"] == 0
        kept = tracemalloc.get_traced_memory()[0] - before
        again = api.get("/tags", query_string=f"name={padding}999")  # the most recent is still cached
    finally:
        tracemalloc.stop()
        service.close()
    assert kept < 1.5 * 2**20, kept
    assert again.status_code == 200 and again.headers["ETag"]


def test_a_public_answer_is_revalidated_by_its_entity_tag(api):
    user = api.register("alice")
    first = api.get("/tags")
    tag = first.headers.get("etag")
    assert first.status_code == 200 and tag
    unchanged = api.get("/tags", headers={"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.text == ""
    assert unchanged.headers.get("etag") == tag
    assert api.get("/tags", headers={"If-None-Match": f"W/{tag}"}).status_code == 304  # weak comparison
    assert api.get("/tags", headers={"If-None-Match": '"no-such-tag"'}).status_code == 200
    catalog.tag(api, user)
    changed = api.get("/tags", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.json["total"] == first.json["total"] + 1
    assert changed.headers.get("etag") not in (None, tag)


def test_a_callers_own_view_has_no_entity_tag(api):
    user = api.register("alice")
    answer = api.get("/users/self", user)
    assert answer.status_code == 200 and "etag" not in answer.headers


def test_an_invalid_request_is_refused_whatever_entity_tag_it_sends(api):
    tag = api.get("/tags").headers["etag"]
    for sent in (tag, "*"):
        assert api.get("/tags", query_string="per_page=0", headers={"If-None-Match": sent}).status_code == 422
