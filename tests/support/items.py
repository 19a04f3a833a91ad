"""Helpers that create catalog items through the API and assert they were accepted."""

from __future__ import annotations

from itertools import count

SCHEMA = {"type": "object", "properties": {"time": {"type": "number"}}}
_serial = count(1)


def submit_benchmark(api, token, image=None, tag="1.0", **extra) -> dict:
    body = {
        "docker_image": f"org/bench-{next(_serial)}" if image is None else image,
        "docker_tag": tag,
        "url": "https://example.org/bench",
        "json_schema": SCHEMA,
        **extra,
    }
    answer = api.post("/benchmarks", token, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json


def submit_site(api, token, name=None, address="addr", **extra) -> dict:
    name = f"site-{next(_serial)}" if name is None else name
    answer = api.post("/sites", token, json={"name": name, "address": address, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json


def add_flavor(api, token, site_id, name=None, **extra) -> dict:
    answer = api.post(f"/sites/{site_id}/flavors", token, json={"name": name or f"flavor-{next(_serial)}", **extra})
    assert answer.status_code == 201, answer.text
    return answer.json


def create_tag(api, token, name=None, **extra) -> dict:
    answer = api.post("/tags", token, json={"name": name or f"tag-{next(_serial)}", **extra})
    assert answer.status_code == 201, answer.text
    return answer.json


def approve(api, admin, kind: str, id: str) -> None:
    answer = api.post(f"/{kind}/{id}:approve", admin)
    assert answer.status_code == 204, answer.text


def upload_result(api, token, benchmark_id, flavor_id, document=None, **query) -> dict:
    query_string = "&".join(
        [
            "execution_datetime=2024-01-01T10:00:00%2B00:00",
            f"benchmark_id={benchmark_id}",
            f"flavor_id={flavor_id}",
            *(f"{key}={value}" for key, value in query.items()),
        ]
    )
    answer = api.post("/results", token, json=document or {"time": 1}, query_string=query_string)
    assert answer.status_code == 201, answer.text
    return answer.json


def result_setup(api, user, admin) -> tuple[dict, dict, dict]:
    """An approved benchmark, site and flavor uploaded by `user`, ready for results."""
    benchmark = submit_benchmark(api, user)
    site = submit_site(api, user)
    flavor = add_flavor(api, user, site["id"])
    approve(api, admin, "benchmarks", benchmark["id"])
    approve(api, admin, "sites", site["id"])
    approve(api, admin, "flavors", flavor["id"])
    return benchmark, site, flavor


def names(page: dict, key: str = "name") -> list:
    return [item[key] for item in page["items"]]


def shared_service(data_dir, provider):
    """A service and its callers for module-scoped fixtures whose requests change nothing shared."""
    import falcon.testing

    from eosc_perf.embedded import build
    from tests.conftest import Api, Callers, service_settings

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
