"""Benchmarks through the real embedded service (contract §5.1, design §6 Q-12); the image check
(Q-14) is in test_image_check.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from tests.support.catalog import TIME_SCHEMA as SCHEMA
from tests.support.catalog import approve, result_setup, submit_benchmark, upload_result


def body(image="org/img", tag="1.0", **extra) -> dict:
    return {"docker_image": image, "docker_tag": tag, "url": "https://example.org", "json_schema": SCHEMA, **extra}


def images(page: dict) -> list[str]:
    return [f"{b['docker_image']}:{b['docker_tag']}" for b in page["items"]]


# --- create and read --------------------------------------------------------------------------
def test_a_submitted_benchmark_is_on_review_until_approved(api, callers):
    before = datetime.utcnow()
    answer = api.post("/benchmarks", callers.user, json=body(description="d"))
    assert answer.status_code == 201, answer.text
    benchmark = answer.json
    assert set(benchmark) == {
        "id",
        "upload_datetime",
        "docker_image",
        "docker_tag",
        "url",
        "json_schema",
        "description",
    }
    assert benchmark["json_schema"] == SCHEMA
    uploaded = datetime.fromisoformat(benchmark["upload_datetime"])
    assert before - timedelta(seconds=1) <= uploaded <= datetime.utcnow() + timedelta(seconds=1)
    assert api.get("/benchmarks").json["items"] == []
    assert api.get("/benchmarks", query_string="status=on_review").json["items"] == [benchmark]
    assert api.get(f"/benchmarks/{benchmark['id']}").json == benchmark
    approve(api, callers.admin, "benchmarks", benchmark["id"])
    assert api.get("/benchmarks").json["items"] == [benchmark]
    assert api.get("/benchmarks", query_string="status=on_review").json["items"] == []
    assert api.get(f"/benchmarks/{benchmark['id']}").json == benchmark


def test_a_benchmark_without_description_omits_it(api, callers):
    benchmark = submit_benchmark(api, callers.user)
    assert "description" not in benchmark
    assert "description" not in api.get(f"/benchmarks/{benchmark['id']}").json


def test_an_empty_string_is_a_valid_value(api, callers):
    benchmark = submit_benchmark(api, callers.user, image="", tag="", url="", description="")
    assert benchmark["docker_image"] == "" and benchmark["description"] == ""


def test_benchmark_fields_are_required(api, callers):
    answer = api.post("/benchmarks", callers.user, json={})
    assert answer.status_code == 422
    missing = ["Missing data for required field."]
    assert answer.json == {
        "code": 422,
        "status": "Unprocessable Entity",
        "errors": {"json": {"docker_image": missing, "docker_tag": missing, "url": missing, "json_schema": missing}},
    }


def test_benchmark_field_types_are_checked(api, callers):
    answer = api.post("/benchmarks", callers.user, json=body(docker_tag=1, json_schema=[]))
    assert answer.status_code == 422
    assert answer.json["errors"]["json"] == {
        "docker_tag": ["Not a valid string."],
        "json_schema": ["Not a valid mapping type."],
    }


def test_read_only_fields_are_refused_on_create(api, callers):
    answer = api.post("/benchmarks", callers.user, json=body(id=str(uuid4()), upload_datetime="2020-01-01"))
    assert answer.status_code == 422
    assert answer.json["errors"]["json"] == {"id": ["Unknown field."], "upload_datetime": ["Unknown field."]}


def test_any_valid_json_schema_is_accepted(api, callers):
    for schema in ({}, {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "required": ["t"]}):
        assert submit_benchmark(api, callers.user, json_schema=schema)["json_schema"] == schema


def test_an_invalid_json_schema_is_refused_on_create(api, callers):
    answer = api.post("/benchmarks", callers.user, json=body(json_schema={"type": "no-such-type"}))
    assert answer.status_code == 422
    errors = answer.json["errors"]
    assert set(errors) == {"error", "path"}
    assert "no-such-type" in errors["error"]
    assert api.get("/benchmarks", query_string="status=on_review").json["total"] == 0


def test_an_unknown_benchmark_is_not_found(api):
    id = uuid4()
    answer = api.get(f"/benchmarks/{id}")
    assert answer.status_code == 404
    assert answer.json == {
        "code": 404,
        "status": "Not Found",
        "errors": {"error": f"Benchmark {id} not found in the database"},
    }


def test_getting_a_benchmark_refuses_unknown_query_arguments(api, callers):
    benchmark = submit_benchmark(api, callers.user)
    answer = api.get(f"/benchmarks/{benchmark['id']}", query_string="x=1")
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"x": ["Unknown field."]}}


def test_image_and_tag_are_unique_across_statuses(api, callers):
    submit_benchmark(api, callers.user, image="org/img", tag="1.0")
    answer = api.post("/benchmarks", callers.other, json=body("org/img", "1.0"))
    assert answer.status_code == 409
    assert answer.json["errors"] == {"error": "Benchmark org/img:1.0 already submitted/exists"}
    assert api.post("/benchmarks", callers.other, json=body("org/img", "2.0")).status_code == 201
    assert api.post("/benchmarks", callers.other, json=body("org/Img", "1.0")).status_code == 201


# --- listing ----------------------------------------------------------------------------------
@pytest.fixture
def catalog(api, callers):
    made = [
        submit_benchmark(api, callers.user, image="b/two", tag="1", description="second one"),
        submit_benchmark(api, callers.user, image="a/one", tag="2", description="first of all"),
        submit_benchmark(api, callers.user, image="a/one", tag="1"),
    ]
    for benchmark in made:
        approve(api, callers.admin, "benchmarks", benchmark["id"])
    return made


def test_benchmarks_are_listed_by_image(api, catalog):
    page = api.get("/benchmarks").json
    assert [b["docker_image"] for b in page["items"]] == ["a/one", "a/one", "b/two"]
    ordered = api.get("/benchmarks", query_string="sort_by=%2Bdocker_image,%2Bdocker_tag").json
    assert images(ordered) == ["a/one:1", "a/one:2", "b/two:1"]
    reverse = api.get("/benchmarks", query_string="sort_by=-docker_image,-docker_tag").json
    assert images(reverse) == ["b/two:1", "a/one:2", "a/one:1"]
    by_upload = api.get("/benchmarks", query_string="sort_by=%2Bupload_datetime").json
    assert images(by_upload) == ["b/two:1", "a/one:2", "a/one:1"]
    by_id = api.get("/benchmarks", query_string="sort_by=%2Bid").json
    assert [b["id"] for b in by_id["items"]] == sorted(b["id"] for b in catalog)


def test_benchmarks_are_filtered_by_exact_image_and_tag(api, catalog):
    assert images(api.get("/benchmarks", query_string="docker_image=a/one&sort_by=%2Bdocker_tag").json) == [
        "a/one:1",
        "a/one:2",
    ]
    assert images(api.get("/benchmarks", query_string="docker_image=a/one&docker_tag=2").json) == ["a/one:2"]
    assert api.get("/benchmarks", query_string="docker_image=a/").json["items"] == []
    assert api.get("/benchmarks", query_string="docker_tag=1").json["total"] == 2


def test_benchmarks_status_sorts_on_review_first(api, callers, catalog):
    pending = submit_benchmark(api, callers.user, image="c/three")
    # status is a sortable column even though one status is listed at a time
    for order in ("%2Bstatus", "-status"):
        page = api.get("/benchmarks", query_string=f"sort_by={order}").json
        assert page["total"] == 3
    assert api.get("/benchmarks", query_string="status=on_review&sort_by=%2Bstatus").json["items"] == [pending]


def test_searching_benchmarks_matches_image_tag_and_description(api, catalog):
    def search(query):
        answer = api.get("/benchmarks:search", query_string=query)
        assert answer.status_code == 200, answer.text
        return sorted(images(answer.json))

    assert search("terms=one") == ["a/one:1", "a/one:2", "b/two:1"]  # "second one" is a description
    assert search("terms=one&terms=first") == ["a/one:2"]
    assert search("terms=a/&terms=2") == ["a/one:2"]
    assert search("terms=ONE") == []
    assert search("") == ["a/one:1", "a/one:2", "b/two:1"]


def test_a_search_of_long_arguments_answers_as_a_short_one(api, catalog):
    """Arguments over views.catalog.ARGUMENT_CHARS_KEPT are not kept with a built statement:
    theirs is built for the request, and runs through SQLAlchemy's own execution."""
    order = "sort_by=-docker_image,%2Bdocker_tag,-upload_datetime,%2Bid"
    short = api.get("/benchmarks:search", query_string=f"terms=first+of+all&{order}").json
    long = api.get("/benchmarks:search", query_string="&".join(["terms=first+of+all"] * 10 + [order])).json
    assert long == short
    assert images(long) == ["a/one:2"]


