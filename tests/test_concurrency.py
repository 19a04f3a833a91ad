"""Uniqueness holds under concurrency (design §2.3): two identical creates racing each other
end with exactly one 201 and one 409, never two items and never a 500."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.support.catalog import TIME_SCHEMA as SCHEMA
from tests.support.catalog import names

ROUNDS = 4


def race(api, requests: list[tuple[str, str, str | None, dict | None]]) -> list:
    """Fires the requests at once: every thread waits at a barrier, then sends."""
    barrier = threading.Barrier(len(requests))

    def send(request):
        method, path, token, body = request
        barrier.wait(timeout=10)
        return api.request(method, path, token, json=body)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


def one_winner(answers, conflict: str) -> dict:
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 409], [answer.text for answer in answers]
    loser = next(answer for answer in answers if answer.status_code == 409)
    assert loser.json["errors"] == {"error": conflict}
    return next(answer for answer in answers if answer.status_code == 201).json


def test_racing_site_submissions_create_one_site(api, callers):
    for round in range(ROUNDS):
        name = f"raced-{round}"
        body = {"name": name, "address": "a"}
        site = one_winner(
            race(api, [("POST", "/sites", callers.user, body), ("POST", "/sites", callers.other, body)]),
            f"Site {name} already submitted/exists",
        )
        assert api.get("/sites", query_string=f"status=on_review&name={name}").json["items"] == [site]


def test_racing_tag_creations_create_one_tag(api, callers):
    for round in range(ROUNDS):
        body = {"name": f"tag-{round}"}
        tag = one_winner(
            race(api, [("POST", "/tags", callers.user, body), ("POST", "/tags", callers.other, body)]),
            f"Tag tag-{round} already submitted/exists",
        )
        assert api.get("/tags", query_string=f"name=tag-{round}").json["items"] == [tag]


def test_racing_benchmark_submissions_create_one_benchmark(api, callers):
    for round in range(ROUNDS):
        body = {"docker_image": "org/raced", "docker_tag": str(round), "url": "u", "json_schema": SCHEMA}
        benchmark = one_winner(
            race(api, [("POST", "/benchmarks", callers.user, body), ("POST", "/benchmarks", callers.other, body)]),
            f"Benchmark org/raced:{round} already submitted/exists",
        )
        query = f"status=on_review&docker_image=org/raced&docker_tag={round}"
        assert api.get("/benchmarks", query_string=query).json["items"] == [benchmark]


def test_racing_registrations_register_once(api):
    for round in range(ROUNDS):
        first, second = api.token(f"racer-{round}"), api.token(f"racer-{round}")
        user = one_winner(
            race(api, [("POST", "/users:register", first, None), ("POST", "/users:register", second, None)]),
            "User already submitted/exists",
        )
        assert api.get("/users/self", first).json == user


def test_racing_flavor_additions_create_one_flavor(api, callers):
    site = api.post("/sites", callers.user, json={"name": "s", "address": "a"}).json
    path = f"/sites/{site['id']}/flavors"
    flavor = one_winner(
        race(api, [("POST", path, callers.user, {"name": "f"}), ("POST", path, callers.other, {"name": "f"})]),
        "Flavor f already submitted/exists",
    )
    assert api.get(path, query_string="status=on_review").json["items"] == [flavor]


def test_racing_renames_onto_one_name_rename_one_site(api, callers):
    first = api.post("/sites", callers.user, json={"name": "first", "address": "a"}).json
    second = api.post("/sites", callers.user, json={"name": "second", "address": "a"}).json
    body = {"name": "wanted", "address": "a"}
    answers = race(
        api,
        [("PUT", f"/sites/{first['id']}", callers.admin, body), ("PUT", f"/sites/{second['id']}", callers.admin, body)],
    )
    assert sorted(answer.status_code for answer in answers) == [204, 409], [a.text for a in answers]
    listed = names(api.get("/sites", query_string="status=on_review&sort_by=%2Bname").json)
    assert listed.count("wanted") == 1 and len(listed) == 2
