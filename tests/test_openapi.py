"""GET /api-spec.json (contract §5.8): a valid OpenAPI 3.0.2 document naming every operation
of the contract with its original operationId, so generated clients keep working.

The expected operations below are written out from the contract, not derived from the
declarations the document is generated from."""

from __future__ import annotations

import falcon.testing
import pytest
from openapi_spec_validator import validate

from configuration.settings import Settings
from eosc_perf.embedded import build
from tests.support.api import service_settings

PAGE = {"page", "per_page"}
UPLOAD = {"upload_before", "upload_after"}
RESULT_QUERY = (
    PAGE
    | UPLOAD
    | {"execution_before", "execution_after", "benchmark_id", "site_id", "flavor_id", "tags_ids", "filters", "sort_by"}
)
CLAIM_QUERY = PAGE | UPLOAD | {"status", "sort_by"}

# operationId: (method, path, access, query parameters) — contract §5.1-§5.7.
CONTRACT = {
    "ListBenchmarks": (
        "get",
        "/benchmarks",
        "public",
        PAGE | UPLOAD | {"status", "docker_image", "docker_tag", "sort_by"},
    ),
    "CreateBenchmark": ("post", "/benchmarks", "user", set()),
    "SearchBenchmarks": ("get", "/benchmarks:search", "public", PAGE | UPLOAD | {"status", "terms", "sort_by"}),
    "GetBenchmark": ("get", "/benchmarks/{benchmark_id}", "public", set()),
    "UpdateBenchmark": ("put", "/benchmarks/{benchmark_id}", "admin", set()),
    "DeleteBenchmark": ("delete", "/benchmarks/{benchmark_id}", "admin", set()),
    "ApproveBenchmark": ("post", "/benchmarks/{benchmark_id}:approve", "admin", set()),
    "RejectBenchmark": ("post", "/benchmarks/{benchmark_id}:reject", "admin", set()),
    "ListSites": ("get", "/sites", "public", PAGE | UPLOAD | {"status", "name", "address", "sort_by"}),
    "CreateSite": ("post", "/sites", "user", set()),
    "SearchSites": ("get", "/sites:search", "public", PAGE | UPLOAD | {"status", "terms", "sort_by"}),
    "GetSite": ("get", "/sites/{site_id}", "public", set()),
    "UpdateSite": ("put", "/sites/{site_id}", "admin", set()),
    "DeleteSite": ("delete", "/sites/{site_id}", "admin", set()),
    "ApproveSite": ("post", "/sites/{site_id}:approve", "admin", set()),
    "RejectSite": ("post", "/sites/{site_id}:reject", "admin", set()),
    "ListFlavors": ("get", "/sites/{site_id}/flavors", "public", PAGE | UPLOAD | {"status", "name", "sort_by"}),
    "AddFlavor": ("post", "/sites/{site_id}/flavors", "user", set()),
    "SearchFlavor": (
        "get",
        "/sites/{site_id}/flavors:search",
        "public",
        PAGE | UPLOAD | {"status", "terms", "sort_by"},
    ),
    "GetFlavor": ("get", "/flavors/{flavor_id}", "public", set()),
    "UpdateFlavor": ("put", "/flavors/{flavor_id}", "admin", set()),
    "DeleteFlavor": ("delete", "/flavors/{flavor_id}", "admin", set()),
    "ApproveFlavor": ("post", "/flavors/{flavor_id}:approve", "admin", set()),
    "RejectFlavor": ("post", "/flavors/{flavor_id}:reject", "admin", set()),
    "GetFlavorSite": ("get", "/flavors/{flavor_id}/site", "public", set()),
    "ListTags": ("get", "/tags", "public", PAGE | {"name", "sort_by"}),
    "CreateTag": ("post", "/tags", "user", set()),
    "SearchTag": ("get", "/tags:search", "public", PAGE | {"terms", "sort_by"}),
    "GetTag": ("get", "/tags/{tag_id}", "public", set()),
    "UpdateTag": ("put", "/tags/{tag_id}", "admin", set()),
    "DeleteTag": ("delete", "/tags/{tag_id}", "admin", set()),
    "ListResults": ("get", "/results", "public", RESULT_QUERY),
    "CreateResult": ("post", "/results", "user", {"execution_datetime", "benchmark_id", "flavor_id", "tags_ids"}),
    "SearchResults": ("get", "/results:search", "public", PAGE | UPLOAD | {"terms", "sort_by"}),
    "GetResult": ("get", "/results/{result_id}", "public", set()),
    "DeleteResult": ("delete", "/results/{result_id}", "admin", set()),
    "ClaimReport": ("post", "/results/{result_id}:claim", "user", set()),
    "UpdateResult": ("put", "/results/{result_id}/tags", "user", set()),  # owner-or-admin, checked later
    "ListResultClaims": ("get", "/results/{result_id}/claims", "user", CLAIM_QUERY),
    "ResultUploader": ("get", "/results/{result_id}/uploader", "admin", set()),
    "ListSubmits": ("get", "/reports/submits", "admin", PAGE | UPLOAD | {"resource_type", "sort_by"}),
    "ListClaims": ("get", "/reports/claims", "admin", CLAIM_QUERY),
    "GetClaim": ("get", "/reports/claims/{report_id}", "admin", set()),
    "ApproveClaim": ("post", "/reports/claims/{report_id}:approve", "admin", set()),
    "RejectClaim": ("post", "/reports/claims/{report_id}:reject", "admin", set()),
    "ListUsers": ("get", "/users", "admin", PAGE | {"sub", "iss", "email", "sort_by"}),
    "RegisterSelf": ("post", "/users:register", "token", set()),
    "RemoveUsers": ("post", "/users:remove", "admin", {"sub", "iss", "email"}),
    "RestoreUser": ("post", "/users:restore", "admin", {"sub", "iss"}),
    "SearchUsers": ("get", "/users:search", "admin", PAGE | {"terms", "sort_by"}),
    "GetSelf": ("get", "/users/self", "token", set()),
    "UpdateSelf": ("post", "/users/self:update", "user", set()),
    "TryAdmin": ("get", "/users/self:try_admin", "admin", set()),
    "ListUserResults": ("get", "/users/self/results", "user", RESULT_QUERY),
    "ListUserClaims": ("get", "/users/self/claims", "user", CLAIM_QUERY),
    # Beyond the contract: histories, the audit search and the change feed (issue 12, docs/audit.md).
    "GetBenchmarkHistory": ("get", "/benchmarks/{benchmark_id}/history", "user", PAGE),
    "GetSiteHistory": ("get", "/sites/{site_id}/history", "user", PAGE),
    "GetFlavorHistory": ("get", "/flavors/{flavor_id}/history", "user", PAGE),
    "GetTagHistory": ("get", "/tags/{tag_id}/history", "user", PAGE),
    "GetResultHistory": ("get", "/results/{result_id}/history", "user", PAGE),
    "GetClaimHistory": ("get", "/reports/claims/{report_id}/history", "user", PAGE),
    "GetUserHistory": ("get", "/users/self/history", "user", PAGE),
    "SearchEvents": (
        "get",
        "/reports/events",
        "admin",
        PAGE | {"item_id", "type", "actor_sub", "actor_iss", "after", "before", "from_position", "sort_by"},
    ),
    "ListEvents": ("get", "/events", "public", {"after", "limit"}),
    "StreamEvents": ("get", "/events:stream", "public", {"after"}),
}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def served_document(settings: Settings) -> falcon.testing.Result:
    service = build(settings)
    try:
        return falcon.testing.TestClient(service.app).simulate_get("/api-spec.json")
    finally:
        service.close()


