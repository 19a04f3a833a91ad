"""Who may call what (contract §1.1, §1.4, §2.3): every protected operation against every class
of caller, and the routing rules that come before any access check."""

from __future__ import annotations

import re
from itertools import count
from uuid import uuid4

import pytest

from http_api.operations import OPERATIONS, Operation
from tests.support.api import Api
from tests.support.catalog import approve, shared_service, submit_site

PROTECTED = [operation for operation in OPERATIONS if operation.access != "public"]
PUBLIC = [operation for operation in OPERATIONS if operation.access == "public"]
BAD_QUERY = "page=zero&per_page=0&no_such_argument=1"
_fresh = count(1)


@pytest.fixture(scope="module")
def shared(tmp_path_factory, identity_provider):
    """One service for the whole matrix: no request here changes anything a later one sees."""
    service, api, callers = shared_service(tmp_path_factory.mktemp("access") / "data", identity_provider)
    yield api, callers
    service.close()


def concrete(operation: Operation) -> str:
    """The operation's path with a random (unknown) UUID for every id."""
    return re.sub(r"\{\w+\}", lambda _: str(uuid4()), operation.path)


def call(api: Api, operation: Operation, token: str | None, **kwargs):
    """Every request carries an invalid body and invalid query: access is checked first."""
    return api.request(operation.method, concrete(operation), token, json=[], query_string=BAD_QUERY, **kwargs)


@pytest.mark.parametrize("operation", PROTECTED, ids=lambda o: o.operation_id)
def test_anonymous_callers_are_unauthenticated(shared, operation):
    api, _ = shared
    answer = call(api, operation, None)
    assert answer.status_code == 401, answer.text
    assert answer.json == {"error": "Unauthenticated", "error_description": "No authorization header"}
    for header in ("Basic abc", "Bearer not-a-jwt", "Bearer "):
        answer = call(api, operation, None, headers={"Authorization": header})
        assert answer.status_code == 401, header
        assert answer.json["error"] == "Unauthenticated"


@pytest.mark.parametrize("operation", PROTECTED, ids=lambda o: o.operation_id)
def test_unregistered_callers_are_forbidden_unless_a_token_suffices(shared, operation):
    api, callers = shared
    token = api.token(f"stranger-{next(_fresh)}") if operation.access == "token" else callers.unregistered
    answer = call(api, operation, token)
    if operation.access == "token":
        assert answer.status_code not in (401, 403), answer.text
    else:
        assert answer.status_code == 403, answer.text
        assert answer.json == {
            "error": "Forbidden",
            "error_description": f"User nobody@{api.provider.issuer} does not meet requirements",
            # The requirement of the operation's level, as the original names it (recorded answers).
            "error_details": f"Evaluation of: {'is_admin' if operation.access == 'admin' else 'is_registered'}",
        }


@pytest.mark.parametrize("operation", PROTECTED, ids=lambda o: o.operation_id)
def test_registered_callers_are_forbidden_admin_operations(shared, operation):
    api, callers = shared
    answer = call(api, operation, callers.user)
    if operation.access == "admin":
        assert answer.status_code == 403, answer.text
        assert answer.json == {
            "error": "Forbidden",
            "error_description": f"User alice@{api.provider.issuer} does not meet requirements",
            "error_details": "Evaluation of: is_admin",
        }
    else:
        assert answer.status_code not in (401, 403), answer.text


@pytest.mark.parametrize("operation", PROTECTED, ids=lambda o: o.operation_id)
def test_admins_pass_every_access_check(shared, operation):
    api, callers = shared
    answer = call(api, operation, callers.admin)
    assert answer.status_code not in (401, 403, 405), answer.text


@pytest.mark.parametrize("operation", PUBLIC, ids=lambda o: o.operation_id)
def test_public_operations_never_look_at_the_token(shared, operation):
    api, _ = shared
    path = concrete(operation)
    anonymous = api.request(operation.method, path)
    with_garbage = api.request(operation.method, path, headers={"Authorization": "Bearer garbage"})
    assert anonymous.status_code not in (401, 403)
    assert (with_garbage.status_code, seen(with_garbage)) == (anonymous.status_code, seen(anonymous))


def seen(answer) -> object:
    """What a caller learns from an answer: its JSON, or (the event stream) its media type."""
    media_type = answer.headers.get("content-type", "")
    return answer.json if media_type.startswith("application/json") else media_type


