"""Claims on results and their review (contract §5.5 claim, §5.6, §5.7; design Q-3, Q-4, Q-5)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest

from tests.support import catalog
from tests.support.catalog import ids, listed


@pytest.fixture
def result(api, callers) -> dict:
    where = catalog.setup(api, callers.user, callers.admin)
    return catalog.upload(api, callers.user, where, {"time": 1})


def public(api, result_id: str) -> bool:
    """Whether the result shows in the public list and search (it is the only result)."""
    in_list = result_id in listed(api)
    in_search = result_id in ids(api.get("/results:search").json)
    assert in_list == in_search
    return in_list


def claims_page(api, token, path="/reports/claims", **arguments) -> list[dict]:
    answer = api.get(path, token, query_string=catalog.query_string(**arguments))
    assert answer.status_code == 200, answer.text
    return answer.json["items"]


def user_of(api, token) -> dict:
    return api.get("/users/self", token).json


def as_owner_sees(*claims: dict) -> list[dict]:
    """A result's claims as its owner, no admin, lists them: without the claimers' e-mails."""
    return [{**claim, "uploader": {k: v for k, v in claim["uploader"].items() if k != "email"}} for claim in claims]


# --- claiming -------------------------------------------------------------------------------
def test_a_claim_hides_the_result_from_lists_and_search_at_once(api, callers, result):
    assert public(api, result["id"])
    answer = api.post(f"/results/{result['id']}:claim", callers.other, json={"message": "wrong numbers"})
    assert answer.status_code == 201, answer.text
    assert answer.headers.get("X-Event-Position")
    claim = answer.json
    assert set(claim) == {"id", "upload_datetime", "message", "resource_type", "resource_id", "uploader"}
    assert claim["message"] == "wrong numbers"
    assert claim["resource_type"] == "result"
    assert claim["resource_id"] == result["id"]
    assert claim["uploader"] == user_of(api, callers.other)
    assert not public(api, result["id"])
    # Still readable by id (contract §3.5), and still the owner's.
    assert api.get(f"/results/{result['id']}").json == result
    assert ids(api.get("/users/self/results", callers.user).json) == [result["id"]]
    # The claim waits for review.
    assert claims_page(api, callers.admin, status="on_review") == [claim]
    assert api.get(f"/reports/claims/{claim['id']}", callers.admin).json == claim


def test_hidden_results_stay_hidden_under_every_filter(api, callers, result):
    catalog.claim(api, callers.other, result["id"])
    for arguments in (
        {"benchmark_id": result["benchmark"]["id"]},
        {"filters": "time == 1"},
        {"sort_by": "+json.time"},
        {"site_id": result["site"]["id"]},
    ):
        assert listed(api, **arguments) == []
    assert ids(api.get("/results:search", query_string=f"terms={result['site']['name']}").json) == []


def test_owners_may_claim_their_own_results(api, callers, result):
    claim = catalog.claim(api, callers.user, result["id"], message="")
    assert claim["message"] == "" and claim["uploader"] == user_of(api, callers.user)
    assert not public(api, result["id"])


def test_claim_refusals(api, callers, result):
    assert api.post(f"/results/{result['id']}:claim", callers.anonymous, json={"message": "x"}).status_code == 401
    assert api.post(f"/results/{result['id']}:claim", callers.unregistered, json={"message": "x"}).status_code == 403
    # Authentication precedes validation.
    assert api.post(f"/results/{result['id']}:claim", callers.anonymous, json=[]).status_code == 401
    cases = [
        ({}, {"message": ["Missing data for required field."]}),
        ({"message": None}, {"message": ["Field may not be null."]}),
        ({"message": 5}, {"message": ["Not a valid string."]}),
        ({"message": "x", "resource_id": result["id"]}, {"resource_id": ["Unknown field."]}),
    ]
    for body, problems in cases:
        answer = api.post(f"/results/{result['id']}:claim", callers.other, json=body)
        assert answer.status_code == 422, body
        assert answer.json == {"code": 422, "status": "Unprocessable Entity", "errors": {"json": problems}}
    answer = api.post(f"/results/{result['id']}:claim", callers.other, json=["x"])
    assert answer.json["errors"] == {"json": {"_schema": ["Invalid input type."]}}
    # Validation comes before the existence check.
    assert api.post(f"/results/{uuid4()}:claim", callers.other, json={}).status_code == 422
    missing = uuid4()
    answer = api.post(f"/results/{missing}:claim", callers.other, json={"message": "x"})
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Result {missing} not found in the database"}
    assert api.post("/results/42:claim", callers.other, json={"message": "x"}).status_code == 404
    assert public(api, result["id"])


def test_a_user_has_at_most_one_open_claim_per_result(api, callers, result):
    first = catalog.claim(api, callers.other, result["id"], "first")
    answer = api.post(f"/results/{result['id']}:claim", callers.other, json={"message": "again"})
    assert answer.status_code == 409
    assert answer.json == {
        "code": 409,
        "status": "Conflict",
        "errors": {"error": f"Result {result['id']} was already claimed by this user"},
    }
    assert claims_page(api, callers.admin, status="on_review") == [first]
    assert [s["resource_id"] for s in claims_page(api, callers.admin, "/reports/submits", resource_type="claim")] == [
        first["id"]
    ]
    assert api.post(f"/reports/claims/{first['id']}:approve", callers.admin).status_code == 204
    assert api.post(f"/results/{result['id']}:claim", callers.other, json={"message": "x"}).status_code == 409
    second = catalog.claim(api, callers.admin, result["id"], "another user")
    assert api.post(f"/reports/claims/{second['id']}:reject", callers.admin).status_code == 204
    catalog.claim(api, callers.admin, result["id"], "after a rejection, once more")


def test_racing_claims_of_one_user_leave_one_claim(api, callers, result):
    def claim(_) -> int:
        return api.post(f"/results/{result['id']}:claim", callers.other, json={"message": "race"}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(claim, range(6)))
    assert statuses == [201] + [409] * 5
    assert len(claims_page(api, callers.admin, status="on_review")) == 1


def test_many_claims_per_result_each_keep_the_result(api, callers, result):
    # Q-4 fixed: the original kept only the latest claim; earlier ones lost their resource_id.
    first = catalog.claim(api, callers.other, result["id"], "first")
    second = catalog.claim(api, callers.admin, result["id"], "second")
    third = catalog.claim(api, callers.user, result["id"], "third")  # an already hidden result may be claimed
    pending = claims_page(api, callers.admin, status="on_review")
    assert pending == [first, second, third]
    assert all(claim["resource_id"] == result["id"] for claim in pending)
    for claim in (first, second, third):
        assert api.get(f"/reports/claims/{claim['id']}", callers.admin).json["resource_id"] == result["id"]
    assert claims_page(api, callers.user, f"/results/{result['id']}/claims", status="on_review") == as_owner_sees(
        *pending
    )


# --- listing claims and submits -------------------------------------------------------------
def test_claim_lists_default_to_approved_claims(api, callers, result):
    claim = catalog.claim(api, callers.other, result["id"])
    readers = (
        ("/reports/claims", callers.admin, [claim]),
        (f"/results/{result['id']}/claims", callers.user, as_owner_sees(claim)),
        ("/users/self/claims", callers.other, [claim]),
    )
    for path, token, seen in readers:
        assert claims_page(api, token, path) == [], path
        assert claims_page(api, token, path, status="on_review") == seen, path
    assert api.post(f"/reports/claims/{claim['id']}:approve", callers.admin).status_code == 204
    for path, token, seen in readers:
        assert claims_page(api, token, path) == seen, path
        assert claims_page(api, token, path, status="on_review") == [], path


def test_pending_claims_are_submits_of_type_claim(api, callers, result):
    claim = catalog.claim(api, callers.other, result["id"])
    submits = claims_page(api, callers.admin, "/reports/submits", resource_type="claim")
    assert submits == [
        {
            "resource_type": "claim",
            "resource_id": claim["id"],
            "upload_datetime": claim["upload_datetime"],
            "uploader": user_of(api, callers.other),
        }
    ]
    assert claim["id"] in [s["resource_id"] for s in claims_page(api, callers.admin, "/reports/submits")]
    assert api.post(f"/reports/claims/{claim['id']}:approve", callers.admin).status_code == 204
    assert claims_page(api, callers.admin, "/reports/submits", resource_type="claim") == []


def test_own_claims_are_the_callers_only(api, callers, result):
    mine = catalog.claim(api, callers.other, result["id"], "mine")
    catalog.claim(api, callers.user, result["id"], "theirs")
    assert claims_page(api, callers.other, "/users/self/claims", status="on_review") == [mine]
    assert claims_page(api, callers.admin, "/users/self/claims", status="on_review") == []
    assert api.get("/users/self/claims").status_code == 401
    assert api.get("/users/self/claims", callers.unregistered).status_code == 403
    answer = api.get("/users/self/claims", callers.other, query_string="resource_id=x")
    assert answer.status_code == 422


def test_claim_lists_sort_and_filter_by_date(api, callers, result):
    first = catalog.claim(api, callers.other, result["id"], "c")
    # One open claim per user and result: bob's second claim is on another result of alice's.
    another = catalog.upload_answer(api, callers.user, result["benchmark"]["id"], result["flavor"]["id"]).json
    second = catalog.claim(api, callers.other, another["id"], "b")
    admins = catalog.claim(api, callers.admin, result["id"], "a")
    day = first["upload_datetime"][:10]
    for path, token, oldest_first in (
        ("/reports/claims", callers.admin, [first, second, admins]),
        (f"/results/{result['id']}/claims", callers.admin, [first, admins]),
        ("/users/self/claims", callers.other, [first, second]),
    ):
        newest_first = oldest_first[::-1]
        assert claims_page(api, token, path, status="on_review", sort_by="-upload_datetime") == newest_first
        assert claims_page(api, token, path, status="on_review", sort_by="+message") == newest_first
        assert claims_page(api, token, path, status="on_review", sort_by="+status,+resource_type") == oldest_first
        assert claims_page(api, token, path, status="on_review", upload_before=day) == []
        assert claims_page(api, token, path, status="on_review", upload_after=day) == oldest_first
        answer = api.get(path, token, query_string="sort_by=%2Bresource_id")
        assert answer.status_code == 422
        assert answer.json["message"]["KeyError"] == "Unexpected field 'resource_id'"
        answer = api.get(path, token, query_string="status=pending")
        assert answer.json["errors"] == {"query": {"status": ["Must be one of: on_review, approved."]}}


def test_claim_reports_are_for_admins(api, callers, result):
    claim = catalog.claim(api, callers.other, result["id"])
    for path in ("/reports/claims", f"/reports/claims/{claim['id']}", "/reports/submits"):
        assert api.get(path).status_code == 401
        assert api.get(path, callers.unregistered).status_code == 403
        assert api.get(path, callers.other).status_code == 403
        assert api.get(path, callers.user).status_code == 403
        assert api.get(path, callers.admin).status_code == 200
    for action in ("approve", "reject"):
        assert api.post(f"/reports/claims/{claim['id']}:{action}").status_code == 401
        assert api.post(f"/reports/claims/{claim['id']}:{action}", callers.other).status_code == 403
    missing = uuid4()
    answer = api.get(f"/reports/claims/{missing}", callers.admin)
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Claim {missing} not found in the database"}
    for action in ("approve", "reject"):
        answer = api.post(f"/reports/claims/{missing}:{action}", callers.admin)
        assert answer.status_code == 404
        assert answer.json["errors"] == {"error": f"Claim {missing} not found in the database"}
        # Declared without query arguments: any is refused, after authorization.
        assert api.post(f"/reports/claims/{claim['id']}:{action}", callers.other, query_string="x=1").status_code == 403
        answer = api.post(f"/reports/claims/{claim['id']}:{action}", callers.admin, query_string="x=1")
        assert answer.status_code == 422
        assert answer.json["errors"] == {"query": {"x": ["Unknown field."]}}
    assert claims_page(api, callers.admin, status="on_review") == [claim]


def test_a_results_claims_are_for_its_owner_and_admins(api, callers, result):
    claim = catalog.claim(api, callers.other, result["id"])
    path = f"/results/{result['id']}/claims"
    assert api.get(path).status_code == 401
    assert api.get(path, callers.unregistered).status_code == 403
    other = api.get(path, callers.other)  # the claimer is not the owner
    assert other.status_code == 403
    assert other.json == {"code": 403, "status": "Forbidden"}
    # The owner, no admin, sees who claimed (sub, iss) but not their e-mail; admins see it all.
    assert claims_page(api, callers.user, path, status="on_review") == as_owner_sees(claim)
    assert set(as_owner_sees(claim)[0]["uploader"]) == {"sub", "iss", "registration_datetime"}
    assert claims_page(api, callers.admin, path, status="on_review") == [claim]
    assert claim["uploader"]["email"] == "bob@example.org"
    assert claims_page(api, callers.other, "/users/self/claims", status="on_review") == [claim]  # the claimer's own
    missing = uuid4()
    answer = api.get(f"/results/{missing}/claims", callers.other)  # 404 before 403
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Result {missing} not found in the database"}
    answer = api.get(path, callers.user, query_string="foo=bar")
    assert answer.status_code == 422 and answer.json["errors"] == {"query": {"foo": ["Unknown field."]}}
    # Only the claims of that result.
    where = catalog.Setup(result["benchmark"], result["site"], result["flavor"])
    another = catalog.upload(api, callers.user, where, {"time": 2})
    catalog.claim(api, callers.other, another["id"])
    assert claims_page(api, callers.admin, path, status="on_review") == [claim]


# --- review ---------------------------------------------------------------------------------
def test_approving_a_claim_keeps_the_result_hidden(api, callers, result):
    claim = catalog.claim(api, callers.other, result["id"])
    answer = api.post(f"/reports/claims/{claim['id']}:approve", callers.admin)
    assert answer.status_code == 204 and not answer.text
    assert not public(api, result["id"])
    assert api.get(f"/results/{result['id']}").status_code == 200
    assert claims_page(api, callers.admin) == [claim]
    for action in ("approve", "reject"):
        again = api.post(f"/reports/claims/{claim['id']}:{action}", callers.admin)
        assert again.status_code == 422
        assert again.json == {
            "code": 422,
            "status": "Unprocessable Entity",
            "errors": {"error": f"Resource {claim['id']} was already approved"},
        }
    assert api.get(f"/reports/claims/{claim['id']}", callers.admin).json == claim


def test_rejecting_the_last_open_claim_restores_the_result(api, callers, result):
    # Q-3 fixed: the original left the result hidden for good.
    claim = catalog.claim(api, callers.other, result["id"])
    answer = api.post(f"/reports/claims/{claim['id']}:reject", callers.admin)
    assert answer.status_code == 204
    assert public(api, result["id"])
    assert api.get(f"/results/{result['id']}").json == result
    # The claim is gone, with its submit.
    assert api.get(f"/reports/claims/{claim['id']}", callers.admin).status_code == 404
    assert claims_page(api, callers.admin, status="on_review") == []
    assert claims_page(api, callers.admin, "/reports/submits", resource_type="claim") == []
    assert claims_page(api, callers.other, "/users/self/claims", status="on_review") == []
    assert api.post(f"/reports/claims/{claim['id']}:reject", callers.admin).status_code == 404
    assert api.post(f"/reports/claims/{claim['id']}:approve", callers.admin).status_code == 404
    # A restored result can be claimed (and hidden) again.
    catalog.claim(api, callers.other, result["id"])
    assert not public(api, result["id"])


def test_a_result_with_another_open_claim_stays_hidden(api, callers, result):
    first = catalog.claim(api, callers.other, result["id"])
    second = catalog.claim(api, callers.admin, result["id"])
    assert api.post(f"/reports/claims/{first['id']}:reject", callers.admin).status_code == 204
    assert not public(api, result["id"])
    assert claims_page(api, callers.admin, status="on_review") == [second]
    assert api.post(f"/reports/claims/{second['id']}:reject", callers.admin).status_code == 204
    assert public(api, result["id"])


def test_an_approved_claim_keeps_hiding_the_result(api, callers, result):
    approved = catalog.claim(api, callers.other, result["id"])
    rejected = catalog.claim(api, callers.admin, result["id"])
    assert api.post(f"/reports/claims/{approved['id']}:approve", callers.admin).status_code == 204
    assert api.post(f"/reports/claims/{rejected['id']}:reject", callers.admin).status_code == 204
    assert not public(api, result["id"])
    assert claims_page(api, callers.user, f"/results/{result['id']}/claims") == as_owner_sees(approved)


def test_rejecting_a_claim_does_not_restore_an_admin_deleted_result(api, callers, result):
    claim = catalog.claim(api, callers.other, result["id"])
    assert api.delete(f"/results/{result['id']}", callers.admin).status_code == 204
    assert api.post(f"/reports/claims/{claim['id']}:reject", callers.admin).status_code == 204
    assert not public(api, result["id"])
    assert api.get(f"/results/{result['id']}").status_code == 404
    assert ids(api.get("/users/self/results", callers.user).json) == [result["id"]]
    # An admin-deleted result takes no new claims.
    answer = api.post(f"/results/{result['id']}:claim", callers.other, json={"message": "x"})
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Result {result['id']} not found in the database"}


def test_claims_of_a_result_removed_by_a_cascade_can_still_be_reviewed(api, callers, result):
    kept = catalog.claim(api, callers.other, result["id"], "kept")
    dropped = catalog.claim(api, callers.admin, result["id"], "dropped")
    assert api.delete(f"/benchmarks/{result['benchmark']['id']}", callers.admin).status_code == 204
    assert api.get(f"/results/{result['id']}").status_code == 404
    # the claims stay, each still naming its result; reviewing them is no error.
    assert claims_page(api, callers.admin, status="on_review") == [kept, dropped]
    assert api.post(f"/reports/claims/{kept['id']}:approve", callers.admin).status_code == 204
    assert api.post(f"/reports/claims/{dropped['id']}:reject", callers.admin).status_code == 204
    assert claims_page(api, callers.admin) == [kept]
    assert api.get(f"/results/{result['id']}").status_code == 404
    assert api.get(f"/results/{result['id']}/claims", callers.admin).status_code == 404


def test_removing_the_claimer_removes_their_claims(api, callers, result):
    claim = catalog.claim(api, callers.other, result["id"])
    kept = catalog.claim(api, callers.admin, result["id"])
    assert api.post("/users:remove", callers.admin, query_string="email=bob@example.org").status_code == 204
    assert api.get(f"/reports/claims/{claim['id']}", callers.admin).status_code == 404
    assert claims_page(api, callers.admin, status="on_review") == [kept]
    assert [s["resource_id"] for s in claims_page(api, callers.admin, "/reports/submits", resource_type="claim")] == [
        kept["id"]
    ]
    assert api.get(f"/results/{result['id']}").json == result


# --- removal of a claimer -------------------------------------------------------------------
def test_removing_the_only_claimer_restores_the_result(api, callers, result):
    catalog.claim(api, callers.other, result["id"])
    assert not public(api, result["id"])
    assert api.post("/users:remove", callers.admin, query_string="email=bob@example.org").status_code == 204
    assert public(api, result["id"])
    assert claims_page(api, callers.admin, status="on_review") == []


def test_removing_one_of_two_claimers_keeps_the_result_hidden(api, callers, result):
    catalog.claim(api, callers.other, result["id"])
    catalog.claim(api, callers.admin, result["id"])
    assert api.post("/users:remove", callers.admin, query_string="email=bob@example.org").status_code == 204
    assert not public(api, result["id"])
