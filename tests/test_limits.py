"""Input limits (docs/security.md, "Input limits"): every request is bounded before anything is
stored: the body's size (413), the lengths of its strings, the depth, keys and numbers of its
JSON, a schema's size (422), each answered in the API's error format; and the writes after a
refused one are served. Issue 10's poisons, written through the API, are among them.

On both deployments with the default limits; configured limits and the event-size check on the
embedded default (a deployment's limits are its settings)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import falcon.testing
import pytest

from configuration.settings import ConfigurationError, Limits, Settings
from configuration.stores import open_event_store
from domain.actor import Actor
from domain.envelope import MAX_EVENT_BYTES
from domain.tag import Tag
from eosc_perf.embedded import build
from http_api.errors import ApiError
from http_api.openapi import openapi_document
from tests.support import catalog
from tests.support.api import Api, service_settings

LIMITS = Limits()
JSON = {"Content-Type": "application/json"}


def refused(answer, status: int, errors) -> None:
    assert answer.status_code == status, answer.text[:500]
    assert answer.json == {"code": status, "status": ApiError.reason(status), "errors": errors}


def too_long(field: str, bound: int) -> dict:
    return {"json": {field: [f"Longer than maximum length {bound}."]}}


def nested(depth: int, key: str = "a", leaf=1):
    """An object `depth` levels deep: {key: {key: ... leaf}}."""
    document = leaf
    for _ in range(depth):
        document = {key: document}
    return document


def nested_text(depth: int, key: str = "a") -> str:
    """The JSON text of nested(depth, key), written out: json.dumps would recurse too deep."""
    return f'{{"{key}":' * depth + "1" + "}" * depth


def body_too_large(limits: Limits = LIMITS) -> dict:
    return {"error": f"The request body is larger than {limits.body_bytes} bytes"}


def document_error(text: str, path: str) -> dict:
    return {"error": text, "path": path}


def upload(api, token, where: catalog.Setup, document=None, *, body=None):
    return catalog.upload_answer(api, token, where.benchmark["id"], where.flavor["id"], document, body=body)


def total(api, path: str, token=None) -> int:
    return api.get(path, token).json["total"]


# -- the body -------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_and_stores_nothing(api, callers):
    body = json.dumps({"name": "big", "address": "a", "description": "x" * LIMITS.body_bytes})
    refused(api.post("/sites", callers.user, body=body, headers=JSON), 413, body_too_large())
    assert total(api, "/sites?status=on_review") == 0
    assert api.post("/sites", callers.user, json={"name": "next", "address": "a"}).status_code == 201


def test_a_body_just_within_the_limit_is_taken(api, callers):
    where = catalog.setup(api, callers.user, callers.admin)
    padding = LIMITS.body_bytes - len(json.dumps({"log": ""}))
    uploaded = upload(api, callers.user, where, {"log": "x" * padding})
    assert uploaded.status_code == 201, uploaded.text[:300]


# -- strings --------------------------------------------------------------------------------------


def test_names_longer_than_the_name_limit_are_refused_on_create_and_update(api, callers):
    long = "n" * (LIMITS.name_length + 1)
    refused(api.post("/tags", callers.user, json={"name": long}), 422, too_long("name", LIMITS.name_length))
    refused(
        api.post("/sites", callers.user, json={"name": long, "address": "a"}), 422, too_long("name", LIMITS.name_length)
    )
    site = api.post("/sites", callers.user, json={"name": "s", "address": "a"}).json
    refused(
        api.post(f"/sites/{site['id']}/flavors", callers.user, json={"name": long}),
        422,
        too_long("name", LIMITS.name_length),
    )
    benchmark = {"docker_image": "org/image", "docker_tag": "1.0", "url": "https://example.org", "json_schema": {}}
    for field in ("docker_image", "docker_tag"):
        refused(
            api.post("/benchmarks", callers.user, json={**benchmark, field: long}),
            422,
            too_long(field, LIMITS.name_length),
        )
    tag = api.post("/tags", callers.user, json={"name": "t"}).json
    flavor = api.post(f"/sites/{site['id']}/flavors", callers.user, json={"name": "f"}).json
    refused(
        api.put(f"/tags/{tag['id']}", callers.admin, json={"name": long}), 422, too_long("name", LIMITS.name_length)
    )
    refused(
        api.put(f"/sites/{site['id']}", callers.admin, json={"name": long, "address": "a"}),
        422,
        too_long("name", LIMITS.name_length),
    )
    refused(
        api.put(f"/flavors/{flavor['id']}", callers.admin, json={"name": long}),
        422,
        too_long("name", LIMITS.name_length),
    )
    assert [t["name"] for t in api.get("/tags").json["items"]] == ["t"]


def test_urls_and_free_texts_have_their_own_limits(api, callers):
    text = "t" * (LIMITS.text_length + 1)
    benchmark = {"docker_image": "org/image", "docker_tag": "1.0", "url": "https://example.org", "json_schema": {}}
    refused(
        api.post("/benchmarks", callers.user, json={**benchmark, "url": "u" * (LIMITS.url_length + 1)}),
        422,
        too_long("url", LIMITS.url_length),
    )
    refused(
        api.post("/benchmarks", callers.user, json={**benchmark, "description": text}),
        422,
        too_long("description", LIMITS.text_length),
    )
    answer = api.post("/sites", callers.user, json={"name": "n" * (LIMITS.name_length + 1), "address": text})
    refused(
        answer,
        422,
        {
            "json": {
                "name": [f"Longer than maximum length {LIMITS.name_length}."],
                "address": [f"Longer than maximum length {LIMITS.text_length}."],
            }
        },
    )
    where = catalog.setup(api, callers.user, callers.admin)
    result = catalog.upload(api, callers.user, where, {"score": 1})
    refused(
        api.post(f"/results/{result['id']}:claim", callers.other, json={"message": text}),
        422,
        too_long("message", LIMITS.text_length),
    )
    # At the limit, a text is kept as sent.
    claim = api.post(f"/results/{result['id']}:claim", callers.other, json={"message": text[1:]})
    assert claim.status_code == 201 and claim.json["message"] == text[1:]


def test_a_json_schema_over_its_size_is_refused(api, callers):
    schema = {"type": "object", "description": "d" * LIMITS.schema_bytes}
    answer = api.post(
        "/benchmarks",
        callers.user,
        json={"docker_image": "org/image", "docker_tag": "1.0", "url": "https://example.org", "json_schema": schema},
    )
    refused(answer, 422, {"json": {"json_schema": [f"Larger than maximum size {LIMITS.schema_bytes} bytes."]}})
    assert total(api, "/benchmarks?status=on_review") == 0


# -- documents ------------------------------------------------------------------------------------


def test_a_document_nested_deeper_than_the_limit_is_refused(api, callers):
    where = catalog.setup(api, callers.user, callers.admin)
    deepest = "$" + ".a" * LIMITS.json_depth
    refused(
        upload(api, callers.user, where, nested(LIMITS.json_depth + 1)),
        422,
        document_error(f"Nested deeper than {LIMITS.json_depth} levels", deepest),
    )
    refused(
        upload(api, callers.user, where, {"list": nested(LIMITS.json_depth - 2, leaf=[[]])}),
        422,
        document_error(
            f"Nested deeper than {LIMITS.json_depth} levels", "$.list" + ".a" * (LIMITS.json_depth - 2) + "[0]"
        ),
    )
    assert upload(api, callers.user, where, nested(LIMITS.json_depth)).status_code == 201


def test_too_many_keys_or_numbers_or_a_key_too_long_are_refused(api, callers):
    where = catalog.setup(api, callers.user, callers.admin)
    many_keys = {"k": {str(i): "v" for i in range(LIMITS.json_keys)}}
    refused(
        upload(api, callers.user, where, many_keys), 422, document_error(f"More than {LIMITS.json_keys} keys", "$.k")
    )
    many_numbers = {"series": [1.5] * (LIMITS.json_numbers + 1)}
    refused(
        upload(api, callers.user, where, many_numbers),
        422,
        document_error(f"More than {LIMITS.json_numbers} numbers", f"$.series[{LIMITS.json_numbers}]"),
    )
    long_key = "k" * (LIMITS.key_length + 1)
    refused(
        upload(api, callers.user, where, {"m": {long_key: 1}}),
        422,
        document_error(f"A key is longer than {LIMITS.key_length} characters: {long_key[:40]!r}...", "$.m"),
    )
    assert total(api, "/results") == 0
    within = {"series": [1.5] * (LIMITS.json_numbers - 1), "k" * LIMITS.key_length: 1}
    assert upload(api, callers.user, where, within).status_code == 201


def test_the_event_stores_own_shape_is_refused_in_any_body(api, callers):
    """An object of exactly `_type_` and `_data_` is how the event store writes its own values:
    stored in a document, it could never be read back (every later write failed with a 500)."""
    where = catalog.setup(api, callers.user, callers.admin)
    reserved = "An object of exactly the keys _type_ and _data_ cannot be stored (the event store reserves that shape)"
    for shape in ({"_type_": "uuid_hex", "_data_": "0" * 32}, {"_data_": 1, "_type_": "unknown"}):
        refused(upload(api, callers.user, where, {"x": [shape]}), 422, document_error(reserved, "$.x[0]"))
    schema = {"type": "object", "properties": {"_type_": {"_type_": "a", "_data_": "b"}}}
    answer = api.post(
        "/benchmarks",
        callers.user,
        json={"docker_image": "org/image", "docker_tag": "2.0", "url": "https://example.org", "json_schema": schema},
    )
    refused(answer, 422, document_error(reserved, "$.json_schema.properties._type_"))
    kept = {"_type_": "uuid_hex", "_data_": "0" * 32, "note": "a third key: an ordinary object"}
    uploaded = upload(api, callers.user, where, kept)
    assert uploaded.status_code == 201
    assert api.get(f"/results/{uploaded.json['id']}").json["json"] == kept


# -- issue 10's poisons, through the API ------------------------------------------------------------

# (path or "result", the body as sent)
POISONS = {
    "tag name of 8,000 characters": lambda where: ("/tags", json.dumps({"name": "t" * 8000})),
    "site name of 8,000 characters": lambda where: ("/sites", json.dumps({"name": "s" * 8000, "address": "a"})),
    "flavor name of 8,000 characters": lambda where: (
        f"/sites/{where.site['id']}/flavors",
        json.dumps({"name": "f" * 8000}),
    ),
    "benchmark image of 8,000 characters": lambda where: (
        "/benchmarks",
        json.dumps({"docker_image": "i" * 8000, "docker_tag": "1", "url": "https://example.org", "json_schema": {}}),
    ),
    "a number under a key of 8,000 characters": lambda where: ("result", json.dumps({"k" * 8000: 1})),
    "0.33 MB, 800 levels with long keys": lambda where: ("result", nested_text(800, key="k" * 400)),
    "4 MB of 1e15": lambda where: ("result", '{"n":[' + ",".join(["1e15"] * 800_000) + "]}"),
    "950 levels": lambda where: ("result", nested_text(950)),
    "a string of 50 MiB": lambda where: ("result", json.dumps({"log": "x" * 50 * 2**20})),
}


@pytest.mark.parametrize("poison", POISONS)
def test_each_poison_of_issue_10_is_refused_and_the_next_writes_are_served(api, callers, poison):
    where = catalog.setup(api, callers.user, callers.admin)
    path, body = POISONS[poison](where)
    if path == "result":
        answer = upload(api, callers.user, where, body=body)
    else:
        answer = api.post(path, callers.user, body=body, headers=JSON)
    # nginx (production) refuses bodies over 10 MiB itself, with a 413 in the same format
    assert answer.status_code == (413 if len(body) > LIMITS.body_bytes else 422), answer.text[:300]
    assert set(answer.json) == {"code", "status", "errors"}
    assert total(api, "/results") == 0
    assert api.post("/tags", callers.user, json={"name": "after"}).status_code == 201
    assert catalog.upload(api, callers.user, where, {"score": 1})["json"] == {"score": 1}
    assert [t["name"] for t in api.get("/tags").json["items"]] == ["after"]


# -- configured limits (embedded default) -------------------------------------------------------------


@pytest.fixture
def embedded_with(tmp_path: Path, identity_provider):
    """An embedded service built with the given limits."""
    built = []

    def make(limits: Limits) -> Api:
        service = build(service_settings(tmp_path / f"data-{len(built)}", identity_provider, limits=limits))
        built.append(service)
        return Api(service, falcon.testing.TestClient(service.app), identity_provider)

    yield make
    for service in built:
        service.close()


def test_limits_come_from_the_settings_and_the_api_document_states_them(embedded_with):
    limits = Limits(name_length=10, body_bytes=1000, json_depth=3)
    api = embedded_with(limits)
    user = api.register("alice")
    refused(api.post("/tags", user, json={"name": "n" * 11}), 422, too_long("name", 10))
    assert api.post("/tags", user, json={"name": "n" * 10}).status_code == 201
    refused(
        api.post("/tags", user, body=json.dumps({"name": "n", "description": "d" * 1000}), headers=JSON),
        413,
        body_too_large(limits),
    )
    refused(
        api.post("/tags", user, json={"name": "deep", "x": [[[]]]}),
        422,
        document_error("Nested deeper than 3 levels", "$.x[0][0]"),
    )
    body = api.get("/api-spec.json").json["paths"]["/tags"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["properties"]["name"]["maxLength"] == 10


def test_the_default_api_document_states_the_default_limits():
    document = openapi_document()
    site = document["paths"]["/sites"]["post"]
    properties = site["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert (properties["name"]["maxLength"], properties["address"]["maxLength"]) == (
        LIMITS.name_length,
        LIMITS.text_length,
    )
    assert "413" in site["responses"]


def test_limits_are_read_from_the_environment():
    limits = Settings.from_env({"MAX_BODY_BYTES": "2048", "MAX_NAME_LENGTH": " 64 ", "MAX_JSON_NUMBERS": ""}).limits
    assert (limits.body_bytes, limits.name_length, limits.json_numbers) == (2048, 64, LIMITS.json_numbers)
    for wrong in ("many", "0", "-1", "1.5"):
        with pytest.raises(ConfigurationError, match="MAX_JSON_DEPTH"):
            Settings.from_env({"MAX_JSON_DEPTH": wrong})


def test_an_event_too_large_to_publish_is_refused_at_the_write(embedded_with):
    """With limits raised far enough, 4.3 MB of `1e15` (stored as `1000000000000000.0`) would make
    an event of over 16 MiB: no relay could publish it. The command side measures each event
    before it saves it."""
    api = embedded_with(Limits(body_bytes=32 * 2**20, json_numbers=10**7))
    user, admin = api.register("alice"), api.register("root", admin=True)
    where = catalog.setup(api, user, admin)
    head = api.service.store.recorder.max_notification_id()
    answer = upload(api, user, where, body='{"n":[' + ",".join(["1e15"] * 860_000) + "]}")
    assert answer.status_code == 413, answer.text[:300]
    assert answer.json["errors"]["error"].endswith(f"events are at most {MAX_EVENT_BYTES} bytes")
    assert api.service.store.recorder.max_notification_id() == head
    assert catalog.upload(api, user, where, {"n": [1e15] * 1000})["json"]["n"][0] == 1e15


def test_the_postgresql_event_store_writes_events_of_many_mib_without_stalling(production_stack):
    """psycopg's pipeline mode left the end of a large insert unsent, sometimes from 8 MiB on:
    the server waited for it for ever, and every other write for the events table's lock
    (configuration/stores.py writes without the pipeline)."""
    store = open_event_store(production_stack.database_url, create_tables=False)
    for size in (8, 12, 16, 12, 16):
        tag = Tag(name="x" * size * 2**20, description=None, actor=Actor("a", "b"))
        writer = threading.Thread(target=store.save, args=(tag,), daemon=True)  # a stalled one must not hold pytest
        writer.start()
        writer.join(timeout=60)
        assert not writer.is_alive(), f"the write of {size} MiB stalled"
        assert store.repository.get(tag.id).name == tag.name
