"""Stored events of an older version keep their meaning: they are upcast when read, so a
store written before a change replays into what its readers saw then. The frozen log
(tests/support/stored_events.py) holds every event class as it is stored: read through the
current code, each still decodes to the envelope it gave, and the log replays without a fault."""

from __future__ import annotations

import base64
import json

from eventsourcing.utils import get_topic
from sqlalchemy import func, select

from configuration.stores import open_event_store
from domain.actor import Actor
from domain.envelope import decode, envelope, from_bytes, to_bytes
from domain.personal_data import ERASED, PERSONAL_FIELDS, opened
from domain.user import User
from projections import parking
from projections.mail.directory import mail_outbox
from projections.mail.mailer import Mailer
from projections.replay import rebuild
from projections.sources import EventStoreSource
from read_model import read_store
from read_model.migrations import migrate
from read_model.tables import results, sites, users
from tests.support.catalog import site
from tests.support.stored_events import (
    as_stored,
    load,
    load_sealed,
    store_removal_of_version_1,
    stored_event_classes,
)


def test_a_removal_stored_before_the_ban_still_takes_the_users_catalog_along(embedded_api):
    api = embedded_api
    admin = api.register("admin", admin=True)
    alice = api.register("alice")
    kept_by_new_rule = api.register("carol")
    old_site = site(api, alice, admin, approved=False)
    new_site = site(api, kept_by_new_rule, admin)

    store_removal_of_version_1(api.service, "alice", api.provider.issuer, Actor("admin", api.provider.issuer))
    removed = api.post(f"/users:remove?sub=carol&iss={api.provider.issuer}", admin)
    assert removed.status_code == 204, removed.text

    assert api.get(f"/sites/{old_site['id']}").status_code == 404  # version 1: gone with alice
    assert api.get(f"/sites/{new_site['id']}").status_code == 200  # version 2: stays
    # The command side agrees with the read side.
    assert api.post(f"/sites/{old_site['id']}:approve", admin).status_code == 404
    user = api.service.store.repository.get(User.create_id("alice", api.provider.issuer))
    assert user.banned and not user.registered
    assert user.catalog_removed_on is not None


def _stored_version(entry: dict) -> int:
    return json.loads(entry["stored"]["state"]).get("class_version", 1)


def test_every_event_class_and_version_the_domain_stores_has_a_frozen_stored_form():
    frozen = {(entry["stored"]["topic"], _stored_version(entry)) for entry in load()}
    missing = {(topic, version) for topic, version in stored_event_classes().items()} - frozen
    assert not missing, (
        f"event classes without a frozen stored form: {sorted(missing)}; add them as "
        "tests/support/stored_events.py says"
    )
    assert ("domain.user:User.Removed", 1) in frozen  # the form stored before the ban


def _store(tmp_path):
    store = open_event_store(f"sqlite:///{tmp_path / 'events.sqlite'}")
    store.recorder.insert_events([as_stored(entry) for entry in load()])
    return store


def test_each_frozen_event_decodes_to_the_envelope_it_gave_and_back(tmp_path):
    store = _store(tmp_path)
    for entry in load():
        event = store.mapper.to_domain_event(as_stored(entry))
        notification_id = entry["stored"]["notification_id"]
        message = envelope(notification_id, event)
        assert message == entry["expected"], entry["stored"]
        assert vars(decode(from_bytes(to_bytes(message)))[1]) == vars(event)  # what Kafka consumers read
        if entry["stored"]["topic"] == "domain.user:User.Removed" and _stored_version(entry) == 1:
            assert event.catalog_kept is False  # upcast: version 1 took the catalog along


def test_the_frozen_log_replays_into_the_read_model_and_the_mailer_without_a_fault(tmp_path):
    store = _store(tmp_path)
    source = EventStoreSource(store)
    assert [n for n, _event in next(source.batches(0))] == [entry["stored"]["notification_id"] for entry in load()][
        : source.batch
    ]
    engine = read_store.connect(f"sqlite:///{tmp_path / 'read.sqlite'}")
    migrate(engine)

    replay = rebuild(source, engine)
    mailer = Mailer(engine)
    for batch in source.batches(0):
        mailer.apply(batch)

    assert replay.events == len(load())
    with engine.connect() as conn:
        assert parking.listed(conn) == []
        count = lambda table: conn.execute(select(func.count()).select_from(table)).scalar_one()  # noqa: E731
        # admin, alice, bob (registered again); carol removed by version 1 of `Removed`
        assert count(users) == 3
        assert count(results) == 2 and count(sites) == 2  # carol's site went with her; a pending one
        assert count(mail_outbox) > 0
    assert mailer.position() == replay.events


def _sealed_store(tmp_path, *, with_keys: bool):
    frozen = load_sealed()
    store = open_event_store(f"sqlite:///{tmp_path / 'sealed.sqlite'}")
    store.recorder.insert_events([as_stored(entry) for entry in frozen["events"]])
    if with_keys:
        store.mapper.keyring.restore(
            (key_id, user_id, base64.b64decode(key)) for key_id, user_id, key in frozen["keys"]
        )
    return store, frozen["events"]


def test_every_event_class_with_personal_data_has_a_frozen_sealed_form():
    sealed = {entry["stored"]["topic"] for entry in load_sealed()["events"]}
    assert sealed == {get_topic(cls) for cls in PERSONAL_FIELDS}
    assert all('"_type_":"sealed"' in entry["stored"]["state"] for entry in load_sealed()["events"])


def test_each_frozen_sealed_event_opens_with_its_key_and_reads_erased_without(tmp_path):
    store, events = _sealed_store(tmp_path, with_keys=True)
    for entry in events:
        stored = as_stored(entry)
        assert envelope(entry["stored"]["notification_id"], store.mapper.to_domain_event(stored)) == entry["expected"]
        # The relay publishes it sealed; a Kafka consumer opens it with the same keys.
        published = envelope(entry["stored"]["notification_id"], store.mapper.sealed_domain_event(stored))
        assert "@" not in json.dumps(published["payload"])
        _, consumed = decode(from_bytes(to_bytes(published)))
        assert vars(opened(consumed, store.mapper.keyring)) == vars(store.mapper.to_domain_event(stored))

    keyless, _ = _sealed_store(tmp_path / "keyless", with_keys=False)
    for entry in events:
        assert keyless.mapper.to_domain_event(as_stored(entry)).email == ERASED
