"""Uploading results: POST /results (contract §5.5), every refusal in the stated order:
1. query/body validation, 2. timezone, 3. future, 4. benchmark, 5. flavor, 6. tags,
7. the benchmark's JSON schema; then the created result (Q-9: duplicate tags collapse)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from tests.support import catalog
from tests.support.catalog import upload_answer

DRAFT_04 = "http://json-schema.org/draft-04/schema#"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
TIME_SCHEMA = {"type": "object", "properties": {"time": {"type": "integer"}}, "required": ["time"]}


def error(answer) -> str:
    return answer.json["errors"]["error"]


def future(**delta) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


@pytest.fixture
def ready(api, callers) -> catalog.Setup:
    return catalog.setup(api, callers.user, callers.admin, schema=TIME_SCHEMA)


def nothing_stored(api, callers) -> bool:
    return api.get("/users/self/results", callers.user).json["items"] == []


# --- 1. access, query and body validation ---------------------------------------------------
def test_uploading_needs_a_registered_user(api, callers, ready):
    for token, status in ((callers.anonymous, 401), (callers.unregistered, 403)):
        # Authentication comes before any validation: even an empty request is refused first.
        assert api.post("/results", token, json=[]).status_code == status
        answer = upload_answer(api, token, ready.benchmark["id"], ready.flavor["id"], {"time": 1})
        assert answer.status_code == status
    assert upload_answer(api, callers.other, ready.benchmark["id"], ready.flavor["id"], {"time": 1}).status_code == 201


def test_query_arguments_are_validated(api, callers, ready):
    valid = {
        "execution_datetime": catalog.EXECUTED,
        "benchmark_id": ready.benchmark["id"],
        "flavor_id": ready.flavor["id"],
    }

    def refused(**arguments):
        answer = api.post("/results", callers.user, json={"time": 1}, query_string=catalog.query_string(**arguments))
        assert answer.status_code == 422, answer.text
        assert set(answer.json) == {"code", "status", "errors"}
        return answer.json["errors"]

    for missing in valid:
        arguments = {name: value for name, value in valid.items() if name != missing}
        assert refused(**arguments) == {"query": {missing: ["Missing data for required field."]}}
    assert refused() == {"query": {name: ["Missing data for required field."] for name in valid}}
    for name, value, message in (
        ("execution_datetime", "2024-01-01", "Not a valid datetime."),
        ("execution_datetime", "yesterday", "Not a valid datetime."),
        ("benchmark_id", "not-a-uuid", "Not a valid UUID."),
        ("flavor_id", "42", "Not a valid UUID."),
    ):
        assert refused(**{**valid, name: value}) == {"query": {name: [message]}}
    tag = catalog.tag(api, callers.user)
    assert refused(**valid, tags_ids=[tag["id"], "nope"]) == {"query": {"tags_ids": {"1": ["Not a valid UUID."]}}}
    # The site comes from the flavor: it is no argument; nor is anything else undeclared.
    assert refused(**valid, site_id=ready.site["id"]) == {"query": {"site_id": ["Unknown field."]}}
    assert refused(**valid, uploader="me") == {"query": {"uploader": ["Unknown field."]}}
    # Query errors come before body errors.
    answer = api.post("/results", callers.user, json=[1, 2])
    assert set(answer.json["errors"]) == {"query"}
    assert nothing_stored(api, callers)


def test_the_body_must_be_a_json_object(api, callers, ready):
    for body in ([], [{"time": 1}], "text", 5, True, None):
        answer = upload_answer(api, callers.user, ready.benchmark["id"], ready.flavor["id"], body=json.dumps(body))
        assert answer.status_code == 422, body
        assert answer.json["errors"] == {"json": {"_schema": ["Invalid input type."]}}
    answer = upload_answer(api, callers.user, ready.benchmark["id"], ready.flavor["id"], body="{not json")
    assert answer.status_code == 400
    assert answer.json == {"code": 400, "status": "Bad Request", "errors": {"json": ["Invalid JSON body."]}}
    # Validation comes before the execution date checks.
    answer = upload_answer(
        api, callers.user, ready.benchmark["id"], ready.flavor["id"], [], executed="2020-01-01T00:00:00"
    )
    assert answer.json["errors"] == {"json": {"_schema": ["Invalid input type."]}}
    assert nothing_stored(api, callers)


def test_numbers_no_double_holds_are_refused(api, callers):
    where = catalog.setup(api, callers.user, callers.admin, schema={"type": "object"})
    for raw in ('{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', '{"a": 1e400}', '{"a": [1, %s]}' % ("9" * 400)):
        answer = upload_answer(api, callers.user, where.benchmark["id"], where.flavor["id"], body=raw)
        assert answer.status_code in (400, 422), (raw, answer.text)
    raw = '{"b": {"c": [%s]}}' % ("9" * 400)
    answer = upload_answer(api, callers.user, where.benchmark["id"], where.flavor["id"], body=raw)
    assert answer.json["errors"] == {"error": "Number out of range", "path": "$.b.c[0]"}
    # Nothing was stored that would break the JSON filters of every later listing.
    kept = catalog.upload(api, callers.user, where, {"a": 1.7976931348623157e308, "b": -(2**63)})
    assert catalog.listed(api, filters="a > 1e308") == [kept["id"]]
    assert catalog.listed(api, filters="b < 0", sort_by="+json.a") == [kept["id"]]


# --- 2./3. execution date -------------------------------------------------------------------
def test_the_execution_date_needs_a_timezone_and_must_be_past(api, callers, ready):
    def refused(executed, benchmark_id=ready.benchmark["id"], flavor_id=ready.flavor["id"], document=None):
        answer = upload_answer(api, callers.user, benchmark_id, flavor_id, document or {"time": 1}, executed=executed)
        assert answer.status_code == 422, answer.text
        return answer.json

    assert refused("2020-01-01T00:00:00") == {
        "code": 422,
        "status": "Unprocessable Entity",
        "errors": {"error": "Execution date must include timezone"},
    }
    # A naive date in the future is refused for its missing timezone first.
    assert refused("2999-01-01T00:00:00", uuid4(), uuid4(), {"time": "x"})["errors"]["error"] == (
        "Execution date must include timezone"
    )
    assert refused(future(hours=1))["errors"]["error"] == "Execution date cannot be in future"
    # The future is refused before unknown items and schema violations are looked at.
    assert refused(future(days=1), uuid4(), uuid4(), {"time": "x"})["errors"]["error"] == (
        "Execution date cannot be in future"
    )
    # The future is judged in UTC: 30 minutes ahead, written in a zone 2 hours behind UTC.
    ahead = (datetime.now(timezone.utc) + timedelta(minutes=30)).astimezone(timezone(timedelta(hours=-2)))
    assert refused(ahead.isoformat())["errors"]["error"] == "Execution date cannot be in future"
    past = (datetime.now(timezone.utc) - timedelta(minutes=30)).astimezone(timezone(timedelta(hours=5)))
    answer = upload_answer(
        api, callers.user, ready.benchmark["id"], ready.flavor["id"], {"time": 1}, executed=past.isoformat()
    )
    assert answer.status_code == 201, answer.text


# --- 4./5. benchmark and flavor -------------------------------------------------------------
def test_the_benchmark_must_exist_and_be_approved(api, callers, ready):
    def refused(benchmark_id, flavor_id=ready.flavor["id"]):
        answer = upload_answer(api, callers.user, benchmark_id, flavor_id, {"time": "not checked yet"})
        return answer.status_code, answer.json

    missing = uuid4()
    assert refused(missing) == (
        404,
        {"code": 404, "status": "Not Found", "errors": {"error": f"Benchmark {missing} not in database"}},
    )
    assert refused(missing, uuid4())[1]["errors"]["error"] == f"Benchmark {missing} not in database"
    assert refused(ready.site["id"])[1]["errors"]["error"] == f"Benchmark {ready.site['id']} not in database"
    pending = catalog.benchmark(api, callers.user, callers.admin, approved=False)
    assert refused(pending["id"], uuid4()) == (
        422,
        {"code": 422, "status": "Unprocessable Entity", "errors": {"error": f"Benchmark {pending['id']} not approved"}},
    )
    gone = catalog.benchmark(api, callers.user, callers.admin)
    assert api.delete(f"/benchmarks/{gone['id']}", callers.admin).status_code == 204
    assert refused(gone["id"]) == (
        404,
        {"code": 404, "status": "Not Found", "errors": {"error": f"Benchmark {gone['id']} not in database"}},
    )
    assert nothing_stored(api, callers)


def test_the_flavor_must_exist_and_be_approved(api, callers, ready):
    def refused(flavor_id, benchmark_id=ready.benchmark["id"], tags=()):
        answer = upload_answer(api, callers.user, benchmark_id, flavor_id, {"time": "x"}, tags=tags)
        return answer.status_code, answer.json["errors"]["error"]

    missing = uuid4()
    assert refused(missing) == (404, f"Flavor {missing} not in database")
    pending = catalog.flavor(api, callers.user, callers.admin, ready.site["id"], approved=False)
    assert refused(pending["id"], tags=[uuid4()]) == (422, f"Flavor {pending['id']} not approved")
    # The benchmark is judged first.
    pending_benchmark = catalog.benchmark(api, callers.user, callers.admin, approved=False)
    assert refused(pending["id"], pending_benchmark["id"]) == (422, f"Benchmark {pending_benchmark['id']} not approved")
    assert nothing_stored(api, callers)
    # The status of the flavor's site is not checked.
    pending_site = catalog.site(api, callers.user, callers.admin, approved=False)
    flavor = catalog.flavor(api, callers.user, callers.admin, pending_site["id"])
    result = catalog.upload(api, callers.user, catalog.Setup(ready.benchmark, pending_site, flavor), {"time": 1})
    assert result["site"] == pending_site


# --- 6. tags --------------------------------------------------------------------------------
def test_every_tag_must_exist(api, callers, ready):
    known = catalog.tag(api, callers.user)
    missing = uuid4()
    # An unknown tag wins over a schema violation (step 6 before step 7).
    answer = upload_answer(
        api, callers.user, ready.benchmark["id"], ready.flavor["id"], {"time": "bad"}, tags=[known["id"], missing]
    )
    assert answer.status_code == 404
    assert answer.json == {"code": 404, "status": "Not Found", "errors": {"error": f"Tag {missing} not in database"}}
    gone = catalog.tag(api, callers.user)
    assert api.delete(f"/tags/{gone['id']}", callers.admin).status_code == 204
    answer = upload_answer(api, callers.user, ready.benchmark["id"], ready.flavor["id"], {"time": 1}, tags=[gone["id"]])
    assert (answer.status_code, error(answer)) == (404, f"Tag {gone['id']} not in database")
    assert nothing_stored(api, callers)


# --- 7. the benchmark's JSON schema ---------------------------------------------------------
def test_a_document_violating_the_schema_is_refused(api, callers, ready):
    for document, message, path in (
        ({"time": "10"}, "'10' is not of type 'integer'", "$.time"),
        ({"time": {"value": 10}}, "{'value': 10} is not of type 'integer'", "$.time"),
        ({"time": 1.5}, "1.5 is not of type 'integer'", "$.time"),
        ({}, "'time' is a required property", "$"),
    ):
        answer = upload_answer(api, callers.user, ready.benchmark["id"], ready.flavor["id"], document)
        assert answer.status_code == 422
        assert answer.json == {
            "code": 422,
            "status": "Unprocessable Entity",
            "errors": {"error": message, "path": path},
        }
    assert nothing_stored(api, callers)
    nested = {
        "type": "object",
        "properties": {
            "machine": {"type": "object", "properties": {"cpus": {"type": "array", "items": {"type": "integer"}}}}
        },
    }
    where = catalog.setup(api, callers.user, callers.admin, schema=nested)
    answer = upload_answer(
        api, callers.user, where.benchmark["id"], where.flavor["id"], {"machine": {"cpus": [1, "x"]}}
    )
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": "'x' is not of type 'integer'", "path": "$.machine.cpus[1]"}
    # `{}` is a document like any other when the schema allows it.
    free = catalog.setup(api, callers.user, callers.admin, schema={"type": "object"})
    assert catalog.upload(api, callers.user, free, {})["json"] == {}


DRAFT_CASES = [
    # `const` arrived with draft-06: a draft-04 validator ignores it, later ones assert it.
    (DRAFT_04, {"properties": {"x": {"const": 1}}}, {"x": 2}, True),
    (DRAFT_07, {"properties": {"x": {"const": 1}}}, {"x": 2}, False),
    # `dependentRequired` arrived with 2019-09: draft-07 ignores it, 2020-12 asserts it.
    (DRAFT_07, {"dependentRequired": {"a": ["b"]}}, {"a": 1}, True),
    (DRAFT_2020_12, {"dependentRequired": {"a": ["b"]}}, {"a": 1}, False),
    (DRAFT_2020_12, {"dependentRequired": {"a": ["b"]}}, {"a": 1, "b": 2}, True),
    # Without `$schema` the latest draft applies.
    (None, {"dependentRequired": {"a": ["b"]}}, {"a": 1}, False),
    (None, {"dependentRequired": {"a": ["b"]}}, {"b": 1}, True),
]


def test_the_schema_declared_draft_picks_the_validator(api, callers):
    benchmarks = []
    for schema_uri, keyword_schema, _, _ in DRAFT_CASES:
        schema = {"type": "object", **keyword_schema}
        if schema_uri:
            schema["$schema"] = schema_uri
        benchmarks.append(catalog.benchmark(api, callers.user, callers.admin, schema=schema))
    the_site = catalog.site(api, callers.user, callers.admin)
    flavor = catalog.flavor(api, callers.user, callers.admin, the_site["id"])
    for benchmark, (schema_uri, keyword_schema, document, accepted) in zip(benchmarks, DRAFT_CASES):
        answer = upload_answer(api, callers.user, benchmark["id"], flavor["id"], document)
        assert answer.status_code == (201 if accepted else 422), (schema_uri, keyword_schema, document, answer.text)


def test_unknown_keywords_are_allowed_and_formats_not_asserted(api, callers):
    schema = {
        "type": "object",
        "properties": {
            "cpu": {"type": "string", "suggestToUser": True},
            "mail": {"type": "string", "format": "email"},
            "when": {"type": "string", "format": "date-time"},
        },
        "suggestToUser": ["cpu"],
        "required": ["cpu"],
    }
    where = catalog.setup(api, callers.user, callers.admin, schema=schema)
    document = {"cpu": "AMD", "mail": "not an email", "when": "never"}
    assert catalog.upload(api, callers.user, where, document)["json"] == document
    answer = upload_answer(api, callers.user, where.benchmark["id"], where.flavor["id"], {"cpu": 1})
    assert answer.status_code == 422


# --- the created result ---------------------------------------------------------------------
def test_the_created_result_embeds_what_it_references(api, callers, ready):
    first, second = (
        catalog.tag(api, callers.user, "b-tag", description="second"),
        catalog.tag(api, callers.user, "a-tag"),
    )
    document = {"time": 7, "machine": {"cpu": "AMD", "cores": [1, 2.5, None, True]}, "ünïcode": "✓"}
    before = datetime.now(timezone.utc).replace(tzinfo=None)
    answer = upload_answer(
        api,
        callers.user,
        ready.benchmark["id"],
        ready.flavor["id"],
        document,
        executed="2020-05-21T10:31:00+03:00",
        tags=[first["id"], second["id"]],
    )
    after = datetime.now(timezone.utc).replace(tzinfo=None)
    assert answer.status_code == 201, answer.text
    assert answer.headers.get("X-Event-Position")
    result = answer.json
    assert set(result) == {"id", "upload_datetime", "execution_datetime", "benchmark", "site", "flavor", "tags", "json"}
    assert result["execution_datetime"] == "2020-05-21T07:31:00"
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(result["upload_datetime"]) <= after
    assert result["benchmark"] == ready.benchmark
    assert result["site"] == ready.site
    assert result["flavor"] == ready.flavor
    assert result["tags"] == [second, first]  # in name order, as every read lists them
    assert result["json"] == document
    # Every read shows the same document.
    assert api.get(f"/results/{result['id']}").json == result
    assert api.get("/results").json["items"] == [result]
    assert api.get("/results:search").json["items"] == [result]
    assert api.get("/users/self/results", callers.user).json["items"] == [result]
    # Results need no review.
    assert all(item["resource_type"] != "result" for item in api.get("/reports/submits", callers.admin).json["items"])


def test_execution_time_is_stored_in_utc_without_offset(api, callers, ready):
    for sent, stored in (
        ("2020-05-21T10:31:00+03:00", "2020-05-21T07:31:00"),
        ("2020-05-21T01:00:00-02:30", "2020-05-21T03:30:00"),
        ("2020-05-21T10:31:00Z", "2020-05-21T10:31:00"),
        ("2020-12-31T23:30:00-01:00", "2021-01-01T00:30:00"),
        ("2020-05-21T10:31:00.250000+00:00", "2020-05-21T10:31:00.250000"),
        ("2020-05-21T10:31:00.000000+01:00", "2020-05-21T09:31:00"),
    ):
        result = catalog.upload(api, callers.user, ready, {"time": 1}, executed=sent)
        assert result["execution_datetime"] == stored
        assert api.get(f"/results/{result['id']}").json["execution_datetime"] == stored


def test_tags_collapse_and_the_site_is_the_flavors(api, callers, ready):
    # Q-9 fixed: the original answered 409 "Integrity error" to duplicate tags.
    tags = [catalog.tag(api, callers.user, name) for name in ("zeta", "alpha", "mid")]
    zeta, alpha, mid = (tag["id"] for tag in tags)
    result = catalog.upload(api, callers.user, ready, {"time": 1}, tags=[zeta, alpha, zeta, mid, zeta])
    assert [t["name"] for t in result["tags"]] == ["alpha", "mid", "zeta"]
    assert api.get(f"/results/{result['id']}").json == result
    assert catalog.listed(api, tags_ids=[zeta, mid]) == [result["id"]]
    bare = catalog.upload(api, callers.other, ready, {"time": 1})
    assert bare["tags"] == [] and api.get(f"/results/{bare['id']}").json["tags"] == []
    # Each upload is a new result; the site is the flavor's, even with a same-named flavor elsewhere.
    other_site = catalog.site(api, callers.user, callers.admin)
    other_flavor = catalog.flavor(api, callers.user, callers.admin, other_site["id"], name=ready.flavor["name"])
    moved = catalog.upload(api, callers.user, catalog.Setup(ready.benchmark, other_site, other_flavor), {"time": 1})
    assert moved["site"] == other_site and moved["flavor"] == other_flavor
    assert catalog.listed(api, site_id=other_site["id"]) == [moved["id"]]
    assert catalog.listed(api, site_id=ready.site["id"]) == [result["id"], bare["id"]]


def test_reading_one_result(api, callers, ready):
    result = catalog.upload(api, callers.user, ready, {"time": 1})
    # Public: tokens (even invalid ones) and unknown query arguments are ignored.
    assert api.get(f"/results/{result['id']}", "garbage-token", query_string="whatever=1").json == result
    missing = uuid4()
    answer = api.get(f"/results/{missing}")
    assert answer.status_code == 404
    assert answer.json == {
        "code": 404,
        "status": "Not Found",
        "errors": {"error": f"Result {missing} not found in the database"},
    }
    assert api.get("/results/not-a-uuid").json == {"code": 404, "status": "Not Found"}
    assert api.get(f"/results/{result['id']}/").status_code == 404
