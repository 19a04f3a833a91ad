"""Stored events of an older version keep their meaning: they are upcast when read, so a
store written before a change replays into what its readers saw then."""

from __future__ import annotations

import json

from eventsourcing.persistence import StoredEvent

from domain.actor import Actor
from domain.user import User
from tests.support.catalog import site


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
