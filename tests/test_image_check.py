"""The image check through the API (contract §5.1, design Q-14, issue 10 item 10), on both
deployments: the embedded service and a production stack with IMAGE_CHECK=on. Both ask the same
real local registries on 127.0.0.1: `listed` (the default registry, listed in IMAGE_REGISTRIES)
and `outsider` (listed nowhere), whose knobs each test sets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import falcon.testing
import pytest

from eosc_perf.embedded import build
from tests.support.api import ADMIN_ENTITLEMENT, BACKENDS, PROVIDER_TIMEOUT, Api, service_settings
from tests.support.catalog import TIME_SCHEMA as SCHEMA
from tests.support.container_registry import LocalRegistry
from tests.support.production_stack import HttpClient, ProductionStack

NOT_FOUND = "Could not validate container image: Error: manifest not found"
REFUSED = "Could not validate container image: Error: not authorized"
PULLING = "Could not validate container image: Error: pulling manifest"
DEADLINE = 2.0  # IMAGE_CHECK_SECONDS of both deployments here


@dataclass
class Registries:
    listed: LocalRegistry
    outsider: LocalRegistry

    def environment(self) -> dict[str, str]:
        return {
            "IMAGE_CHECK": "on",
            "IMAGE_REGISTRY_URL": self.listed.url,
            "IMAGE_REGISTRIES": self.listed.url,
            "IMAGE_CHECK_SECONDS": str(DEADLINE),
        }


@pytest.fixture(scope="module")
def started_registries() -> Iterator[Registries]:
    with LocalRegistry() as listed, LocalRegistry() as outsider:
        yield Registries(listed, outsider)


@pytest.fixture
def registries(started_registries) -> Registries:
    for registry in (started_registries.listed, started_registries.outsider):
        registry.reset()
    return started_registries


@pytest.fixture(scope="module")
def checked_stack(tmp_path_factory, identity_provider, started_registries) -> Iterator[ProductionStack]:
    stack = ProductionStack(
        tmp_path_factory.mktemp("checked-stack"),
        {
            "EOSC_PERF_ENV": "production",
            "TRUSTED_OP_LIST": identity_provider.issuer,
            "OIDC_TIMEOUT": str(PROVIDER_TIMEOUT),
            "ADMIN_ENTITLEMENTS": ADMIN_ENTITLEMENT,
            "MAIL_SERVER": "",
            **started_registries.environment(),
        },
    ).up()
    yield stack
    stack.down()


@pytest.fixture(params=BACKENDS)
def checked_api(request, tmp_path, identity_provider, registries) -> Iterator[Api]:
    """A deployment whose benchmarks are checked against the local registries."""
    if request.param == "embedded":
        settings = service_settings(
            tmp_path / "checked",
            identity_provider,
            image_check=True,
            image_registry_url=registries.listed.url,
            image_registries=(registries.listed.url,),
            image_check_seconds=DEADLINE,
        )
        service = build(settings)
        yield Api(service, falcon.testing.TestClient(service.app), identity_provider)
        service.close()
        return
    stack = request.getfixturevalue("checked_stack")
    fence = stack.reset()
    yield Api(None, HttpClient(stack.base_url, fence), identity_provider)


def body(image="org/img", tag="1.0") -> dict:
    return {"docker_image": image, "docker_tag": tag, "url": "https://example.org", "json_schema": SCHEMA}


def refusal(answer) -> tuple[int, dict]:
    return answer.status_code, answer.json


def refused_with(message: str) -> tuple[int, dict]:
    return 422, {"code": 422, "status": "Unprocessable Entity", "errors": {"error": message}}


def pending(api, admin) -> int:
    return api.get("/benchmarks", admin, query_string="status=on_review").json["total"]


def test_a_benchmark_image_must_exist_in_its_registry(checked_api, registries):
    token = checked_api.register("alice")
    registries.listed.add("org/img", "1.0")
    assert refusal(checked_api.post("/benchmarks", token, json=body("org/img", "2.0"))) == refused_with(NOT_FOUND)
    assert checked_api.post("/benchmarks", token, json=body("org/img", "1.0")).status_code == 201


def test_a_benchmark_update_is_checked_against_the_registry(checked_api, registries):
    token = checked_api.register("alice")
    admin = checked_api.register("root", admin=True)
    registries.listed.add("org/img", "1.0")
    registries.listed.add("org/img", "1.1")
    benchmark = checked_api.post("/benchmarks", token, json=body("org/img", "1.0")).json
    answer = checked_api.put(f"/benchmarks/{benchmark['id']}", admin, json=body("org/img", "9.9"))
    assert refusal(answer) == refused_with(NOT_FOUND)
    assert checked_api.put(f"/benchmarks/{benchmark['id']}", admin, json=body("org/img", "1.1")).status_code == 204
    assert checked_api.get(f"/benchmarks/{benchmark['id']}").json["docker_tag"] == "1.1"


def test_the_image_check_comes_after_body_validation(checked_api, registries):
    token = checked_api.register("alice")
    answer = checked_api.post("/benchmarks", token, json={"docker_image": "org/img"})
    assert answer.status_code == 422
    assert "json" in answer.json["errors"]
    assert registries.listed.request_count == 0


# --- what the check will not do (issue 10, item 10) ---------------------------------------------
def test_an_unlisted_registry_is_never_asked_and_open_and_closed_ports_look_alike(checked_api, registries):
    token = checked_api.register("alice")
    registries.outsider.add("org/img", "1.0")
    closed = LocalRegistry().start()
    closed_host = closed.host
    closed.stop()
    listed_port = registries.listed.host.split(":")[1]
    for host in (registries.outsider.host, closed_host, "169.254.169.254", f"localhost:{listed_port}"):
        assert refusal(checked_api.post("/benchmarks", token, json=body(f"{host}/org/img"))) == refused_with(REFUSED)
    assert registries.outsider.request_count == 0
    assert registries.listed.request_count == 0
    assert pending(checked_api, token) == 0


def test_a_redirect_off_the_registry_is_not_followed(checked_api, registries):
    token = checked_api.register("alice")
    registries.listed.add("org/img", "1.0")
    registries.outsider.add("org/img", "1.0")
    registries.listed.redirect_to(registries.outsider.url)
    assert refusal(checked_api.post("/benchmarks", token, json=body())) == refused_with(PULLING)
    assert registries.listed.request_count >= 1
    assert registries.outsider.request_count == 0


def test_a_token_realm_off_the_registry_is_not_asked(checked_api, registries):
    token = checked_api.register("alice")
    registries.listed.require_token = True
    registries.listed.realm = f"{registries.outsider.url}/token"
    registries.listed.add("org/img", "1.0")
    assert refusal(checked_api.post("/benchmarks", token, json=body())) == refused_with(PULLING)
    assert registries.outsider.request_count == 0
    registries.listed.realm = None  # its own token service: the same image passes
    assert checked_api.post("/benchmarks", token, json=body()).status_code == 201


def test_a_trickling_registry_cannot_hold_a_request_past_the_deadline(checked_api, registries):
    token = checked_api.register("alice")
    registries.listed.trickle()
    started = time.monotonic()
    answer = checked_api.post("/benchmarks", token, json=body())
    assert time.monotonic() - started < DEADLINE + 5  # generous: the point is that it ends
    assert refusal(answer) == refused_with(PULLING)
    assert pending(checked_api, token) == 0
