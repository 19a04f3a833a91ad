"""What the command side keeps between requests never makes it decide on stale state.

A worker keeps compiled validators per benchmark version and constructed signing keys, and any
cache of loaded aggregates would join them. Each test first lets a worker fill its caches with an
accepted upload, then changes the catalog or the users through another worker, and checks that
the first worker's next upload is decided on the change.

Two command workers in one process: `two_workers` builds the embedded service (worker A) and a
second command app over the same SQLite event store with its own EventStore application and token
verifier (worker B, as a second gunicorn worker would have). The multi-process case, the production topology's
gunicorn workers, runs over HTTP in `test_uploads_across_gunicorn_workers_see_a_deletion`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import falcon.testing
import pytest
from jose import jwk

from configuration.stores import open_event_store
from eosc_perf.apps import build_command_app
from eosc_perf.embedded import build
from identity.tokens import ConstructedKeys
from read_model import read_store
from tests.support import catalog
from tests.support.api import Api, service_settings
from tests.support.oidc_provider import LocalOpenIDProvider

TIME_SCHEMA = {"type": "object", "properties": {"time": {"type": "integer"}}, "required": ["time"]}
TEXT_SCHEMA = {"type": "object", "properties": {"time": {"type": "string"}}, "required": ["time"]}


@dataclass
class Workers:
    a: Api
    b: Api
    user: str
    admin: str
    where: catalog.Setup


@pytest.fixture
def two_workers(tmp_path: Path, identity_provider: LocalOpenIDProvider) -> Iterator[Workers]:
    settings = service_settings(tmp_path / "data", identity_provider)
    service = build(settings)
    store = open_event_store(settings.event_store)
    engine = read_store.connect(settings.read_store)
    # Worker B's writes are projected by the same follower as A's: reads through A see them.
    app = build_command_app(settings, store, engine, on_saved=lambda position: service.projection.catch_up())
    a = Api(service, falcon.testing.TestClient(service.app), identity_provider)
    b = Api(None, falcon.testing.TestClient(app), identity_provider)
    user, admin = a.register("alice"), a.register("root", admin=True)
    where = catalog.setup(a, user, admin, schema=TIME_SCHEMA)
    catalog.upload(a, user, where, {"time": 1})  # A's caches now hold the catalog, the user, the key
    yield Workers(a, b, user, admin, where)
    service.close()
    engine.dispose()


def refusal(answer) -> tuple[int, str]:
    return answer.status_code, answer.json["errors"]["error"]


def upload_through_a(workers: Workers, document=None, **kwargs):
    where = workers.where
    return catalog.upload_answer(
        workers.a, workers.user, where.benchmark["id"], where.flavor["id"], document or {"time": 2}, **kwargs
    )


def test_a_benchmark_deleted_by_another_worker_is_gone(two_workers):
    benchmark_id = two_workers.where.benchmark["id"]
    assert two_workers.b.delete(f"/benchmarks/{benchmark_id}", two_workers.admin).status_code == 204
    assert refusal(upload_through_a(two_workers)) == (404, f"Benchmark {benchmark_id} not in database")


def test_a_flavor_deleted_by_another_worker_is_gone(two_workers):
    flavor_id = two_workers.where.flavor["id"]
    assert two_workers.b.delete(f"/flavors/{flavor_id}", two_workers.admin).status_code == 204
    assert refusal(upload_through_a(two_workers)) == (404, f"Flavor {flavor_id} not in database")


def test_a_site_deleted_by_another_worker_takes_its_flavors(two_workers):
    site_id, flavor_id = two_workers.where.site["id"], two_workers.where.flavor["id"]
    assert two_workers.b.delete(f"/sites/{site_id}", two_workers.admin).status_code == 204
    assert refusal(upload_through_a(two_workers)) == (404, f"Flavor {flavor_id} not in database")


def test_a_tag_deleted_by_another_worker_is_gone(two_workers):
    tag = catalog.tag(two_workers.a, two_workers.user)
    catalog.upload(two_workers.a, two_workers.user, two_workers.where, {"time": 3}, tags=[tag["id"]])
    assert two_workers.b.delete(f"/tags/{tag['id']}", two_workers.admin).status_code == 204
    answer = upload_through_a(two_workers, tags=[tag["id"]])
    assert refusal(answer) == (404, f"Tag {tag['id']} not in database")


def test_a_user_removed_by_another_worker_can_no_longer_upload(two_workers):
    removed = two_workers.b.post("/users:remove", two_workers.admin, query_string="email=alice@example.org")
    assert removed.status_code == 204
    answer = upload_through_a(two_workers)
    assert answer.status_code == 403
    assert answer.json == two_workers.a.get("/users/self/results", two_workers.user).json  # the same 403 body


def test_a_user_removed_by_another_worker_is_refused_before_their_request_is_parsed(two_workers):
    """The contract's order: the 403 of an unregistered caller comes before a 422 of the query,
    though worker A admitted the caller from its copy."""
    incomplete = two_workers.a.post("/results", two_workers.user)  # no benchmark, flavor or date
    assert incomplete.status_code == 422
    removed = two_workers.b.post("/users:remove", two_workers.admin, query_string="email=alice@example.org")
    assert removed.status_code == 204
    answer = two_workers.a.post("/results", two_workers.user)
    assert answer.status_code == 403
    assert answer.json["error_details"] == "Evaluation of: is_registered"


def test_an_admin_removed_by_another_worker_is_refused_as_the_gate_refuses_and_nothing_changes(two_workers):
    """Worker A admits the caller from its copy; the command finds the removal and answers the
    gate's 403 for an admin operation."""
    a, site_id = two_workers.a, two_workers.where.site["id"]
    boss = a.register("boss", admin=True)
    kept = a.post(f"/sites/{site_id}:approve", boss)  # already approved: refused, and boss is kept by A
    assert kept.status_code == 422, kept.text
    removed = two_workers.b.post("/users:remove", two_workers.admin, query_string="email=boss@example.org")
    assert removed.status_code == 204
    answer = a.delete(f"/sites/{site_id}", boss)
    assert answer.status_code == 403
    assert answer.json == {
        "error": "Forbidden",
        "error_description": f"User boss@{a.provider.issuer} does not meet requirements",
        "error_details": "Evaluation of: is_admin",
    }
    assert a.get(f"/sites/{site_id}").status_code == 200


