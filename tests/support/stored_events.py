"""Frozen stored events: every event class of the domain as the recorder stores it, in one log
(tests/fixtures/stored_events/log.json), so no later change can silently break an old store.

The log was written once, by running this module (`python -m tests.support.stored_events FILE`):
it drives a fresh embedded service through a scenario that makes every event class, adds the
forms older code stored (`User.Removed` version 1) and writes each stored event with the
envelope its decoding gave then (`expected`). Never rewrite the `stored` part of an entry: it is
what old stores hold. A new event class: run the module into a scratch file, copy the new
class's entries over. A new class version: an upcaster, and the old entries' `expected`
envelopes gain the upcast fields by hand.

The log's user events hold their e-mail addresses in plain, as stored before crypto-shredding
(domain/personal_data.py); their sealed forms, with the keys that open them, are frozen apart in
sealed.json (`python -m tests.support.stored_events --sealed FILE`), never rewritten either.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import json
import pkgutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import falcon.testing
from eventsourcing.domain import Aggregate, _created_event_classes
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

import domain
from domain.actor import Actor
from domain.envelope import envelope
from domain.legacy_import import LegacyImport
from domain.personal_data import PERSONAL_TOPICS
from domain.review import ReviewedItem
from domain.user import User

LOG = Path(__file__).parent.parent / "fixtures" / "stored_events" / "log.json"
# The sealed forms of the events that hold personal data, with the keys that open them.
SEALED = LOG.with_name("sealed.json")


def stored_event_classes() -> dict[str, int]:
    """Topic -> class version of every event class the domain stores: each aggregate's event
    classes but the `Event` base, the library's default `Created` where `__init__` names its
    event otherwise, and the abstract `ReviewedItem`'s (each subclass stores its own copies)."""
    found = {}
    for module_info in pkgutil.iter_modules(domain.__path__):
        module = importlib.import_module(f"{domain.__name__}.{module_info.name}")
        for aggregate in vars(module).values():
            if not (
                inspect.isclass(aggregate)
                and issubclass(aggregate, Aggregate)
                and aggregate.__module__ == module.__name__
                and aggregate is not ReviewedItem
            ):
                continue
            [first] = _created_event_classes[aggregate]  # the class of the event __init__ makes
            for name in dir(aggregate):
                value = getattr(aggregate, name)
                if (
                    inspect.isclass(value)
                    and issubclass(value, Aggregate.Event)
                    and name != "Event"
                    and (name != "Created" or value is first)
                ):
                    found[get_topic(value)] = getattr(value, "class_version", 1)
    return found


def load() -> list[dict]:
    return json.loads(LOG.read_text())


def as_stored(entry: dict) -> StoredEvent:
    stored = entry["stored"]
    return StoredEvent(
        UUID(stored["originator_id"]), stored["originator_version"], stored["topic"], stored["state"].encode()
    )


def store_removal_of_version_1(service, sub: str, iss: str, admin: Actor) -> None:
    """Appends `User.Removed` as the code before the ban stored it: no `catalog_kept`, no
    `class_version` in its state."""
    user_id = User.create_id(sub, iss)
    user = service.store.repository.get(user_id)
    user.remove(admin)
    [event] = user.collect_events()
    stored = service.store.mapper.to_stored_event(event)
    state = json.loads(stored.state)
    assert state.pop("class_version") == 2 and state.pop("catalog_kept") is True
    old = StoredEvent(stored.originator_id, stored.originator_version, stored.topic, json.dumps(state).encode())
    service.store.recorder.insert_events([old])
    service.projection.catch_up()


def _ok(answer, status: int):
    assert answer.status_code == status, answer.text
    return answer.json