@pytest.fixture(scope="module")
def document(tmp_path_factory, identity_provider) -> dict:
    """The served document of a production-like service (BACKEND_ROUTE unset)."""
    answer = served_document(service_settings(tmp_path_factory.mktemp("openapi") / "data", identity_provider))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    return answer.json


def operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_the_document_is_valid_openapi_3_0_2(document):
    assert document["openapi"] == "3.0.2"
    validate(document)


def test_info_servers_and_security_are_the_originals(document):
    info = {name: value for name, value in document["info"].items() if name != "description"}
    assert info == {
        "title": "EOSC Performance API",
        "version": "1.0.0",
        "license": {"name": "MIT", "url": "https://github.com/EOSC-synergy/eosc-perf-backend/blob/main/LICENSE"},
    }
    assert document["servers"] == [{"url": "/"}]
    assert document["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }


def test_the_description_says_what_the_parameters_schemas_cannot(document):
    guide = document["info"]["description"]
    for needed in (
        "eosc-perf dev-token",
        "POST /users:register",
        "%2B",
        "filters=score > 1",
        "sort_by=-json.score",
        "X-Event-Position",
        "X-Min-Position",
        "Retry-After",
        "413",
    ):
        assert needed in guide, needed


def test_servers_url_is_backend_route(tmp_path):
    settings = Settings.from_env({"BACKEND_ROUTE": "/api/v1", "ADMIN_ENTITLEMENTS": "x"}, data_dir=tmp_path / "data")
    assert settings.backend_route == "/api/v1"
    answer = served_document(settings)
    assert answer.json["servers"] == [{"url": "/api/v1"}]
    validate(answer.json)


def test_every_contract_operation_is_present_exactly_once(document):
    found = [operation["operationId"] for _, _, operation in operations(document)]
    assert sorted(found) == sorted(CONTRACT), "operationIds differ from contract §5.8"
    assert len(found) == len(set(found))
    for method, path, operation in operations(document):
        expected_method, expected_path, _, _ = CONTRACT[operation["operationId"]]
        assert (method, path) == (expected_method, expected_path), operation["operationId"]


@pytest.mark.parametrize("operation_id", sorted(CONTRACT))
def test_every_declared_parameter_appears(document, operation_id):
    method, path, _, query = CONTRACT[operation_id]
    parameters = document["paths"][path][method]["parameters"]
    in_query = {p["name"] for p in parameters if p["in"] == "query"}
    in_path = {p["name"] for p in parameters if p["in"] == "path"}
    as_of = {"as_of"} if method == "get" and operation_id != "StreamEvents" else set()  # every read but the stream
    assert in_query == query | as_of
    assert in_path == set(part[1:-1] for part in path.replace(":", "/").split("/") if part.startswith("{"))
    for parameter in parameters:
        if parameter["in"] == "path" or parameter["name"].endswith("_id") or parameter["name"] == "tags_ids":
            schema = parameter["schema"].get("items", parameter["schema"])
            assert schema == {"type": "string", "format": "uuid"}, parameter["name"]
        assert parameter["required"] is (
            parameter["in"] == "path"
            or parameter["name"] in {"execution_datetime", "benchmark_id", "flavor_id"}
            and operation_id == "CreateResult"
            or operation_id == "RestoreUser"  # one user: both halves of its key
        ), parameter["name"]


def test_query_parameter_types_follow_the_contract(document):
    listing = {p["name"]: p for p in document["paths"]["/results"]["get"]["parameters"]}
    assert listing["as_of"]["schema"] == {
        "oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "format": "date-time"}]
    }
    assert listing["per_page"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 100}
    assert listing["page"]["schema"] == {"type": "integer", "minimum": 1, "default": 1}
    assert listing["upload_before"]["schema"] == {"type": "string", "format": "date"}
    for repeated in ("tags_ids", "filters"):
        assert listing[repeated]["schema"]["type"] == "array"
        assert (listing[repeated]["style"], listing[repeated]["explode"]) == ("form", True)
    sites = {p["name"]: p for p in document["paths"]["/sites"]["get"]["parameters"]}
    assert sites["status"]["schema"] == {"type": "string", "enum": ["on_review", "approved"], "default": "approved"}
    create = {p["name"]: p for p in document["paths"]["/results"]["post"]["parameters"]}
    assert create["execution_datetime"]["schema"] == {"type": "string", "format": "date-time"}
    submits = {p["name"]: p for p in document["paths"]["/reports/submits"]["get"]["parameters"]}
    assert sorted(submits["resource_type"]["schema"]["enum"]) == ["benchmark", "claim", "flavor", "site"]


def test_public_operations_need_no_token_and_the_others_the_bearer(document):
    for _, _, operation in operations(document):
        access = CONTRACT[operation["operationId"]][2]
        if access == "public":
            assert operation["security"] == [], operation["operationId"]
        else:
            assert "security" not in operation, operation["operationId"]  # the global bearerAuth


def test_request_bodies_require_the_contract_fields(document):
    def body(path, method):
        return document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]

    assert set(body("/benchmarks", "post")["required"]) == {"docker_image", "docker_tag", "url", "json_schema"}
    assert set(body("/sites", "post")["required"]) == {"name", "address"}
    assert set(body("/results/{result_id}:claim", "post")["required"]) == {"message"}
    assert body("/benchmarks/{benchmark_id}", "put")["additionalProperties"] is False
    assert body("/results", "post")["type"] == "object"
    for path, method in (("/users:register", "post"), ("/benchmarks/{benchmark_id}:approve", "post")):
        assert "requestBody" not in document["paths"][path][method]