def test_searching_benchmarks_has_no_exact_filters(api, catalog):
    answer = api.get("/benchmarks:search", query_string="docker_image=a/one")
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"docker_image": ["Unknown field."]}}


def test_searching_benchmarks_honours_status(api, callers, catalog):
    pending = submit_benchmark(api, callers.user, image="a/pending")
    assert api.get("/benchmarks:search", query_string="terms=a/").json["total"] == 2
    page = api.get("/benchmarks:search", query_string="terms=a/&status=on_review").json
    assert page["items"] == [pending]


# --- update -----------------------------------------------------------------------------------
def test_an_admin_updates_a_benchmark(api, callers):
    benchmark = submit_benchmark(api, callers.user, description="old")
    update = body("new/img", "9", url="https://new", json_schema={"type": "object"})
    answer = api.put(f"/benchmarks/{benchmark['id']}", callers.admin, json=update)
    assert answer.status_code == 204, answer.text
    assert answer.text == ""
    current = api.get(f"/benchmarks/{benchmark['id']}").json
    assert current == {**benchmark, **update, "description": "old"}
    # the status is unchanged: still on review
    assert api.get("/benchmarks", query_string="status=on_review").json["items"] == [current]


def test_updating_a_benchmark_sets_a_given_description(api, callers):
    benchmark = submit_benchmark(api, callers.user, description="old")
    api.put(f"/benchmarks/{benchmark['id']}", callers.admin, json=body(description="new"))
    assert api.get(f"/benchmarks/{benchmark['id']}").json["description"] == "new"


