"""Benchmark schemas a hostile author could write (issue 10, items 9, 11, 12), through the API on
both deployments: patterns run on RE2 under a work budget, references never leave the schema,
and no schema or document that makes the validator fail answers anything but 422."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from uuid import UUID

import pytest

from configuration.stores import open_event_store
from tests.support import catalog

RE2_NOTE = "patterns are matched with RE2: no lookaround, no backreferences, bounded size"


def submit(api, token, schema) -> object:
    return api.post(
        "/benchmarks",
        token,
        json={
            "docker_image": catalog.unique("org/bench"),
            "docker_tag": "1.0",
            "url": "https://example.org/bench",
            "json_schema": schema,
        },
    )


def pending_benchmarks(api, admin) -> int:
    return api.get("/benchmarks", admin, query_string="status=on_review").json["total"]


def stored_results(api) -> int:
    return api.get("/results").json["total"]


# --- patterns (item 9) ---------------------------------------------------------------------------
def test_a_backtracking_pattern_is_matched_in_linear_time(api, callers):
    """Python's `re` takes about 2**40 steps for this refusal, and holds the GIL while it does."""
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}}}
    where = catalog.setup(api, callers.user, callers.admin, schema=schema)
    started = time.monotonic()
    answer = catalog.upload_answer(
        api, callers.user, where.benchmark["id"], where.flavor["id"], {"name": "a" * 40 + "!"}
    )
    assert time.monotonic() - started < 5
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": f"'{'a' * 40}!' does not match '^(a+)+$'", "path": "$.name"}
    catalog.upload(api, callers.user, where, {"name": "a" * 40})
    assert stored_results(api) == 1


@pytest.mark.parametrize(
    "schema, path, cause",
    [
        ({"properties": {"v": {"pattern": "(?=a)b"}}}, "$.properties.v.pattern", "invalid perl operator: (?="),
        ({"properties": {"v": {"pattern": "(a)\\1"}}}, "$.properties.v.pattern", "invalid escape sequence: \\1"),
        ({"properties": {"v": {"pattern": "\\p{L}{1000}"}}}, "$.properties.v.pattern", "pattern too large"),
        ({"patternProperties": {"^(?!x)": {}}}, "$.patternProperties", "invalid perl operator: (?!"),
        # In `$defs`, which Draft-7 meta-validation does not read, and reached by a reference.
        (
            {"$defs": {"v": {"pattern": "(?<=a)b"}}, "$ref": "#/$defs/v"},
            "$['$defs'].v.pattern",
            "invalid perl operator: (?<",
        ),
    ],
    ids=["lookahead", "backreference", "too-large", "pattern-properties", "reached-by-reference"],
)
def test_a_pattern_re2_cannot_run_is_refused_at_submission(api, callers, schema, path, cause):
    answer = submit(api, callers.user, schema)
    assert answer.status_code == 422, answer.text
    assert answer.json["errors"]["path"] == path
    assert cause in answer.json["errors"]["error"] and RE2_NOTE in answer.json["errors"]["error"]
    assert pending_benchmarks(api, callers.admin) == 0


def test_the_patterns_of_a_schema_are_limited_together(api, callers):
    """`^.{0,1000}$` is 11 characters and 9,002 RE2 instructions: a schema of many such patterns
    would cost minutes to compile. Twelve are past the limit; compiling stops there."""
    properties = {f"p{n}": {"pattern": f"^.{{0,{1000 - n}}}$"} for n in range(12)}
    answer = submit(api, callers.user, {"properties": properties})
    assert answer.status_code == 422
    assert answer.json["errors"] == {
        "error": f"The patterns of the schema are too large together: more than 100,000 RE2 instructions ({RE2_NOTE})",
        "path": "$.properties.p11.pattern",
    }
    assert submit(api, callers.user, {"properties": dict(list(properties.items())[:10])}).status_code == 201


def test_a_match_beyond_the_work_budget_is_refused(api, callers):
    """RE2 is linear, but this 29-character pattern is 3,605 instructions on its NFA: 100 KB of
    text would take seconds. The budget (SCHEMA_PATTERN_WORK) refuses it before matching."""
    pattern = "(?:[ab]{0,30}[ab]{0,30}){30}c"
    where = catalog.setup(api, callers.user, callers.admin, schema={"properties": {"log": {"pattern": pattern}}})
    started = time.monotonic()
    answer = catalog.upload_answer(api, callers.user, where.benchmark["id"], where.flavor["id"], {"log": "ab" * 50_000})
    assert time.monotonic() - started < 5
    assert answer.status_code == 422
    assert answer.json["errors"] == {
        "error": f"Matching the result against the pattern {pattern!r} of its benchmark's JSON Schema would take "
        "too long",
        "path": "$",
    }
    catalog.upload(api, callers.user, where, {"log": "ab" * 50 + "c"})
    assert stored_results(api) == 1