def test_the_document_is_public_and_ignores_tokens(api):
    answer = api.get("/api-spec.json", headers={"Authorization": "Bearer garbage"})
    assert answer.status_code == 200
    assert answer.json["info"]["title"] == "EOSC Performance API"


def test_links_lead_from_a_created_item_to_the_operations_on_it(document):
    """OpenAPI links: a client (and the stateful fuzzing) knows where the id of a new item goes."""
    by_id = {operation["operationId"]: (path, operation) for _, path, operation in operations(document)}
    add_flavor = by_id["CreateSite"][1]["responses"]["201"]["links"]["AddFlavor"]
    assert add_flavor == {"operationId": "AddFlavor", "parameters": {"site_id": "$response.body#/id"}}
    upload = by_id["AddFlavor"][1]["responses"]["201"]["links"]["CreateResult"]
    assert upload["parameters"] == {"query.flavor_id": "$response.body#/id"}
    links = set(by_id["ClaimReport"][1]["responses"]["201"]["links"])
    assert links == {"GetClaim", "ApproveClaim", "RejectClaim", "GetClaimHistory"}
    for source, (_, operation) in by_id.items():
        for status, response in operation["responses"].items():
            for link in response.get("links", {}).values():
                assert status == "201", source
                _, target = by_id[link["operationId"]]
                names = {f"{p['in']}.{p['name']}" if p["in"] == "query" else p["name"] for p in target["parameters"]}
                assert set(link["parameters"]) <= names, (source, link)