def test_every_operation_is_routed(shared):
    """No declared operation falls through to a 405 for an admin (a route without its handler)."""
    api, callers = shared
    for operation in OPERATIONS:
        answer = api.request(operation.method, concrete(operation), callers.admin)
        assert answer.status_code != 405, operation.operation_id


# --- routing before access ----------------------------------------------------------------------
BARE_404 = {"code": 404, "status": "Not Found"}
BARE_405 = {"code": 405, "status": "Method Not Allowed"}


@pytest.mark.parametrize("operation", [o for o in OPERATIONS if "_id}" in o.path], ids=lambda o: o.operation_id)
def test_a_path_id_that_is_not_a_uuid_is_not_found_before_any_access_check(shared, operation):
    api, _ = shared
    path = re.sub(r"\{\w+\}", "not-a-uuid", operation.path)
    answer = api.request(operation.method, path, json=[])
    assert answer.status_code == 404, answer.text
    assert answer.json == BARE_404


def test_a_trailing_slash_is_not_found(shared):
    api, callers = shared
    for path in ("/benchmarks/", "/users/self/", "/sites:search/"):
        answer = api.get(path, callers.admin)
        assert answer.status_code == 404, path
        assert answer.json == BARE_404
    assert api.post("/users:register/", api.token("slash")).status_code == 404


def test_an_unknown_path_is_not_found(shared):
    api, _ = shared
    answer = api.get("/no-such-thing")
    assert (answer.status_code, answer.json) == (404, BARE_404)


@pytest.mark.parametrize(
    "method, path",
    [
        ("PATCH", "/benchmarks"),
        ("DELETE", "/benchmarks"),
        ("POST", "/benchmarks:search"),
        ("GET", "/users:register"),
        ("PUT", "/users/self"),
        ("GET", "/sites/{id}:approve"),
        ("POST", "/flavors/{id}/site"),
        ("DELETE", "/reports/submits"),
        ("GET", "/results/{id}:claim"),
    ],
)
def test_a_wrong_method_is_not_allowed_with_a_bare_body(shared, method, path):
    api, callers = shared
    answer = api.request(method, path.replace("{id}", str(uuid4())), callers.admin)
    assert answer.status_code == 405, answer.text
    assert answer.json == BARE_405


def test_an_encoded_colon_routes_like_a_raw_one(api, callers):
    site = submit_site(api, callers.user, name="colon")
    raw = api.get("/sites:search", query_string="status=on_review").json
    encoded = api.get("/sites%3Asearch", query_string="status=on_review").json
    lower = api.get("/sites%3asearch", query_string="status=on_review").json
    assert raw == encoded == lower and raw["total"] == 1
    assert api.get("/users/self%3Atry_admin", callers.admin).status_code == 204
    assert api.post(f"/sites/{site['id']}%3Aapprove", callers.admin).status_code == 204
    assert api.get("/sites").json["items"] == [site]


def test_double_slashes_are_merged(api, callers):
    token = api.token("doubled")
    assert api.post("//users:register", token).status_code == 201
    assert api.get("/users//self", token).status_code == 200
    site = submit_site(api, callers.user)
    assert api.get(f"//sites//{site['id']}").json == site


def test_the_api_answers_under_the_proxy_prefix(api, callers):
    site = submit_site(api, callers.user)
    approve(api, callers.admin, "sites", site["id"])
    prefix = {"X-Script-Name": "/api/v1"}
    assert api.get("/api/v1/sites", headers=prefix).json["items"] == [site]
    assert api.get(f"/api/v1/sites/{site['id']}", headers=prefix).json == site
    assert api.get("/api/v1/users/self:try_admin", callers.admin, headers=prefix).status_code == 204
    assert api.post("/api/v1/tags", callers.user, json={"name": "t"}, headers=prefix).status_code == 201
    # root paths still work behind the proxy; the prefix means nothing without the header
    # (which the production proxy itself sends for /api/v1/, see deploy/nginx)
    assert api.get("/sites", headers=prefix).status_code == 200
    if api.service is not None:
        assert api.get("/api/v1/sites").status_code == 404


def test_no_cors_headers_are_sent(api):
    answer = api.get("/benchmarks", headers={"Origin": "https://elsewhere.example"})
    assert not [name for name in answer.headers if name.lower().startswith("access-control-")]