# --- references (item 11) ------------------------------------------------------------------------
class SchemaServer:
    """An HTTP server on 127.0.0.1 that serves a schema for any path and remembers what it was asked."""

    def __init__(self):
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.paths.append(self.path)
                body = json.dumps({"type": "integer"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def schema_server():
    server = SchemaServer()
    yield server
    server.close()


@pytest.mark.parametrize("kind", ["http", "file", "relative-to-a-remote-id"])
def test_references_to_other_documents_are_refused_at_submission(api, callers, schema_server, tmp_path, kind):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"type": "integer"}))
    schema, ref = {
        "http": ({}, f"{schema_server.url}/schema.json"),
        "file": ({}, f"file://{secret}"),
        "relative-to-a-remote-id": ({"$id": f"{schema_server.url}/root.json"}, "other.json"),
    }[kind]
    schema = {**schema, "properties": {"v": {"$ref": ref}}}
    answer = submit(api, callers.user, schema)
    assert answer.status_code == 422
    assert answer.json["errors"] == {
        "error": f"The reference {ref!r} does not resolve within the schema (other documents are never retrieved)",
        "path": "$.properties.v['$ref']",
    }
    assert pending_benchmarks(api, callers.admin) == 0

    benchmark = catalog.benchmark(api, callers.user, callers.admin)
    replaced = {key: benchmark[key] for key in ("docker_image", "docker_tag", "url")} | {"json_schema": schema}
    assert api.put(f"/benchmarks/{benchmark['id']}", callers.admin, json=replaced).status_code == 422
    assert api.get(f"/benchmarks/{benchmark['id']}").json["json_schema"] == catalog.SCHEMA
    assert schema_server.paths == []


def test_references_within_the_schema_keep_working(api, callers):
    schema = {
        "$id": "https://example.org/bench/root.json",
        "type": "object",
        "definitions": {"text": {"type": "string"}},
        "$defs": {
            "count": {"type": "integer"},
            "flag": {"$id": "flag.json", "type": "boolean"},
            "nothing": {"$anchor": "nothing", "type": "null"},
        },
        "properties": {
            "a": {"$ref": "#/$defs/count"},
            "b": {"$ref": "#/definitions/text"},
            "c": {"$ref": "flag.json"},
            "d": {"$ref": "#nothing"},
            "e": {"$ref": "http://json-schema.org/draft-07/schema#"},  # a published meta-schema
        },
    }
    where = catalog.setup(api, callers.user, callers.admin, schema=schema)
    catalog.upload(api, callers.user, where, {"a": 1, "b": "x", "c": True, "d": None, "e": {"type": "object"}})
    for document, error in [
        ({"a": "1"}, ("'1' is not of type 'integer'", "$.a")),
        ({"b": 1}, ("1 is not of type 'string'", "$.b")),
        ({"c": 1}, ("1 is not of type 'boolean'", "$.c")),
        ({"d": 0}, ("0 is not of type 'null'", "$.d")),
        ({"e": {"type": 5}}, ("5 is not valid under any of the given schemas", "$.e.type")),
    ]:
        answer = catalog.upload_answer(api, callers.user, where.benchmark["id"], where.flavor["id"], document)
        assert answer.status_code == 422
        assert (answer.json["errors"]["error"], answer.json["errors"]["path"]) == error
    assert stored_results(api) == 1


# --- schemas the validator cannot apply (item 12) ------------------------------------------------
@pytest.mark.parametrize(
    "schema, error, path",
    [
        (
            {"properties": {"a": {"$ref": "#/properties/b/type"}, "b": {"type": "integer"}}},
            "The reference '#/properties/b/type' does not point to a schema",
            "$.properties.a['$ref']",
        ),
        (
            {"properties": {"a": {"$ref": "#/required"}}, "required": ["a"]},
            "The reference '#/required' does not point to a schema",
            "$.properties.a['$ref']",
        ),
        (
            {"$ref": "#/definitions/missing"},
            "The reference '#/definitions/missing' does not resolve within the schema (other documents are never "
            "retrieved)",
            "$['$ref']",
        ),
        (
            {"properties": {"a": {"$ref": "#/properties/b/type/x"}, "b": {"type": "integer"}}},
            "The reference '#/properties/b/type/x' does not resolve within the schema (other documents are never "
            "retrieved)",
            "$.properties.a['$ref']",
        ),
        (
            {"$defs": {"x": {"$schema": {}}}, "properties": {"a": {"$ref": "#/$defs/x"}}},
            "$schema must be a string",
            "$['$defs'].x['$schema']",
        ),
        ({"$id": "http://[::1", "type": "object"}, "$id 'http://[::1' is not a URI reference", "$['$id']"),
    ],
    ids=["to-a-string", "to-a-list", "dangling", "through-a-string", "odd-nested-schema-keyword", "id-not-a-uri"],
)
def test_a_schema_the_validator_cannot_apply_is_refused_at_submission(api, callers, schema, error, path):
    answer = submit(api, callers.user, schema)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": error, "path": path}
    assert pending_benchmarks(api, callers.admin) == 0


