"""Request parsing shared by every endpoint: query strings, JSON bodies, pagination, sorting
and date filters (contract §1.2, §1.3, §1.4, §4.1, §4.2, §4.4)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from itertools import count
from uuid import uuid4

import pytest

from configuration.settings import Limits
from http_api.operations import BY_ID
from tests.support.catalog import approve, names, shared_service, submit_benchmark, submit_site

UNKNOWN = ["Unknown field."]
MISSING = ["Missing data for required field."]

# The contract's "unknown q" column of the §5 tables, operation by operation.
UNKNOWN_QUERY = {
    "ListBenchmarks": "422",
    "CreateBenchmark": "ign",
    "SearchBenchmarks": "422",
    "GetBenchmark": "422",
    "UpdateBenchmark": "ign",
    "DeleteBenchmark": "422",
    "ApproveBenchmark": "422",
    "RejectBenchmark": "422",
    "ListSites": "422",
    "CreateSite": "ign",
    "SearchSites": "422",
    "GetSite": "ign",
    "UpdateSite": "ign",
    "DeleteSite": "ign",
    "ApproveSite": "ign",
    "RejectSite": "ign",
    "ListFlavors": "422",
    "AddFlavor": "ign",
    "SearchFlavor": "422",
    "GetFlavor": "ign",
    "UpdateFlavor": "ign",
    "DeleteFlavor": "ign",
    "ApproveFlavor": "ign",
    "RejectFlavor": "ign",
    "GetFlavorSite": "ign",
    "ListTags": "422",
    "CreateTag": "ign",
    "SearchTag": "422",
    "GetTag": "ign",
    "UpdateTag": "ign",
    "DeleteTag": "ign",
    "ListResults": "422",
    "CreateResult": "422",
    "SearchResults": "422",
    "GetResult": "ign",
    "DeleteResult": "ign",
    "ClaimReport": "ign",
    "UpdateResult": "ign",
    "ListResultClaims": "422",
    "ResultUploader": "ign",
    "ListSubmits": "422",
    "ListClaims": "422",
    "GetClaim": "ign",
    "ApproveClaim": "422",
    "RejectClaim": "422",
    "ListUsers": "422",
    "RegisterSelf": "ign",
    "RemoveUsers": "422",
    "SearchUsers": "422",
    "GetSelf": "ign",
    "UpdateSelf": "ign",
    "TryAdmin": "ign",
    "ListUserResults": "422",
    "ListUserClaims": "422",
    "RestoreUser": "422",  # beyond the contract (design §6): declares sub and iss, refuses others
    # Histories, the audit search and the change feed (issue 12): unknown arguments are refused.
    "GetBenchmarkHistory": "422",
    "GetSiteHistory": "422",
    "GetFlavorHistory": "422",
    "GetTagHistory": "422",
    "GetResultHistory": "422",
    "GetClaimHistory": "422",
    "GetUserHistory": "422",
    "SearchEvents": "422",
    "ListEvents": "422",
    "StreamEvents": "422",
}
_fresh = count(1)


@pytest.fixture(scope="module")
def shared(tmp_path_factory, identity_provider):
    service, api, callers = shared_service(tmp_path_factory.mktemp("validation") / "data", identity_provider)
    yield api, callers
    service.close()


def test_the_contract_table_names_every_operation():
    assert set(UNKNOWN_QUERY) == set(BY_ID)


@pytest.mark.parametrize("operation_id, rule", sorted(UNKNOWN_QUERY.items()))
def test_unknown_query_arguments_are_refused_or_ignored_as_the_contract_says(shared, operation_id, rule):
    api, callers = shared
    operation = BY_ID[operation_id]
    token = api.token(f"fresh-{next(_fresh)}") if operation_id == "RegisterSelf" else callers.admin
    path = re.sub(r"\{\w+\}", lambda _: str(uuid4()), operation.path)
    answer = api.request(operation.method, path, token, query_string="bogus=1")
    if rule == "422":
        assert answer.status_code == 422, answer.text
        assert answer.json["errors"]["query"]["bogus"] == UNKNOWN
    else:
        assert answer.status_code != 422 or "query" not in answer.json["errors"], answer.text


# --- query strings ------------------------------------------------------------------------------
def test_a_brackets_suffix_is_dropped_from_query_keys(api, callers):
    submit_site(api, callers.user, name="one", address="a1")
    submit_site(api, callers.user, name="two", address="a2")
    page = api.get("/sites:search", query_string="status[]=on_review&terms[]=a&terms[]=2").json
    assert names(page) == ["two"]
    mixed = api.get("/sites:search", query_string="status=on_review&terms[]=a&terms=1").json
    assert names(mixed) == ["one"]


def test_a_repeated_scalar_takes_the_first_value(api, callers):
    site = submit_site(api, callers.user)
    assert api.get("/sites", query_string="status=on_review&status=approved").json["items"] == [site]
    assert api.get("/sites", query_string="status=approved&status=on_review").json["items"] == []
    assert api.get("/sites", query_string="per_page=7&per_page=oops").json["per_page"] == 7


def test_commas_do_not_separate_list_items(api, callers):
    submit_site(api, callers.user, name="a,b")
    submit_site(api, callers.user, name="a")
    assert names(api.get("/sites:search", query_string="status=on_review&terms=a,b").json) == ["a,b"]


def test_a_raw_plus_arrives_as_a_space(shared):
    api, _ = shared
    answer = api.get("/sites", query_string="sort_by=+name")
    assert answer.status_code == 422
    assert answer.json["code"] == 422 and answer.json["status"] == "Unprocessable Entity"
    assert answer.json["message"]["KeyError"] == "Unknown order operator ' '"
    assert "hint" in answer.json["message"]


def test_integers_are_checked(shared):
    api, _ = shared
    answer = api.get("/sites", query_string="page=one&per_page=1.5")
    assert answer.status_code == 422
    assert answer.json == {
        "code": 422,
        "status": "Unprocessable Entity",
        "errors": {"query": {"page": ["Not a valid integer."], "per_page": ["Not a valid integer."]}},
    }
    for value in ("1.0", "1e1", "", "true"):
        answer = api.get("/sites", query_string=f"per_page={value}")
        assert answer.json["errors"] == {"query": {"per_page": ["Not a valid integer."]}}, value


@pytest.mark.parametrize(
    "query, field", [("per_page=0", "per_page"), ("per_page=101", "per_page"), ("page=0", "page"), ("page=-1", "page")]
)
def test_page_bounds_are_checked(shared, query, field):
    api, _ = shared
    answer = api.get("/benchmarks", query_string=query)
    assert answer.status_code == 422
    assert list(answer.json["errors"]["query"]) == [field]


def test_page_bounds_include_their_limits(shared):
    api, _ = shared
    assert api.get("/benchmarks", query_string="per_page=1").status_code == 200
    assert api.get("/benchmarks", query_string="per_page=100").json["per_page"] == 100


def test_uuids_are_checked_and_list_items_reported_by_index(shared):
    api, _ = shared
    answer = api.get("/results", query_string=f"benchmark_id=nope&tags_ids={uuid4()}&tags_ids=bad")
    assert answer.status_code == 422
    assert answer.json["errors"] == {
        "query": {"benchmark_id": ["Not a valid UUID."], "tags_ids": {"1": ["Not a valid UUID."]}}
    }


@pytest.mark.parametrize("value", ["2020-01-01T00:00:00", "2020-W01-1", "20200101", "yesterday", "2020-02-30", ""])
def test_dates_are_day_only(shared, value):
    api, _ = shared
    answer = api.get("/sites", query_string=f"upload_before={value}")
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"upload_before": ["Not a valid date."]}}


@pytest.mark.parametrize("value", ["2020-01-01", "garbage"])
def test_execution_datetime_must_be_a_datetime(shared, value):
    api, callers = shared
    query = f"execution_datetime={value}&benchmark_id={uuid4()}&flavor_id={uuid4()}"
    answer = api.post("/results", callers.user, json={}, query_string=query)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"execution_datetime": ["Not a valid datetime."]}}


def test_required_query_arguments_are_reported(shared):
    api, callers = shared
    answer = api.post("/results", callers.user, json={})
    assert answer.status_code == 422
    assert answer.json["errors"] == {
        "query": {"execution_datetime": MISSING, "benchmark_id": MISSING, "flavor_id": MISSING}
    }


def test_query_errors_come_before_body_errors(shared):
    api, callers = shared
    answer = api.post("/results", callers.user, json=[1])
    assert answer.status_code == 422
    assert list(answer.json["errors"]) == ["query"]


def test_status_is_an_enumeration(shared):
    api, _ = shared
    answer = api.get("/benchmarks:search", query_string="status=all")
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"status": ["Must be one of: on_review, approved."]}}


# --- JSON bodies --------------------------------------------------------------------------------
def test_null_is_refused_for_any_declared_field(shared):
    api, callers = shared
    answer = api.post("/sites", callers.user, json={"name": None, "address": "a", "description": None})
    assert answer.status_code == 422
    assert answer.json["errors"] == {
        "json": {"name": ["Field may not be null."], "description": ["Field may not be null."]}
    }


def test_unknown_body_fields_are_refused(shared):
    api, callers = shared
    answer = api.post("/tags", callers.user, json={"name": "t", "colour": "red", "upload_datetime": "x"})
    assert answer.status_code == 422
    assert answer.json["errors"] == {"json": {"colour": UNKNOWN, "upload_datetime": UNKNOWN}}


@pytest.mark.parametrize("document", [[], [{"name": "t"}], "name", 3, True])
def test_a_body_must_be_an_object(shared, document):
    api, callers = shared
    answer = api.post("/tags", callers.user, json=document)
    assert answer.status_code == 422
    assert answer.json == {
        "code": 422,
        "status": "Unprocessable Entity",
        "errors": {"json": {"_schema": ["Invalid input type."]}},
    }


def test_a_body_of_invalid_json_is_a_bad_request(shared):
    api, callers = shared
    answer = api.post("/tags", callers.user, body='{"name": ', headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json == {"code": 400, "status": "Bad Request", "errors": {"json": ["Invalid JSON body."]}}


def test_a_body_of_another_content_type_counts_as_empty(shared):
    api, callers = shared
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        answer = api.post(
            "/sites", callers.user, body='{"name": "n", "address": "a"}', headers={"Content-Type": content_type}
        )
        assert answer.status_code == 422, content_type
        assert answer.json["errors"] == {"json": {"name": MISSING, "address": MISSING}}
    answer = api.post("/sites", callers.user, body='{"name": "n", "address": "a"}')
    assert answer.json["errors"] == {"json": {"name": MISSING, "address": MISSING}}


def test_json_content_type_with_parameters_is_json(api, callers):
    answer = api.post(
        "/tags", callers.user, body='{"name": "utf"}', headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert answer.status_code == 201, answer.text


def test_operations_without_a_body_ignore_what_is_sent(api, callers):
    site = submit_site(api, callers.user)
    answer = api.post(
        f"/sites/{site['id']}:approve", callers.admin, body="{not json", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 204
    assert api.post("/users:register", api.token("bodied"), json=[1, 2]).status_code == 201


def test_strings_are_kept_as_sent(api, callers):
    tag = api.post("/tags", callers.user, json={"name": "  padded  ", "description": ""}).json
    assert (tag["name"], tag["description"]) == ("  padded  ", "")
    # Up to the name limit (longer ones: tests/test_limits.py).
    long = api.post("/tags", callers.user, json={"name": "x" * Limits().name_length}).json
    assert long["name"] == "x" * Limits().name_length


# --- pagination ---------------------------------------------------------------------------------
@pytest.fixture
def five_sites(api, callers):
    made = [submit_site(api, callers.user, name=f"s{i}") for i in range(5)]
    for site in made:
        approve(api, callers.admin, "sites", site["id"])
    return made


def test_a_page_object_omits_missing_neighbours(api, five_sites):
    first = api.get("/sites", query_string="per_page=2").json
    assert {k: v for k, v in first.items() if k != "items"} == {
        "total": 5,
        "per_page": 2,
        "page": 1,
        "pages": 3,
        "has_prev": False,
        "has_next": True,
        "next_num": 2,
    }
    middle = api.get("/sites", query_string="per_page=2&page=2").json
    assert {k: v for k, v in middle.items() if k != "items"} == {
        "total": 5,
        "per_page": 2,
        "page": 2,
        "pages": 3,
        "has_prev": True,
        "has_next": True,
        "prev_num": 1,
        "next_num": 3,
    }
    last = api.get("/sites", query_string="per_page=2&page=3").json
    assert {k: v for k, v in last.items() if k != "items"} == {
        "total": 5,
        "per_page": 2,
        "page": 3,
        "pages": 3,
        "has_prev": True,
        "has_next": False,
        "prev_num": 2,
    }
    assert names(first) + names(middle) + names(last) == ["s0", "s1", "s2", "s3", "s4"]


def test_a_page_past_the_end_is_not_found(api, five_sites):
    answer = api.get("/sites", query_string="per_page=2&page=4")
    assert answer.status_code == 404
    assert answer.json == {"code": 404, "status": "Not Found"}
    assert api.get("/sites:search", query_string="page=2").status_code == 404


def test_an_empty_first_page_has_no_pages(api):
    page = api.get("/sites").json
    assert page == {
        "items": [],
        "total": 0,
        "per_page": 100,
        "page": 1,
        "pages": 0,
        "has_prev": False,
        "has_next": False,
    }
    assert api.get("/sites", query_string="page=2").status_code == 404


# --- sorting ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sort_by, message",
    [
        ("%2Bx", "Unexpected field 'x'"),
        ("name", "Unexpected field 'ame'"),
        ("Bad%20sort%20command", "Unexpected field 'ad sort command'"),
        ("*x", "Unexpected field 'x'"),
        ("%2Bname,*address", "Unknown order operator '*'"),
        ("%2Buploader_sub", "Unexpected field 'uploader_sub'"),
        ("%2B", "Unexpected field ''"),
    ],
)
def test_bad_sort_commands_are_refused(shared, sort_by, message):
    api, _ = shared
    answer = api.get("/sites", query_string=f"sort_by={sort_by}")
    assert answer.status_code == 422
    assert answer.json["message"]["KeyError"] == message


def test_a_bad_sort_command_is_refused(shared):
    api, _ = shared
    answer = api.get("/benchmarks", query_string="sort_by=Bad%20sort%20command")
    assert answer.status_code == 422
    assert set(answer.json["message"]) == {"KeyError", "hint"}


@pytest.mark.parametrize(
    "kind, field", [("benchmarks", "json_schema"), ("benchmarks", "uploader_iss"), ("sites", "doc")]
)
def test_only_documented_fields_sort(shared, kind, field):
    api, _ = shared
    answer = api.get(f"/{kind}", query_string=f"sort_by=%2B{field}")  # Q-10 fixed: a whitelist, no 500
    assert answer.status_code == 422
    assert answer.json["message"]["KeyError"] == f"Unexpected field '{field}'"


def test_empty_sort_parts_are_ignored(api, five_sites):
    assert api.get("/sites", query_string="sort_by=").status_code == 200
    assert names(api.get("/sites", query_string="sort_by=,-name,").json) == ["s4", "s3", "s2", "s1", "s0"]


def test_sorting_by_status_is_accepted(api, five_sites):
    for kind in ("sites", "benchmarks"):
        assert api.get(f"/{kind}", query_string="sort_by=%2Bstatus,-status").status_code == 200


# --- upload date filters ------------------------------------------------------------------------
def test_upload_date_filters_are_strict(api, callers):
    site = submit_site(api, callers.user)
    benchmark = submit_benchmark(api, callers.user)
    day = date.fromisoformat(site["upload_datetime"][:10])
    assert benchmark["upload_datetime"][:10] == str(day)
    before, after = day - timedelta(days=1), day + timedelta(days=1)
    for kind in ("sites", "sites:search", "benchmarks", "benchmarks:search"):

        def total(query, kind=kind):
            answer = api.get(f"/{kind}", query_string=f"status=on_review&{query}")
            assert answer.status_code == 200, answer.text
            return answer.json["total"]

        assert total(f"upload_before={day}") == 0  # the whole day D is excluded
        assert total(f"upload_before={after}") == 1
        assert total(f"upload_after={day}") == 1  # day D counts, except exactly midnight
        assert total(f"upload_after={before}") == 1
        assert total(f"upload_after={after}") == 0
        assert total(f"upload_after={before}&upload_before={after}") == 1


def test_nul_characters_are_refused_everywhere(api, callers):
    body = api.post("/sites", callers.user, json={"name": "a\u0000b", "address": "x"})
    assert body.status_code == 400
    assert body.json["errors"] == {"json": ["Invalid JSON body."]}
    query = api.get("/sites", query_string="name=a%00b")
    assert query.status_code == 422
    assert query.json["errors"] == {"query": {"name": ["Not a valid string."]}}