def scenario(api) -> None:
    """Every command of the contract that stores an event class, once or more."""
    from tests.support import catalog

    issuer = api.provider.issuer
    admin = api.register("admin", admin=True)
    alice, bob = api.register("alice"), api.register("bob")
    where = catalog.setup(api, alice, admin)
    benchmark, site, flavor = where.benchmark["id"], where.site["id"], where.flavor["id"]
    b = where.benchmark
    _ok(
        api.put(
            f"/benchmarks/{benchmark}",
            admin,
            json={
                "docker_image": b["docker_image"],
                "docker_tag": b["docker_tag"],
                "url": b["url"],
                "json_schema": b["json_schema"],
                "description": "updated",
            },
        ),
        204,
    )
    _ok(api.put(f"/flavors/{flavor}", admin, json={"name": where.flavor["name"], "description": "updated"}), 204)
    for kind, made in (
        ("benchmarks", catalog.benchmark(api, bob, admin, approved=False)),
        ("sites", catalog.site(api, bob, admin, approved=False)),
        ("flavors", catalog.flavor(api, bob, admin, site, approved=False)),
    ):
        _ok(api.post(f"/{kind}/{made['id']}:reject", admin), 204)
    for kind, made in (
        ("flavors", catalog.flavor(api, bob, admin, site)),
        ("benchmarks", catalog.benchmark(api, bob, admin)),
        ("sites", catalog.site(api, bob, admin)),
    ):
        _ok(api.delete(f"/{kind}/{made['id']}", admin), 204)
    tag = catalog.tag(api, alice)
    _ok(api.put(f"/tags/{tag['id']}", admin, json={"name": catalog.unique("renamed"), "description": "d"}), 204)
    kept_tag = catalog.tag(api, alice)
    result = catalog.upload(api, alice, where, {"time": 1.5}, tags=[tag["id"], kept_tag["id"]])
    _ok(api.put(f"/results/{result['id']}/tags", alice, json={"tags_ids": [kept_tag["id"]]}), 204)
    _ok(api.delete(f"/tags/{tag['id']}", admin), 204)
    dismissed = catalog.claim(api, bob, result["id"])
    _ok(api.post(f"/reports/claims/{dismissed['id']}:reject", admin), 204)  # ClaimDismissed, Restored
    approved = catalog.claim(api, bob, result["id"])
    _ok(api.post(f"/reports/claims/{approved['id']}:approve", admin), 204)
    deleted = catalog.upload(api, alice, where, {"time": 2})
    _ok(api.delete(f"/results/{deleted['id']}", admin), 204)
    pending = catalog.site(api, bob, admin, approved=False)
    # A rename releases the old name's key and reserves the new one; renaming back reserves again.
    original = where.site["name"]
    for name in (catalog.unique("moved"), original):
        _ok(api.put(f"/sites/{site}", admin, json={"name": name, "address": "addr", "description": "updated"}), 204)
    _ok(api.post("/users/self:update", api.token("bob", email="bob@new.example.org")), 204)
    carol = api.register("carol")
    catalog.site(api, carol, admin)
    store_removal_of_version_1(api.service, "carol", issuer, Actor("admin", issuer))
    _ok(api.post(f"/users:remove?sub=bob&iss={issuer}", admin), 204)
    _ok(api.post(f"/users:restore?sub=bob&iss={issuer}", admin), 204)
    _ok(api.client.simulate_post("/users:register", headers=api.headers(api.token("bob"))), 201)  # RegisteredAgain
    _legacy_import(api.service.store, UUID(pending["id"]))
    # No command deletes a claim today (a rejected one is its end), but the class exists, inherited
    # from ReviewedItem, so a later command could store it: its stored form is frozen too.
    claim = api.service.store.repository.get(UUID(approved["id"]))
    claim.delete(Actor("admin", issuer))
    api.service.store.save(claim)
    api.service.projection.catch_up()


def _legacy_import(store, pending_site: UUID) -> None:
    """An import's own events as the importer saves them (tests/test_legacy_import.py runs real
    imports; here the events alone): its start, an empty batch, a submit date, the completion."""
    from datetime import datetime, timezone

    record = LegacyImport("postgresql://legacy@db/eosc", "a1b2c3", "operator@host")
    record.batch_imported(phase="sites", last_key=["2024-01-01T00:00:00", "x"], events=0)
    record.submits_dated({str(pending_site): datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)})
    record.complete(rows={"site": 1}, findings={})
    store.save(record)


@contextmanager
def _serving():
    """A fresh embedded service behind a test client."""
    from eosc_perf.embedded import build
    from tests.support.api import CLIENT_ID, Api, service_settings
    from tests.support.oidc_provider import LocalOpenIDProvider

    with LocalOpenIDProvider(audience=CLIENT_ID) as provider, tempfile.TemporaryDirectory() as folder:
        service = build(service_settings(Path(folder), provider))
        try:
            yield Api(service, falcon.testing.TestClient(service.app), provider)
        finally:
            service.close()


def _entries(store, topics: frozenset[str] | None = None) -> list[dict]:
    """Each stored event (of `topics`) with the envelope its decoding gives now."""
    entries = []
    for n in store.recorder.select_notifications(start=1, limit=10**6):
        if topics is None or n.topic in topics:
            stored = {
                "notification_id": n.id,
                "originator_id": str(n.originator_id),
                "originator_version": n.originator_version,
                "topic": n.topic,
                "state": n.state.decode(),
            }
            entries.append({"stored": stored, "expected": envelope(n.id, store.mapper.to_domain_event(n))})
    return entries


def write(path: Path) -> None:
    with _serving() as api:
        scenario(api)
        entries = _entries(api.service.store)
    path.write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n")


def sealed_scenario(api) -> None:
    """The sealed forms (domain/personal_data.py): dana registers, updates her address, is removed
    (her key destroyed), restored and registers again (a new key); erin registers."""
    issuer = api.provider.issuer
    admin = api.register("admin", admin=True)
    _ok(api.post("/users:register", api.token("dana", email="dana@example.org")), 201)
    _ok(api.post("/users/self:update", api.token("dana", email="dana@new.example.org")), 204)
    _ok(api.post(f"/users:remove?sub=dana&iss={issuer}", admin), 204)
    _ok(api.post(f"/users:restore?sub=dana&iss={issuer}", admin), 204)
    _ok(api.post("/users:register", api.token("dana", email="dana@again.example.org")), 201)
    _ok(api.post("/users:register", api.token("erin", email="erin@example.org")), 201)


def write_sealed(path: Path) -> None:
    """The personal events of `sealed_scenario` and the keys living at its end."""
    with _serving() as api:
        sealed_scenario(api)
        store = api.service.store
        entries = _entries(store, PERSONAL_TOPICS)
        keys = [
            [key_id, user_id, base64.b64encode(key).decode()] for key_id, user_id, key in store.mapper.keyring.keys()
        ]
    path.write_text(json.dumps({"keys": keys, "events": entries}, indent=1, ensure_ascii=False) + "\n")


def load_sealed() -> dict:
    return json.loads(SEALED.read_text())


if __name__ == "__main__":
    (write_sealed if sys.argv[1:2] == ["--sealed"] else write)(Path(sys.argv[-1]))
