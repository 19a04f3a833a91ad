"""Builders for results and claims tests: approved catalog items, tags, uploads, claims.

Plain functions taking the `api` fixture and tokens; each asserts the write was accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count
from urllib.parse import quote

SCHEMA = {"type": "object"}  # any object: the JSON filter and sort tests need free documents
EXECUTED = "2024-01-01T10:00:00+00:00"
_serial = count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_serial)}"


def benchmark(api, user, admin, *, image=None, tag="1.0", schema=None, approved=True, **extra) -> dict:
    body = {
        "docker_image": image or unique("org/bench"),
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
    answer = api.post("/sites", user, json={"name": name or unique("site"), "address": address, **extra})
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


def setup(api, user, admin, *, schema=None, image=None, tag="1.0", site_name=None, address="addr",
          flavor_name=None) -> Setup:
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


def upload_answer(api, token, benchmark_id, flavor_id, document=None, *, executed=EXECUTED, tags=(), body=None,
                  **extra):
    """POST /results; `body` sends raw JSON text instead of `document`."""
    arguments = {"execution_datetime": executed, "benchmark_id": benchmark_id, "flavor_id": flavor_id}
    if tags:
        arguments["tags_ids"] = list(tags)
    arguments.update(extra)
    if body is not None:
        return api.post("/results", token, body=body, headers={"Content-Type": "application/json"},
                        query_string=query_string(**arguments))
    return api.post("/results", token, json={} if document is None else document,
                    query_string=query_string(**arguments))


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