def test_a_deeply_nested_schema_is_refused_at_submission(api, callers):
    answer = submit(api, callers.user, _nested(250))
    assert answer.status_code == 422
    assert pending_benchmarks(api, callers.admin) == 0


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {"allOf": [{"$ref": "#"}]},
        {"$schema": "https://json-schema.org/draft/2019-09/schema", "$recursiveRef": "#"},
    ],
    ids=["ref", "all-of", "recursive-ref"],
)
def test_a_schema_that_refers_to_itself_without_end_is_refused_at_upload(api, callers, schema):
    where = catalog.setup(api, callers.user, callers.admin, schema=schema)
    answer = catalog.upload_answer(api, callers.user, where.benchmark["id"], where.flavor["id"], {})
    assert answer.status_code == 422
    assert answer.json["errors"] == {
        "error": "The result is nested too deeply for its benchmark's JSON Schema, or the schema refers to itself "
        "without end",
        "path": "$",
    }
    assert stored_results(api) == 0


def test_a_deep_document_against_a_recursive_schema_is_refused(api, callers):
    where = catalog.setup(
        api, callers.user, callers.admin, schema={"type": "object", "properties": {"a": {"$ref": "#"}}}
    )
    document: dict = {}
    for _ in range(400):
        document = {"a": document}
    answer = catalog.upload_answer(api, callers.user, where.benchmark["id"], where.flavor["id"], document)
    assert answer.status_code == 422
    assert stored_results(api) == 0


def test_the_message_about_a_huge_enum_is_cut(api, callers):
    where = catalog.setup(api, callers.user, callers.admin, schema={"enum": list(range(20_000))})
    answer = catalog.upload_answer(api, callers.user, where.benchmark["id"], where.flavor["id"], {"x": 1})
    assert answer.status_code == 422
    message = answer.json["errors"]["error"]
    assert message.startswith("{'x': 1} is not one of [0, 1, 2, ") and message.endswith("…")
    assert len(message) == 2001


# --- schemas stored before these checks ----------------------------------------------------------
@pytest.fixture
def event_store(api, request):
    """The deployment's event store, to write what an older version of the service accepted."""
    if api.service is not None:
        yield api.service.store
        return
    store = open_event_store(request.getfixturevalue("production_stack").database_url, create_tables=False)
    yield store
    store.close()


def store_schema_behind_the_api(store, benchmark_id: str, schema: dict) -> None:
    benchmark = store.repository.get(UUID(benchmark_id))
    benchmark.update(benchmark.docker_image, benchmark.docker_tag, benchmark.url, schema, None, benchmark.uploader)
    store.save(benchmark)


def _nested(levels: int) -> dict:
    schema: dict = {"type": "integer"}
    for _ in range(levels):
        schema = {"properties": {"a": schema}}
    return schema


@pytest.mark.parametrize(
    "schema, document, error",
    [
        (
            {"properties": {"v": {"$ref": "http://127.0.0.1:9/x.json"}}},
            {"v": 1},
            "The reference 'http://127.0.0.1:9/x.json' does not resolve within the schema (other documents are never "
            "retrieved)",
        ),
        (
            {"properties": {"v": {"$ref": "file:///etc/hostname"}}},
            {"v": 1},
            "The reference 'file:///etc/hostname' does not resolve within the schema (other documents are never "
            "retrieved)",
        ),
        (
            {"properties": {"a": {"$ref": "#/properties/b/type"}, "b": {"type": "integer"}}},
            {"a": 1},
            "The reference '#/properties/b/type' does not point to a schema",
        ),
        ({"properties": {"v": {"pattern": "(?=a)b"}}}, {"v": "b"}, None),
        ({"properties": {"v": {"$schema": 5}}}, {"v": 1}, "5 is not of type 'string'"),
        (_nested(200), {}, "The JSON Schema is nested too deeply, or refers to itself without end"),
        (
            {"$schema": "http://json-schema.org/draft-03/schema#", "type": [{"type": "x"}]},
            {},
            "The benchmark's JSON Schema names an unknown type: 'x'",
        ),
    ],
    ids=[
        "http-reference",
        "file-reference",
        "reference-to-a-string",
        "lookahead",
        "odd-schema-keyword",
        "nested-200",
        "unknown-type",
    ],
)
def test_uploads_against_schemas_stored_by_older_versions_are_refused(
    api, callers, event_store, schema, document, error
):
    where = catalog.setup(api, callers.user, callers.admin)
    store_schema_behind_the_api(event_store, where.benchmark["id"], schema)
    answer = catalog.upload_answer(api, callers.user, where.benchmark["id"], where.flavor["id"], document)
    assert answer.status_code == 422, answer.text
    if error is None:
        assert RE2_NOTE in answer.json["errors"]["error"]
    else:
        assert answer.json["errors"]["error"] == error
    assert stored_results(api) == 0