def test_updating_a_benchmark_cannot_clear_the_description(api, callers):
    benchmark = submit_benchmark(api, callers.user, description="old")
    answer = api.put(f"/benchmarks/{benchmark['id']}", callers.admin, json=body(description=None))
    assert answer.status_code == 422
    assert answer.json["errors"]["json"] == {"description": ["Field may not be null."]}


def test_updating_a_benchmark_refuses_read_only_fields(api, callers):
    benchmark = submit_benchmark(api, callers.user)
    answer = api.put(f"/benchmarks/{benchmark['id']}", callers.admin, json=body(id=benchmark["id"]))
    assert answer.status_code == 422
    assert answer.json["errors"]["json"] == {"id": ["Unknown field."]}


def test_updating_a_benchmark_needs_every_field(api, callers):
    benchmark = submit_benchmark(api, callers.user)
    answer = api.put(f"/benchmarks/{benchmark['id']}", callers.admin, json={"docker_image": "x"})
    assert answer.status_code == 422
    assert set(answer.json["errors"]["json"]) == {"docker_tag", "url", "json_schema"}


def test_updating_an_unknown_benchmark_is_not_found(api, callers):
    id = uuid4()
    answer = api.put(f"/benchmarks/{id}", callers.admin, json=body())
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Benchmark {id} not found in the database"}


def test_updating_a_benchmark_validates_the_json_schema(api, callers):
    benchmark = submit_benchmark(api, callers.user)
    answer = api.put(f"/benchmarks/{benchmark['id']}", callers.admin, json=body(json_schema={"required": "time"}))
    assert answer.status_code == 422  # Q-12 fixed: validated as on create
    assert set(answer.json["errors"]) == {"error", "path"}
    assert answer.json["errors"]["path"] == "$.required"
    assert api.get(f"/benchmarks/{benchmark['id']}").json["json_schema"] == SCHEMA


def test_renaming_a_benchmark_onto_another_is_a_conflict(api, callers):
    submit_benchmark(api, callers.user, image="org/a", tag="1")
    second = submit_benchmark(api, callers.user, image="org/b", tag="1")
    answer = api.put(f"/benchmarks/{second['id']}", callers.admin, json=body("org/a", "1"))
    assert answer.status_code == 409
    assert answer.json["errors"] == {"error": "Changes conflict submitted/existing benchmark"}
    assert api.get(f"/benchmarks/{second['id']}").json["docker_image"] == "org/b"


def test_a_renamed_benchmark_frees_its_old_name(api, callers):
    first = submit_benchmark(api, callers.user, image="org/a", tag="1")
    assert api.put(f"/benchmarks/{first['id']}", callers.admin, json=body("org/a", "2")).status_code == 204
    assert api.post("/benchmarks", callers.user, json=body("org/a", "1")).status_code == 201
    assert api.post("/benchmarks", callers.user, json=body("org/a", "2")).status_code == 409


def test_updating_a_benchmark_with_its_own_name_is_fine(api, callers):
    benchmark = submit_benchmark(api, callers.user, image="org/a", tag="1")
    assert api.put(f"/benchmarks/{benchmark['id']}", callers.admin, json=body("org/a", "1")).status_code == 204


