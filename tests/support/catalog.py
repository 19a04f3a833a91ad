"""Builders of the API tests: catalog items (approved, or on review with the `submit_*` ones),
tags, uploads, claims, and a shared service for module-scoped fixtures.

Plain functions taking the `api` fixture and tokens; each asserts the write was accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count
from urllib.parse import quote

SCHEMA = {"type": "object"}  # any object: the JSON filter and sort tests need free documents
TIME_SCHEMA = {"type": "object", "properties": {"time": {"type": "number"}}}  # of the `submit_*` benchmarks
EXECUTED = "2024-01-01T10:00:00+00:00"
_serial = count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_serial)}"


def benchmark(api, user, admin, *, image=None, tag="1.0", schema=None, approved=True, **extra) -> dict:
    body = {
        "docker_image": unique("org/bench") if image is None else image,
        "docker_tag": tag,
        "url": "https://example.org/bench",
        "json_schema": SCHEMA if schema is None else schema,
        **extra,
    }
    answer = api.post("/benchmarks", user, json=body)
    assert answer.status_code == 201, answer.text
    if approved:
        approve(api, admin, "benchmarks", answer.json["id"])
    return answer.json


def site(api, user, admin, *, name=None, address="addr", approved=True, **extra) -> dict:
    answer = api.post(
        "/sites", user, json={"name": unique("site") if name is None else name, "address": address, **extra}
    )
    assert answer.status_code == 201, answer.text
    if approved:
        approve(api, admin, "sites", answer.json["id"])
    return answer.json


def flavor(api, user, admin, site_id, *, name=None, approved=True, **extra) -> dict:
    answer = api.post(f"/sites/{site_id}/flavors", user, json={"name": name or unique("flavor"), **extra})
    assert answer.status_code == 201, answer.text
    if approved:
        approve(api, admin, "flavors", answer.json["id"])
    return answer.json


def tag(api, token, name=None, **extra) -> dict:
    answer = api.post("/tags", token, json={"name": name or unique("tag"), **extra})
    assert answer.status_code == 201, answer.text
    return answer.json


def approve(api, admin, kind: str, id: str) -> None:
    answer = api.post(f"/{kind}/{id}:approve", admin)
    assert answer.status_code == 204, answer.text


@dataclass
class Setup:
    """An approved benchmark, site and flavor: what a result needs."""

    benchmark: dict
    site: dict
    flavor: dict


def setup(
    api, user, admin, *, schema=None, image=None, tag="1.0", site_name=None, address="addr", flavor_name=None
) -> Setup:
    the_site = site(api, user, admin, name=site_name, address=address)
    return Setup(
        benchmark(api, user, admin, schema=schema, image=image, tag=tag),
        the_site,
        flavor(api, user, admin, the_site["id"], name=flavor_name),
    )


def query_string(**arguments) -> str:
    """Repeated keys for list values; every value percent-encoded (`+` would be a space)."""
    parts = []
    for key, value in arguments.items():
        for one in value if isinstance(value, (list, tuple)) else [value]:
            parts.append(f"{key}={quote(str(one), safe='')}")
    return "&".join(parts)


def upload_answer(
    api, token, benchmark_id, flavor_id, document=None, *, executed=EXECUTED, tags=(), body=None, **extra
):
    """POST /results; `body` sends raw JSON text instead of `document`."""
    arguments = {"execution_datetime": executed, "benchmark_id": benchmark_id, "flavor_id": flavor_id}
    if tags:
        arguments["tags_ids"] = list(tags)
    arguments.update(extra)
    if body is not None:
        return api.post(
            "/results",
            token,
            body=body,
            headers={"Content-Type": "application/json"},
            query_string=query_string(**arguments),
        )
    return api.post(
        "/results", token, json={} if document is None else document, query_string=query_string(**arguments)
    )


def upload(api, token, where: Setup, document=None, **kwargs) -> dict:
    answer = upload_answer(api, token, where.benchmark["id"], where.flavor["id"], document, **kwargs)
    assert answer.status_code == 201, answer.text
    return answer.json


def claim(api, token, result_id, message="doubtful") -> dict:
    answer = api.post(f"/results/{result_id}:claim", token, json={"message": message})
    assert answer.status_code == 201, answer.text
    return answer.json


def listed(api, path="/results", token=None, **arguments) -> list[str]:
    """The ids a listing answers, in order (one page of up to 100)."""
    answer = api.get(path, token, query_string=query_string(**arguments))
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json["items"]]


def ids(page: dict) -> list[str]:
    return [item["id"] for item in page["items"]]


def names(page: dict, key: str = "name") -> list:
    return [item[key] for item in page["items"]]


def submit_benchmark(api, token, image=None, tag="1.0", **extra) -> dict:
    """A benchmark on review, whose schema wants `time` to be a number."""
    return benchmark(api, token, None, image=image, tag=tag, schema=TIME_SCHEMA, approved=False, **extra)


def submit_site(api, token, name=None, address="addr", **extra) -> dict:
    """A site on review."""
    return site(api, token, None, name=name, address=address, approved=False, **extra)


def add_flavor(api, token, site_id, name=None, **extra) -> dict:
    """A flavor on review."""
    return flavor(api, token, None, site_id, name=name, approved=False, **extra)


def result_setup(api, user, admin) -> tuple[dict, dict, dict]:
    """An approved benchmark (of TIME_SCHEMA), site and flavor uploaded by `user`, ready for results;
    submitted first, then approved."""
    the_benchmark = submit_benchmark(api, user)
    the_site = submit_site(api, user)
    the_flavor = add_flavor(api, user, the_site["id"])
    approve(api, admin, "benchmarks", the_benchmark["id"])
    approve(api, admin, "sites", the_site["id"])
    approve(api, admin, "flavors", the_flavor["id"])
    return the_benchmark, the_site, the_flavor


def upload_result(api, token, benchmark_id, flavor_id, document=None, **query) -> dict:
    """A result of `{"time": 1}` unless a document is given."""
    answer = upload_answer(api, token, benchmark_id, flavor_id, document or {"time": 1}, **query)
    assert answer.status_code == 201, answer.text
    return answer.json


def shared_service(data_dir, provider):
    """A service and its callers for module-scoped fixtures whose requests change nothing shared."""
    import falcon.testing

    from eosc_perf.embedded import build
    from tests.support.api import Api, Callers, service_settings

    service = build(service_settings(data_dir, provider))
    api = Api(service, falcon.testing.TestClient(service.app), provider)
    callers = Callers(
        anonymous=None,
        unregistered=api.token("nobody"),
        user=api.register("alice"),
        other=api.register("bob"),
        admin=api.register("root", admin=True),
    )
    return service, api, callers