def test_the_catalog_of_a_user_removed_by_another_worker_stays_usable(two_workers):
    """The catalog's items are carol's: removing her leaves them to everyone else (design §6),
    for every worker."""
    uploader = two_workers.a.register("carol")
    where = catalog.setup(two_workers.a, uploader, two_workers.admin, schema=TIME_SCHEMA)
    catalog.upload(two_workers.a, two_workers.user, where, {"time": 4})
    removed = two_workers.b.post("/users:remove", two_workers.admin, query_string="email=carol@example.org")
    assert removed.status_code == 204
    answer = catalog.upload_answer(
        two_workers.a, two_workers.user, where.benchmark["id"], where.flavor["id"], {"time": 5}
    )
    assert answer.status_code == 201, answer.text


def test_a_schema_changed_by_another_worker_judges_the_next_upload(two_workers):
    benchmark = two_workers.where.benchmark
    body = {key: benchmark[key] for key in ("docker_image", "docker_tag", "url")} | {"json_schema": TEXT_SCHEMA}
    assert two_workers.b.put(f"/benchmarks/{benchmark['id']}", two_workers.admin, json=body).status_code == 204
    assert refusal(upload_through_a(two_workers, {"time": 6})) == (422, "6 is not of type 'string'")
    assert upload_through_a(two_workers, {"time": "six"}).status_code == 201


def test_a_benchmark_approved_by_another_worker_accepts_uploads(two_workers):
    """The other direction: a refusal is not cached either."""
    on_review = catalog.benchmark(two_workers.a, two_workers.user, two_workers.admin, approved=False)
    flavor_id = two_workers.where.flavor["id"]
    answer = catalog.upload_answer(two_workers.a, two_workers.user, on_review["id"], flavor_id, {})
    assert refusal(answer) == (422, f"Benchmark {on_review['id']} not approved")
    catalog.approve(two_workers.b, two_workers.admin, "benchmarks", on_review["id"])
    assert catalog.upload_answer(two_workers.a, two_workers.user, on_review["id"], flavor_id, {}).status_code == 201


def test_uploads_across_gunicorn_workers_see_a_deletion(api, callers):
    """Several concurrent connections, so that every worker of the service serves some uploads,
    before and after the deletion."""
    where = catalog.setup(api, callers.user, callers.admin, schema=TIME_SCHEMA)

    def uploads(count: int) -> list[int]:
        def one(index: int) -> int:
            return catalog.upload_answer(
                api, callers.user, where.benchmark["id"], where.flavor["id"], {"time": index}
            ).status_code

        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(one, range(count)))

    assert uploads(12) == [201] * 12
    assert api.delete(f"/benchmarks/{where.benchmark['id']}", callers.admin).status_code == 204
    assert uploads(12) == [404] * 12


def test_constructed_keys_are_reused_until_the_jwk_changes(identity_provider):
    keys = ConstructedKeys(capacity=2)
    jwk_dict = identity_provider.jwks()["keys"][0]
    first = keys.key(jwk_dict, "RS256")
    assert isinstance(first, jwk.Key)
    assert keys.key(dict(jwk_dict), "RS256") is first
    with LocalOpenIDProvider() as other:  # another key published under the same kid
        replaced = {**other.jwks()["keys"][0], "kid": jwk_dict.get("kid")}
    assert keys.key(replaced, "RS256") is not first
    assert keys.key(replaced, "RS256").to_dict()["n"] == replaced["n"]