def test_a_benchmark_update_shows_in_its_results(api, callers):
    benchmark, site, flavor = result_setup(api, callers.user, callers.admin)
    result = upload_result(api, callers.user, benchmark["id"], flavor["id"])
    api.put(f"/benchmarks/{benchmark['id']}", callers.admin, json=body("renamed/img", "7"))
    embedded = api.get(f"/results/{result['id']}").json["benchmark"]
    assert (embedded["docker_image"], embedded["docker_tag"]) == ("renamed/img", "7")


# --- review and deletion ----------------------------------------------------------------------
def test_approving_a_benchmark_twice_is_refused(api, callers):
    benchmark = submit_benchmark(api, callers.user)
    approve(api, callers.admin, "benchmarks", benchmark["id"])
    answer = api.post(f"/benchmarks/{benchmark['id']}:approve", callers.admin)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": f"Benchmark {benchmark['id']} was already approved"}


def test_rejecting_a_benchmark_removes_it(api, callers):
    benchmark = submit_benchmark(api, callers.user, image="org/gone", tag="1")
    answer = api.post(f"/benchmarks/{benchmark['id']}:reject", callers.admin)
    assert answer.status_code == 204
    assert answer.text == ""
    assert api.get(f"/benchmarks/{benchmark['id']}").status_code == 404
    assert api.get("/benchmarks", query_string="status=on_review").json["items"] == []
    assert api.get("/reports/submits", callers.admin).json["items"] == []
    assert api.post("/benchmarks", callers.user, json=body("org/gone", "1")).status_code == 201


def test_rejecting_an_approved_benchmark_is_refused(api, callers):
    benchmark = submit_benchmark(api, callers.user)
    approve(api, callers.admin, "benchmarks", benchmark["id"])
    answer = api.post(f"/benchmarks/{benchmark['id']}:reject", callers.admin)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": f"Benchmark {benchmark['id']} was already approved"}
    assert api.get(f"/benchmarks/{benchmark['id']}").status_code == 200


def test_reviewing_an_unknown_benchmark_is_not_found(api, callers):
    id = uuid4()
    for action in ("approve", "reject"):
        answer = api.post(f"/benchmarks/{id}:{action}", callers.admin)
        assert answer.status_code == 404
        assert answer.json["errors"] == {"error": f"Benchmark {id} not found in the database"}
    assert api.delete(f"/benchmarks/{id}", callers.admin).status_code == 404


def test_review_and_delete_refuse_unknown_query_arguments_after_auth(api, callers):
    benchmark = submit_benchmark(api, callers.user)
    for method, path in (
        ("POST", f"/benchmarks/{benchmark['id']}:approve"),
        ("POST", f"/benchmarks/{benchmark['id']}:reject"),
        ("DELETE", f"/benchmarks/{benchmark['id']}"),
    ):
        assert api.request(method, path, callers.user, query_string="x=1").status_code == 403
        answer = api.request(method, path, callers.admin, query_string="x=1")
        assert answer.status_code == 422, path
        assert answer.json["errors"] == {"query": {"x": ["Unknown field."]}}
    assert api.get(f"/benchmarks/{benchmark['id']}").status_code == 200


def test_deleting_a_benchmark_removes_it_and_its_results(api, callers):
    benchmark, site, flavor = result_setup(api, callers.user, callers.admin)
    result = upload_result(api, callers.other, benchmark["id"], flavor["id"])
    answer = api.delete(f"/benchmarks/{benchmark['id']}", callers.admin)
    assert answer.status_code == 204
    assert api.get(f"/benchmarks/{benchmark['id']}").status_code == 404
    assert api.get(f"/results/{result['id']}").status_code == 404
    assert api.get("/results").json["items"] == []
    assert api.get(f"/flavors/{flavor['id']}").status_code == 200
    assert api.get(f"/sites/{site['id']}").status_code == 200
    assert api.delete(f"/benchmarks/{benchmark['id']}", callers.admin).status_code == 404


def test_a_pending_benchmark_can_be_deleted(api, callers):
    benchmark = submit_benchmark(api, callers.user)
    assert api.delete(f"/benchmarks/{benchmark['id']}", callers.admin).status_code == 204
    assert api.get("/reports/submits", callers.admin).json["items"] == []


def test_results_need_an_approved_benchmark(api, callers):
    benchmark, site, flavor = result_setup(api, callers.user, callers.admin)
    pending = submit_benchmark(api, callers.user)
    query = f"execution_datetime=2024-01-01T00:00:00%2B00:00&benchmark_id={pending['id']}&flavor_id={flavor['id']}"
    answer = api.post("/results", callers.user, json={}, query_string=query)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": f"Benchmark {pending['id']} not approved"}
