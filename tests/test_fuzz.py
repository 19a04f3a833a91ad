"""Property-based fuzzing of the whole OpenAPI document against `eosc-perf serve` (design §8):
whatever schemathesis sends, valid or not, anonymous or as an admin, no answer is a 5xx.

Bounded and reproducible: a fixed seed and a fixed number of examples per operation. The
service holds one item of each kind, and about half of the generated requests aim at those
items (their ids replace the random UUIDs), so handlers run past their 404s.

Below the fuzzing run: the 5xx it (and probing around it) found, pinned one by one."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterator

import falcon
import falcon.testing
import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error

from configuration.settings import Limits
from http_api import errors
from http_api.openapi import openapi_document
from tests.support.catalog import add_flavor, approve, result_setup, submit_benchmark, submit_site
from tests.support.served import ServedProcess, dev_token

SEED = 20240521
EXAMPLES_PER_OPERATION = 15
CONFIG = {
    "seed": SEED,
    "generation": {"max-examples": EXAMPLES_PER_OPERATION, "database": "none"},
    # Coverage (exhaustive boundary values) triples the run time; stateful needs links we do not declare.
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
}
# The generated document, as served: the `fuzzed` fixture checks the server sends exactly it.
DOCUMENT = openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(CONFIG))

# Parameter name -> id of an item the fuzzed service holds (filled by the `fuzzed` fixture).
KNOWN_IDS: dict[str, str] = {}


class FuzzedService:
    """`eosc-perf serve --dev` holding one approved benchmark, site, flavor, a tag, a result
    and a claim, with a registered admin (development mode without ADMIN_ENTITLEMENTS)."""

    def __init__(self, workdir: Path):
        self.server = ServedProcess(workdir / "data", WRITE_RATE_PER_MINUTE="0")  # thousands of writes by one admin
        self.admin = ""

    def start(self) -> "FuzzedService":
        self.server.start()
        self.admin = dev_token(self.server.data_dir, sub="fuzz-admin", email="fuzz-admin@example.org")
        assert self.server.post("/users:register", self.admin).status_code == 201
        KNOWN_IDS.update(self._seed())
        return self

    def _create(self, path: str, body: dict | None = None, query: str = "") -> str:
        answer = self.server.post(path + query, self.admin, json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def _seed(self) -> dict[str, str]:
        benchmark = self._create("/benchmarks", {"docker_image": "org/bench", "docker_tag": "1", "url": "u",
                                                 "json_schema": {"type": "object"}})
        site = self._create("/sites", {"name": "site", "address": "address"})
        flavor = self._create(f"/sites/{site}/flavors", {"name": "flavor"})
        for path in (f"/benchmarks/{benchmark}", f"/sites/{site}", f"/flavors/{flavor}"):
            assert self.server.post(f"{path}:approve", self.admin).status_code == 204
        tag = self._create("/tags", {"name": "tag"})
        context = f"?execution_datetime=2024-01-01T00:00:00%2B00:00&benchmark_id={benchmark}&flavor_id={flavor}"
        result = self._create("/results", {"machine": {"cpu": {"count": 4}}, "score": 1.5}, f"{context}&tags_ids={tag}")
        claimed = self._create("/results", {"score": "text"}, context)
        claim = self._create(f"/results/{claimed}:claim", {"message": "doubtful"})
        return {"benchmark_id": benchmark, "site_id": site, "flavor_id": flavor, "tag_id": tag,
                "result_id": result, "report_id": claim}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> Iterator[FuzzedService]:
    service = FuzzedService(tmp_path_factory.mktemp("fuzz")).start()
    try:
        assert service.server.get("/api-spec.json").json() == DOCUMENT
        yield service
    finally:
        service.server.stop()
        KNOWN_IDS.clear()
    assert "Traceback" not in service.server.log(), service.server.log()[-5000:]


@pytest.fixture(scope="module")
def session(fuzzed) -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def _destroys(case) -> bool:
    """Deletes and rejects stay on random ids: the known items must live through the run."""
    return case.method.upper() == "DELETE" or case.path.endswith(":reject")


def _aim_at_known_items(case):
    for name in list(case.path_parameters or {}):
        if name in KNOWN_IDS:
            case.path_parameters[name] = KNOWN_IDS[name]
    for name in ("benchmark_id", "site_id", "flavor_id"):
        if name in (case.query or {}):
            case.query[name] = KNOWN_IDS[name]
    if "tags_ids" in (case.query or {}):
        case.query["tags_ids"] = [KNOWN_IDS["tag_id"]]
    return case


@schema.hook
def flatmap_case(context, case):
    if not KNOWN_IDS or _destroys(case):
        return st.just(case)
    return st.booleans().map(lambda known: _aim_at_known_items(case) if known else case)


@schema.parametrize()
def test_no_request_makes_the_service_fail(case, fuzzed: FuzzedService, session: requests.Session):
    url = fuzzed.server.url
    case.call_and_validate(base_url=url, session=session, checks=[not_a_server_error])  # anonymous or junk token
    admin = {"Authorization": f"Bearer {fuzzed.admin}"}
    case.call_and_validate(base_url=url, session=session, headers=admin, checks=[not_a_server_error])


# --- regressions: each of these answered 500 ---------------------------------------------------

INVALID_JSON = {"code": 400, "status": "Bad Request", "errors": {"json": ["Invalid JSON body."]}}


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": NaN, "address": "a"}',
        b'{"name": "n", "address": "a", "description": Infinity}',
        b'{"name": "n", "address": "a", "x": -Infinity}',
        b'{"name": "n", "address": 1e400}',  # overflows to infinity
        b'{"name": "\\ud800", "address": "a"}',  # a lone surrogate: not encodable, not storable
        b'{"name": "n", "address": "a", "\\udfff": 1}',
    ],
    ids=["NaN", "Infinity", "-Infinity", "1e400", "surrogate", "surrogate-key"],
)
def test_json_that_no_store_can_hold_is_an_invalid_body(api, callers, body):
    answer = api.post("/sites", callers.user, body=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json == INVALID_JSON


def test_a_result_document_with_non_finite_numbers_is_an_invalid_body(api, callers):
    benchmark, _, flavor = result_setup(api, callers.user, callers.admin)
    query = f"execution_datetime=2024-01-01T00:00:00%2B00:00&benchmark_id={benchmark['id']}&flavor_id={flavor['id']}"
    for document in (b'{"time": NaN}', b'{"time": 1e999}'):
        answer = api.post("/results", callers.user, body=document, query_string=query,
                          headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, document[:20]
    assert api.get("/results").json["total"] == 0


def test_json_too_deep_for_the_parser_is_over_the_depth_limit(api, callers):
    """(It was a 400, "Invalid JSON body", before the depth became a limit of its own.)"""
    too_deep = {"code": 422, "status": "Unprocessable Entity",
                "errors": {"error": f"Nested deeper than {Limits().json_depth} levels", "path": "$"}}
    answer = api.post("/sites", callers.user, body=b"[" * 100_000 + b"]" * 100_000,
                      headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json) == (422, too_deep)
    benchmark, _, flavor = result_setup(api, callers.user, callers.admin)
    query = f"execution_datetime=2024-01-01T00:00:00%2B00:00&benchmark_id={benchmark['id']}&flavor_id={flavor['id']}"
    answer = api.post("/results", callers.user, body=b'{"deep": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
                      query_string=query, headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json) == (422, too_deep)
    assert api.get("/results").json["total"] == 0


@pytest.mark.parametrize("executed", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_an_execution_datetime_without_a_utc_equivalent_is_not_a_valid_datetime(api, callers, executed):
    benchmark, _, flavor = result_setup(api, callers.user, callers.admin)
    query = {"execution_datetime": executed, "benchmark_id": benchmark["id"], "flavor_id": flavor["id"]}
    answer = api.post("/results", callers.user, json={"time": 1}, params=query)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"execution_datetime": ["Not a valid datetime."]}}


# Valid Draft-7 (checked on create), but results are validated with the schema's own draft,
# 2020-12 by default, where `items` must be one schema. (References that cannot resolve are
# refused on create and PUT: tests/test_schema_safety.py.)
DRAFT_7_TUPLE_ITEMS = {"type": "object", "properties": {"v": {"items": [{"type": "string"}]}}}


def test_a_result_against_a_schema_that_cannot_validate_is_refused(api, callers):
    benchmark = submit_benchmark(api, callers.user, json_schema=DRAFT_7_TUPLE_ITEMS)
    site = submit_site(api, callers.user)
    flavor = add_flavor(api, callers.user, site["id"])
    for kind, item in (("benchmarks", benchmark), ("sites", site), ("flavors", flavor)):
        approve(api, callers.admin, kind, item["id"])
    query = {"execution_datetime": "2024-01-01T00:00:00+00:00", "benchmark_id": benchmark["id"],
             "flavor_id": flavor["id"]}
    answer = api.post("/results", callers.user, json={"v": [1]}, params=query)
    assert answer.status_code == 422, answer.text
    assert answer.json["errors"] == {"error": "[{'type': 'string'}] is not of type 'object', 'boolean'",
                                     "path": "$.properties.v.items"}


def test_a_schema_replaced_by_put_is_checked_again_when_results_arrive(api, callers):
    """PUT meta-validates as Draft-7 [Q-12]; what only the schema's own draft refuses is refused at upload."""
    benchmark, _, flavor = result_setup(api, callers.user, callers.admin)
    replaced = {"docker_image": benchmark["docker_image"], "docker_tag": benchmark["docker_tag"], "url": "u",
                "json_schema": DRAFT_7_TUPLE_ITEMS}
    assert api.put(f"/benchmarks/{benchmark['id']}", callers.admin, json=replaced).status_code == 204
    query = {"execution_datetime": "2024-01-01T00:00:00+00:00", "benchmark_id": benchmark["id"],
             "flavor_id": flavor["id"]}
    answer = api.post("/results", callers.user, body=json.dumps({"time": 1}), params=query,
                      headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    assert answer.json["errors"]["path"] == "$.properties.v.items"


def test_an_unexpected_error_is_logged_and_answers_the_bare_500(caplog):
    """The last resort, for bugs not found yet: the contract's bare 500, the traceback in the log."""

    class Broken:
        def on_get(self, req, resp):
            raise RuntimeError("a bug")

    app = falcon.App()
    errors.install(app)
    app.add_route("/broken", Broken())
    with caplog.at_level(logging.ERROR, logger="http_api.errors"):
        answer = falcon.testing.TestClient(app).simulate_get("/broken")
    assert answer.status_code == 500
    assert answer.json == {"code": 500, "status": "Internal Server Error"}
    [record] = caplog.records
    assert record.getMessage() == "GET /broken failed"
    assert record.exc_info[0] is RuntimeError
