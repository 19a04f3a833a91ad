"""What happens to results after upload: deletion, tags, uploader, cascades from the catalog
and users, updates shown everywhere, the owner's own list, and the audit history
(contract §3.5, §3.6, §5.5, §5.7; design Q-5, Q-6, Q-8)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from eosc_perf.history import history_lines
from tests.support import catalog
from tests.support.catalog import ids, listed


@pytest.fixture
def where(api, callers) -> catalog.Setup:
    return catalog.setup(api, callers.user, callers.admin)


@pytest.fixture
def result(api, callers, where) -> dict:
    return catalog.upload(api, callers.user, where, {"time": 1})


def own(api, token, **arguments) -> list[str]:
    return listed(api, "/users/self/results", token, **arguments)


def gone_from_public_reads(api, result_id: str) -> bool:
    return (
        api.get(f"/results/{result_id}").status_code == 404
        and result_id not in listed(api)
        and result_id not in ids(api.get("/results:search").json)
    )


# --- DELETE /results/{id} -------------------------------------------------------------------
def test_deleting_a_result_removes_it_from_every_public_read(api, callers, where, result):
    assert api.delete(f"/results/{result['id']}", callers.user).status_code == 403
    assert api.delete(f"/results/{result['id']}").status_code == 401
    answer = api.delete(f"/results/{result['id']}", callers.admin)
    assert answer.status_code == 204 and not answer.text
    # Q-5 fixed: gone for the public, a GET by id included ...
    assert gone_from_public_reads(api, result["id"])
    answer = api.get(f"/results/{result['id']}")
    assert answer.json == {
        "code": 404,
        "status": "Not Found",
        "errors": {"error": f"Result {result['id']} not found in the database"},
    }
    # ... no new claims ...
    assert api.post(f"/results/{result['id']}:claim", callers.other, json={"message": "x"}).status_code == 404
    # ... deleting again is harmless ...
    assert api.delete(f"/results/{result['id']}", callers.admin).status_code == 204
    # ... its owner still sees it, and what it referenced stays.
    assert own(api, callers.user) == [result["id"]]
    assert api.get("/users/self/results", callers.user).json["items"] == [result]
    assert api.get(f"/benchmarks/{where.benchmark['id']}").json == where.benchmark
    assert api.get(f"/sites/{where.site['id']}").json == where.site
    assert api.get(f"/flavors/{where.flavor['id']}").json == where.flavor
    # The admin still finds its uploader.
    assert api.get(f"/results/{result['id']}/uploader", callers.admin).status_code == 200


def test_deleting_claimed_unknown_and_other_results(api, callers, where, result):
    other = catalog.upload(api, callers.other, where, {"time": 2})
    catalog.claim(api, callers.other, result["id"])
    assert api.get(f"/results/{result['id']}").status_code == 200
    assert api.delete(f"/results/{result['id']}", callers.admin).status_code == 204
    assert gone_from_public_reads(api, result["id"])
    # Only that one.
    assert listed(api) == [other["id"]]
    assert own(api, callers.other) == [other["id"]]
    missing = uuid4()
    assert api.delete(f"/results/{missing}", callers.user).status_code == 403  # authorization first
    answer = api.delete(f"/results/{missing}", callers.admin)
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Result {missing} not found in the database"}


# --- PUT /results/{id}/tags -----------------------------------------------------------------
def put_tags(api, token, result_id, body):
    return api.put(f"/results/{result_id}/tags", token, json=body)


def shown_tags(api, result_id) -> list[str]:
    return sorted(tag["id"] for tag in api.get(f"/results/{result_id}").json["tags"])


def test_owners_and_admins_replace_tags(api, callers, result):
    a, b, c = (catalog.tag(api, callers.other) for _ in range(3))
    answer = put_tags(api, callers.user, result["id"], {"tags_ids": [a["id"], b["id"]]})
    assert answer.status_code == 204 and not answer.text
    assert shown_tags(api, result["id"]) == sorted([a["id"], b["id"]])
    assert put_tags(api, callers.admin, result["id"], {"tags_ids": [c["id"]]}).status_code == 204
    assert shown_tags(api, result["id"]) == [c["id"]]
    # Duplicates collapse.
    assert (
        put_tags(api, callers.user, result["id"], {"tags_ids": [a["id"], a["id"], c["id"], a["id"]]}).status_code == 204
    )
    assert shown_tags(api, result["id"]) == sorted([a["id"], c["id"]])
    assert listed(api, tags_ids=[a["id"], c["id"]]) == [result["id"]]
    assert listed(api, tags_ids=[b["id"]]) == []
    # `{}` changes nothing; `[]` clears.
    assert put_tags(api, callers.user, result["id"], {}).status_code == 204
    assert shown_tags(api, result["id"]) == sorted([a["id"], c["id"]])
    assert put_tags(api, callers.user, result["id"], {"tags_ids": []}).status_code == 204
    assert shown_tags(api, result["id"]) == []
    assert api.get("/results").json["items"][0]["tags"] == []


def test_other_users_may_not_replace_tags(api, callers, result):
    tag = catalog.tag(api, callers.other)
    answer = put_tags(api, callers.other, result["id"], {"tags_ids": [tag["id"]]})
    assert answer.status_code == 403
    assert answer.json == {"code": 403, "status": "Forbidden"}
    # The owner check comes before the tag check.
    assert put_tags(api, callers.other, result["id"], {"tags_ids": [str(uuid4())]}).status_code == 403
    assert put_tags(api, callers.anonymous, result["id"], {"tags_ids": []}).status_code == 401
    assert put_tags(api, callers.unregistered, result["id"], {"tags_ids": []}).status_code == 403
    assert shown_tags(api, result["id"]) == []


def test_replacing_tags_refuses_bad_bodies_and_unknown_ids(api, callers, result):
    tag = catalog.tag(api, callers.user)
    catalog_before = shown_tags(api, result["id"])
    cases = [
        ({"tags_ids": None}, {"tags_ids": ["Field may not be null."]}),
        ({"tags_ids": ["x"]}, {"tags_ids": {"0": ["Not a valid UUID."]}}),
        ({"tags_ids": tag["id"]}, {"tags_ids": ["Not a valid list."]}),
        ({"tags": []}, {"tags": ["Unknown field."]}),
    ]
    for body, problems in cases:
        answer = put_tags(api, callers.user, result["id"], body)
        assert answer.status_code == 422, body
        assert answer.json["errors"] == {"json": problems}
    assert put_tags(api, callers.user, result["id"], [tag["id"]]).json["errors"] == {
        "json": {"_schema": ["Invalid input type."]}
    }
    # Validation before existence: an unknown result with a bad body is a 422.
    assert put_tags(api, callers.user, uuid4(), {"tags_ids": None}).status_code == 422
    missing_result = uuid4()
    answer = put_tags(api, callers.user, missing_result, {"tags_ids": []})
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Result {missing_result} not found in the database"}
    # Q-8 fixed: an unknown tag is a 404 (the original failed with 500), and nothing changes.
    missing_tag = uuid4()
    answer = put_tags(api, callers.user, result["id"], {"tags_ids": [tag["id"], str(missing_tag)]})
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Tag {missing_tag} not in database"}
    deleted = catalog.tag(api, callers.user)
    assert api.delete(f"/tags/{deleted['id']}", callers.admin).status_code == 204
    assert put_tags(api, callers.user, result["id"], {"tags_ids": [deleted["id"]]}).status_code == 404
    assert shown_tags(api, result["id"]) == catalog_before


def test_tags_of_hidden_results_can_be_replaced(api, callers, result):
    tag = catalog.tag(api, callers.user)
    catalog.claim(api, callers.other, result["id"])
    assert put_tags(api, callers.user, result["id"], {"tags_ids": [tag["id"]]}).status_code == 204
    assert shown_tags(api, result["id"]) == [tag["id"]]
    assert own(api, callers.user, tags_ids=[tag["id"]]) == [result["id"]]


# --- GET /results/{id}/uploader -------------------------------------------------------------
def test_the_uploader_is_for_admins(api, callers, result):
    path = f"/results/{result['id']}/uploader"
    answer = api.get(path, callers.admin)
    assert answer.status_code == 200
    assert answer.json == api.get("/users/self", callers.user).json
    assert set(answer.json) == {"sub", "iss", "email", "registration_datetime"}
    assert api.get(path).status_code == 401
    assert api.get(path, callers.unregistered).status_code == 403
    assert api.get(path, callers.user).status_code == 403  # even the uploader
    missing = uuid4()
    answer = api.get(f"/results/{missing}/uploader", callers.admin)
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Result {missing} not found in the database"}
    catalog.claim(api, callers.other, result["id"])
    assert api.get(path, callers.admin).json["sub"] == "alice"


# --- cascades -------------------------------------------------------------------------------
def test_deleting_a_benchmark_removes_its_results_everywhere(api, callers, where, result):
    other_benchmark = catalog.benchmark(api, callers.user, callers.admin)
    kept = catalog.upload(api, callers.other, catalog.Setup(other_benchmark, where.site, where.flavor))
    foreign = catalog.upload(api, callers.other, where)  # another uploader's result on the same benchmark
    hidden = catalog.upload(api, callers.user, where)
    catalog.claim(api, callers.other, hidden["id"])
    assert api.delete(f"/benchmarks/{where.benchmark['id']}", callers.admin).status_code == 204
    for gone in (result, foreign, hidden):
        assert gone_from_public_reads(api, gone["id"])
        assert api.get(f"/results/{gone['id']}/uploader", callers.admin).status_code == 404
        assert api.post(f"/results/{gone['id']}:claim", callers.other, json={"message": "x"}).status_code == 404
        assert api.put(f"/results/{gone['id']}/tags", callers.admin, json={"tags_ids": []}).status_code == 404
        assert api.delete(f"/results/{gone['id']}", callers.admin).status_code == 404
    assert listed(api) == [kept["id"]]
    assert own(api, callers.user) == []
    assert own(api, callers.other) == [kept["id"]]
    assert listed(api, benchmark_id=where.benchmark["id"]) == []


def test_deleting_a_site_removes_the_results_on_its_flavors(api, callers, where, result):
    second_flavor = catalog.flavor(api, callers.user, callers.admin, where.site["id"])
    on_second = catalog.upload(api, callers.other, catalog.Setup(where.benchmark, where.site, second_flavor))
    elsewhere = catalog.setup(api, callers.user, callers.admin)
    kept = catalog.upload(api, callers.user, elsewhere)
    assert api.delete(f"/sites/{where.site['id']}", callers.admin).status_code == 204
    for gone in (result, on_second):
        assert gone_from_public_reads(api, gone["id"])
    assert listed(api) == [kept["id"]]
    assert own(api, callers.user) == [kept["id"]] and own(api, callers.other) == []
    assert api.get(f"/benchmarks/{where.benchmark['id']}").status_code == 200


def test_deleting_a_flavor_removes_its_results_and_keeps_the_site(api, callers, where, result):
    second_flavor = catalog.flavor(api, callers.user, callers.admin, where.site["id"])
    kept = catalog.upload(api, callers.user, catalog.Setup(where.benchmark, where.site, second_flavor))
    assert api.delete(f"/flavors/{where.flavor['id']}", callers.admin).status_code == 204
    assert gone_from_public_reads(api, result["id"])
    assert listed(api) == [kept["id"]]
    assert own(api, callers.user) == [kept["id"]]
    assert api.get(f"/sites/{where.site['id']}").json == where.site
    assert listed(api, site_id=where.site["id"]) == [kept["id"]]


def test_deleting_a_tag_removes_it_from_results_only(api, callers, where):
    doomed, kept = catalog.tag(api, callers.user, "doomed"), catalog.tag(api, callers.user, "kept")
    result = catalog.upload(api, callers.user, where, tags=[doomed["id"], kept["id"]])
    assert api.delete(f"/tags/{doomed['id']}", callers.admin).status_code == 204
    assert api.get(f"/results/{result['id']}").json["tags"] == [kept]
    assert listed(api) == [result["id"]]
    assert listed(api, tags_ids=[doomed["id"]]) == []
    assert listed(api, tags_ids=[kept["id"]]) == [result["id"]]
    assert ids(api.get("/results:search", query_string="terms=doomed").json) == []
    assert ids(api.get("/results:search", query_string="terms=kept").json) == [result["id"]]
    # A new tag with the old name is another tag: the result does not carry it.
    catalog.tag(api, callers.user, "doomed")
    assert ids(api.get("/results:search", query_string="terms=doomed").json) == []


def test_removing_a_user_removes_their_results_and_no_one_elses(api, callers, where, result):
    # `where` (benchmark, site, flavor) is alice's: bob's result on it stays (design §6).
    bobs_on_alices = catalog.upload(api, callers.other, where)
    bobs_own = catalog.setup(api, callers.other, callers.admin)
    bobs = catalog.upload(api, callers.other, bobs_own)
    alices_on_bobs = catalog.upload(api, callers.user, bobs_own)
    removal = {"sub": "alice", "iss": api.provider.issuer}
    assert api.post("/users:remove", callers.admin, params=removal).status_code == 204
    for gone in (result, alices_on_bobs):
        assert gone_from_public_reads(api, gone["id"]), gone["json"]
    assert sorted(listed(api)) == sorted([bobs_on_alices["id"], bobs["id"]])
    assert api.get(f"/results/{bobs_on_alices['id']}").json == bobs_on_alices
    assert sorted(own(api, callers.other)) == sorted([bobs_on_alices["id"], bobs["id"]])
    # Registering again (once an admin lifted the ban) starts afresh: nothing of before comes back.
    assert api.post("/users:restore", callers.admin, params=removal).status_code == 204
    alice = api.register("alice")
    assert own(api, alice) == []


def test_updates_of_what_a_result_embeds_show_at_the_next_read(api, callers, where, result):
    tag = catalog.tag(api, callers.user, "old-tag")
    assert api.put(f"/results/{result['id']}/tags", callers.user, json={"tags_ids": [tag["id"]]}).status_code == 204
    benchmark_body = {
        "docker_image": "org/renamed",
        "docker_tag": "v9",
        "url": "https://example.org/new",
        "json_schema": {"type": "object"},
        "description": "renamed",
    }
    assert api.put(f"/benchmarks/{where.benchmark['id']}", callers.admin, json=benchmark_body).status_code == 204
    assert (
        api.put(
            f"/sites/{where.site['id']}",
            callers.admin,
            json={"name": "new-site", "address": "new-address", "description": "d"},
        ).status_code
        == 204
    )
    assert api.put(f"/flavors/{where.flavor['id']}", callers.admin, json={"name": "new-flavor"}).status_code == 204
    assert api.put(f"/tags/{tag['id']}", callers.admin, json={"name": "new-tag", "description": "t"}).status_code == 204
    current = {
        "benchmark": api.get(f"/benchmarks/{where.benchmark['id']}").json,
        "site": api.get(f"/sites/{where.site['id']}").json,
        "flavor": api.get(f"/flavors/{where.flavor['id']}").json,
        "tags": [api.get(f"/tags/{tag['id']}").json],
    }
    assert current["benchmark"]["docker_image"] == "org/renamed" and current["site"]["name"] == "new-site"
    assert current["flavor"]["name"] == "new-flavor" and current["tags"][0]["name"] == "new-tag"
    expected = {**result, **current}
    assert api.get(f"/results/{result['id']}").json == expected
    assert api.get("/results").json["items"] == [expected]
    assert api.get("/results:search").json["items"] == [expected]
    assert api.get("/users/self/results", callers.user).json["items"] == [expected]
    # Search and sort use the new names.
    for term, found in (
        ("org/renamed:v9", True),
        ("bench", False),
        ("new-site", True),
        ("new-address", True),
        ("addr", True),
        ("new-flavor", True),
        ("new-tag", True),
        ("old-tag", False),
        (where.site["name"], False),
        (where.flavor["name"], False),
    ):
        hits = ids(api.get("/results:search", query_string=catalog.query_string(terms=term)).json)
        assert hits == ([result["id"]] if found else []), term
    other = catalog.setup(
        api, callers.user, callers.admin, image="org/middle", site_name="middle-site", flavor_name="middle-flavor"
    )
    second = catalog.upload(api, callers.user, other)
    assert listed(api, sort_by="+benchmark_name") == [second["id"], result["id"]]
    assert listed(api, sort_by="+site_name") == [second["id"], result["id"]]
    assert listed(api, sort_by="-flavor_name") == [result["id"], second["id"]]
    assert listed(api, sort_by="+site_address") == [second["id"], result["id"]]


# --- /users/self/results --------------------------------------------------------------------
def test_own_results_include_hidden_ones_and_apply_every_filter(api, callers, where):
    # Q-6 fixed: the original ignored most of these arguments here.
    other_where = catalog.setup(api, callers.user, callers.admin)
    red = catalog.tag(api, callers.user, "red")
    visible = catalog.upload(api, callers.user, where, {"n": 1}, tags=[red["id"]], executed="2024-01-01T10:00:00Z")
    claimed = catalog.upload(api, callers.user, where, {"n": 2}, executed="2024-02-01T10:00:00Z")
    deleted = catalog.upload(
        api, callers.user, other_where, {"n": 3}, tags=[red["id"]], executed="2024-03-01T10:00:00Z"
    )
    foreign = catalog.upload(api, callers.other, where, {"n": 4}, tags=[red["id"]])
    catalog.claim(api, callers.other, claimed["id"])
    assert api.delete(f"/results/{deleted['id']}", callers.admin).status_code == 204
    v, c, d = visible["id"], claimed["id"], deleted["id"]
    assert own(api, callers.user) == [v, c, d]
    assert own(api, callers.other) == [foreign["id"]]
    assert own(api, callers.admin) == []
    assert own(api, callers.user, benchmark_id=where.benchmark["id"]) == [v, c]
    assert own(api, callers.user, site_id=other_where.site["id"]) == [d]
    assert own(api, callers.user, flavor_id=where.flavor["id"]) == [v, c]
    assert own(api, callers.user, tags_ids=[red["id"]]) == [v, d]
    assert own(api, callers.user, execution_before="2024-02-01") == [v]
    assert own(api, callers.user, execution_after="2024-01-31") == [c, d]
    assert own(api, callers.user, filters="n >= 2") == [c, d]
    assert own(api, callers.user, filters=["n >= 2", "n < 3"]) == [c]
    assert own(api, callers.user, filters="n >= 2", sort_by="-json.n") == [d, c]
    assert own(api, callers.user, sort_by="-execution_datetime", per_page=1, page=2) == [c]
    assert api.get("/users/self/results", callers.user, query_string="per_page=1&page=4").status_code == 404
    assert own(api, callers.user, benchmark_id=where.benchmark["id"], tags_ids=[red["id"]], filters="n == 1") == [v]
    # The public sees only the visible ones.
    assert listed(api, tags_ids=[red["id"]]) == [v, foreign["id"]]
    assert api.get("/users/self/results").status_code == 401
    assert api.get("/users/self/results", callers.unregistered).status_code == 403
    answer = api.get("/users/self/results", callers.user, query_string="uploader_email=x")
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"uploader_email": ["Unknown field."]}}


# --- audit history --------------------------------------------------------------------------
def test_the_history_of_a_result_names_every_change_and_its_actor(embedded_api):
    api = embedded_api
    alice, bob = api.register("alice"), api.register("bob")
    root = api.register("root", admin=True)
    where = catalog.setup(api, alice, root)
    tag = catalog.tag(api, alice, "history-tag")
    result = catalog.upload(api, alice, where, {"time": 1})
    assert api.put(f"/results/{result['id']}/tags", alice, json={"tags_ids": [tag["id"]]}).status_code == 204
    claim = catalog.claim(api, bob, result["id"], "suspicious")
    assert api.post(f"/reports/claims/{claim['id']}:reject", root).status_code == 204
    assert api.delete(f"/results/{result['id']}", root).status_code == 204

    lines = list(history_lines(api.service.store, UUID(result["id"])))
    issuer = api.provider.issuer
    expected = [
        ("Uploaded", "alice"),
        ("TagsReplaced", "alice"),
        ("Claimed", "bob"),
        ("ClaimDismissed", "root"),
        ("Restored", "root"),
        ("Deleted", "root"),
    ]
    assert len(lines) == len(expected), lines
    for version, (line, (event, actor)) in enumerate(zip(lines, expected), start=1):
        assert line.startswith(f"v{version}  "), line
        assert f"Result.{event}  by {actor}@{issuer}" in line, line
    assert f'tags_ids=["{tag["id"]}"]' in lines[1], lines[1]
    assert claim["id"] in lines[2] and claim["id"] in lines[3]
    assert 'json={"time":1}' in lines[0]
