"""Pending review items: GET /reports/submits (contract §5.6)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests.support.catalog import add_flavor, approve, result_setup, submit_benchmark, submit_site, upload_result


def test_nothing_is_pending_at_first(api, callers):
    page = api.get("/reports/submits", callers.admin).json
    assert page == {
        "items": [],
        "total": 0,
        "page": 1,
        "pages": 0,
        "per_page": 100,
        "has_prev": False,
        "has_next": False,
    }


def test_each_submitted_item_is_pending_with_its_uploader(api, callers):
    site = submit_site(api, callers.user)
    submits = api.get("/reports/submits", callers.admin).json["items"]
    alice = api.get("/users/self", callers.user).json
    assert submits == [
        {
            "resource_type": "site",
            "resource_id": site["id"],
            "upload_datetime": submits[0]["upload_datetime"],
            "uploader": alice,
        }
    ]
    assert "id" not in submits[0]
    when = datetime.fromisoformat(submits[0]["upload_datetime"])
    assert abs(when - datetime.fromisoformat(site["upload_datetime"])) < timedelta(seconds=1)


@pytest.fixture
def pending(api, callers):
    """One pending item of each kind, uploaded in the order benchmark, claim, site, flavor."""
    benchmark, site, flavor = result_setup(api, callers.user, callers.admin)
    result = upload_result(api, callers.user, benchmark["id"], flavor["id"])
    items = {"benchmark": submit_benchmark(api, callers.user)}
    claim = api.post(f"/results/{result['id']}:claim", callers.other, json={"message": "doubtful"})
    assert claim.status_code == 201, claim.text
    items["claim"] = claim.json
    items["site"] = submit_site(api, callers.other)
    items["flavor"] = add_flavor(api, callers.other, site["id"])
    return items


def kinds(page: dict) -> list[str]:
    return [item["resource_type"] for item in page["items"]]


def test_every_pending_kind_is_listed_by_resource_type(api, callers, pending):
    page = api.get("/reports/submits", callers.admin).json
    assert kinds(page) == ["benchmark", "claim", "flavor", "site"]
    assert {item["resource_id"] for item in page["items"]} == {item["id"] for item in pending.values()}
    uploaders = {item["resource_type"]: item["uploader"]["sub"] for item in page["items"]}
    assert uploaders == {"benchmark": "alice", "claim": "bob", "site": "bob", "flavor": "bob"}


def test_submits_are_sorted_on_request(api, callers, pending):
    assert kinds(api.get("/reports/submits", callers.admin, query_string="sort_by=-resource_type").json) == [
        "site",
        "flavor",
        "claim",
        "benchmark",
    ]
    assert kinds(api.get("/reports/submits", callers.admin, query_string="sort_by=%2Bupload_datetime").json) == [
        "benchmark",
        "claim",
        "site",
        "flavor",
    ]
    by_id = api.get("/reports/submits", callers.admin, query_string="sort_by=%2Bid").json
    ids = [item["resource_id"] for item in by_id["items"]]
    assert ids == sorted(ids)
    answer = api.get("/reports/submits", callers.admin, query_string="sort_by=%2Bstatus")
    assert answer.status_code == 422
    assert answer.json["message"]["KeyError"] == "Unexpected field 'status'"


def test_submits_are_filtered_by_resource_type(api, callers, pending):
    for kind in ("benchmark", "claim", "site", "flavor"):
        page = api.get("/reports/submits", callers.admin, query_string=f"resource_type={kind}").json
        assert [item["resource_id"] for item in page["items"]] == [pending[kind]["id"]]
    answer = api.get("/reports/submits", callers.admin, query_string="resource_type=result")
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"resource_type": ["Must be one of: benchmark, claim, site, flavor."]}}


def test_submits_are_filtered_by_upload_date(api, callers, pending):
    stamps = [item["upload_datetime"] for item in api.get("/reports/submits", callers.admin).json["items"]]
    today = date.fromisoformat(min(stamps)[:10])
    assert max(stamps)[:10] == str(today)
    tomorrow = today + timedelta(days=1)
    assert api.get("/reports/submits", callers.admin, query_string=f"upload_before={tomorrow}").json["total"] == 4
    assert api.get("/reports/submits", callers.admin, query_string=f"upload_before={today}").json["total"] == 0
    assert api.get("/reports/submits", callers.admin, query_string=f"upload_after={today}").json["total"] == 4
    assert api.get("/reports/submits", callers.admin, query_string=f"upload_after={tomorrow}").json["total"] == 0


def test_submits_refuse_unknown_arguments(api, callers):
    answer = api.get("/reports/submits", callers.admin, query_string="status=on_review")
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"status": ["Unknown field."]}}


def test_approving_or_rejecting_closes_the_submit(api, callers, pending):
    approve(api, callers.admin, "benchmarks", pending["benchmark"]["id"])
    assert api.post(f"/sites/{pending['site']['id']}:reject", callers.admin).status_code == 204
    assert api.post(f"/reports/claims/{pending['claim']['id']}:approve", callers.admin).status_code == 204
    assert kinds(api.get("/reports/submits", callers.admin).json) == ["flavor"]
    assert api.delete(f"/flavors/{pending['flavor']['id']}", callers.admin).status_code == 204
    assert api.get("/reports/submits", callers.admin).json["items"] == []


def test_updating_a_pending_item_keeps_it_pending(api, callers):
    site = submit_site(api, callers.user)
    api.put(f"/sites/{site['id']}", callers.admin, json={"name": "other", "address": "a"})
    assert [item["resource_id"] for item in api.get("/reports/submits", callers.admin).json["items"]] == [site["id"]]


def test_submits_are_paginated(api, callers):
    for _ in range(3):
        submit_site(api, callers.user)
    page = api.get("/reports/submits", callers.admin, query_string="per_page=2&page=2").json
    assert len(page["items"]) == 1
    assert (page["total"], page["pages"], page["has_prev"], page["prev_num"]) == (3, 2, True, 1)
    assert page["has_next"] is False
    assert "next_num" not in page


def test_submits_are_for_admins(api, callers):
    assert api.get("/reports/submits").status_code == 401
    assert api.get("/reports/submits", callers.unregistered).json["error_details"] == "Evaluation of: is_admin"
    assert api.get("/reports/submits", callers.user).json["error_details"] == "Evaluation of: is_admin"
