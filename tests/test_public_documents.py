"""One public JSON per resource (http_api/documents.py): the 201 of a write and the GET of the
same item are the same bytes, though the command service writes the first from aggregates and
the query service the second from the read tables."""

from __future__ import annotations

import json

from tests.support import catalog

DESCRIPTION = 'é ✓ 日本 "quoted" \\ \u2028 😀'
# A document with what a serialiser could write two ways: non-ASCII, escapes, -0.0, an integer
# past 64 bits, an exponent, an empty key, nesting.
DOCUMENT = {
    "time": 1.5,
    "zero": -0.0,
    "big": 2**70,
    "tiny": 1e-7,
    "huge": 1e300,
    "text": DESCRIPTION,
    "": [None, True, {"b": [], "a": {}}],
}


def id_of(text: str) -> str:
    return json.loads(text)["id"]


def created(api, token, path: str, **kwargs) -> str:
    answer = api.post(path, token, **kwargs)
    assert answer.status_code == 201, answer.text
    return answer.text


def read(api, path: str, token=None) -> str:
    answer = api.get(path, token)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_each_created_item_reads_back_byte_for_byte(api, callers):
    user, admin = callers.user, callers.admin
    body = {"docker_image": catalog.unique("org/bench"), "docker_tag": "1.0", "url": "https://example.org/b"}
    benchmark = created(
        api, user, "/benchmarks", json={**body, "json_schema": {"type": "object"}, "description": DESCRIPTION}
    )
    site = created(
        api, user, "/sites", json={"name": catalog.unique("site"), "address": "a", "description": DESCRIPTION}
    )
    flavor = created(api, user, f"/sites/{id_of(site)}/flavors", json={"name": catalog.unique("f"), "description": "ü"})
    tag_b = created(api, user, "/tags", json={"name": catalog.unique("b-tag"), "description": DESCRIPTION})
    tag_a = created(api, user, "/tags", json={"name": catalog.unique("a-tag")})
    ids = {"benchmark": id_of(benchmark), "site": id_of(site), "flavor": id_of(flavor)}
    catalog.approve(api, admin, "benchmarks", ids["benchmark"])
    catalog.approve(api, admin, "sites", ids["site"])
    catalog.approve(api, admin, "flavors", ids["flavor"])

    assert read(api, f"/benchmarks/{ids['benchmark']}") == benchmark
    assert read(api, f"/sites/{ids['site']}") == site
    assert read(api, f"/flavors/{ids['flavor']}") == flavor
    assert read(api, f"/tags/{id_of(tag_b)}") == tag_b
    assert read(api, f"/tags/{id_of(tag_a)}") == tag_a

    uploaded = catalog.upload_answer(
        api,
        user,
        ids["benchmark"],
        ids["flavor"],
        DOCUMENT,
        executed="2024-01-01T10:00:00.250000+02:00",
        tags=[id_of(tag_b), id_of(tag_a)],
    )
    assert uploaded.status_code == 201, uploaded.text
    assert read(api, f"/results/{uploaded.json['id']}") == uploaded.text

    claim = created(api, callers.other, f"/results/{uploaded.json['id']}:claim", json={"message": DESCRIPTION})
    assert read(api, f"/reports/claims/{id_of(claim)}", admin) == claim
