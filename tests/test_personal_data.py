"""Crypto-shredding (docs/security.md, "Erasure of personal data"): e-mail addresses are stored
sealed under a key per user, outside the log; removing the user destroys the key in the
removal's transaction, after which the address's bytes are in no database file, histories show
it erased, and the hash chain and the replay still agree."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from configuration.stores import open_event_store
from domain.actor import Actor
from domain.personal_data import ERASED
from domain.user import User
from eosc_perf import cli
from log_transfer import audit
from projections.follower import Follower
from projections.mail.directory import mail_outbox
from projections.parking import Undecodable
from projections.projector import Projector
from projections.sources import EventStoreSource
from read_model import read_store
from read_model.migrations import migrate
from read_model.tables import events_index
from tests.support.catalog import site
from tests.support.log_stores import GAP, run
from tests.support.stored_events import load

REMOVED = "carol.erased@example.org"
FORMER = "carol.before@example.org"


def _files_holding(folder: Path, needle: bytes) -> list[str]:
    return sorted(str(path) for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes())


def _catch_up(api) -> None:
    """The projector and the mailer have applied every event (the mail thread was stopped: its
    rounds run here, one at a time)."""
    api.service.projection.catch_up()
    api.service.mail.work()


def _mail_to(api, address: str) -> list:
    with api.service.reads.connect() as conn:
        return conn.execute(select(mail_outbox).where(mail_outbox.c.to == address)).all()


def test_a_removed_users_address_is_in_no_database_file_and_the_others_still_get_mail(embedded_api, capsys):
    api = embedded_api
    api.service.stop.set()
    api.service.mail.join()
    admin = api.register("admin", admin=True)
    assert api.post("/users:register", api.token("carol", email=FORMER)).status_code == 201
    _catch_up(api)  # her welcome goes out to her first address
    carol = api.token("carol", email=REMOVED)
    assert api.post("/users/self:update", carol).status_code == 204
    site(api, carol, admin)  # mails to carol: her site was submitted, then approved
    bob = api.register("bob")
    _catch_up(api)
    folder = Path(api.service.store.env["SQLITE_DBNAME"]).parent
    assert _files_holding(folder, REMOVED.encode()) != []  # the read store and the outbox hold it while she is a user
    assert _files_holding(folder, FORMER.encode()) != []  # her history (the events index) shows it
    assert REMOVED.encode() not in b"".join(
        bytes(n.state) for n in api.service.store.recorder.select_notifications(1, 10**6)
    )  # the log never held it in plain

    removed = api.post(f"/users:remove?email={REMOVED}", admin)
    assert removed.status_code == 204, removed.text
    _catch_up(api)

    assert _files_holding(folder, REMOVED.encode()) == []
    assert _files_holding(folder, FORMER.encode()) == []  # the address she had before, too
    user_id = str(User.create_id("carol", api.provider.issuer))
    with api.service.reads.connect() as conn:
        indexed = select(events_index.c.data).where(
            events_index.c.item_id == user_id, events_index.c.type == "User.Registered"
        )
        shown = [json.loads(data) for data in conn.execute(indexed).scalars()]
    assert shown == [{"email": ERASED, "iss": api.provider.issuer, "sub": "carol"}]
    history = api.service.store.events.get(User.create_id("carol", api.provider.issuer))
    assert next(iter(history)).email == ERASED

    # The chain holds (the log did not change) and a replay, reading the address as erased,
    # equals the live read tables, which erased it when the removal came.
    for command in (["verify"], ["audit", "verify"]):
        assert cli.main([*command, "--data", str(folder)]) == 0, capsys.readouterr()
    assert "read tables equal a fresh replay" in capsys.readouterr().out

    # bob is unaffected: his address opens, and his mail still goes out
    site(api, bob, admin, approved=True)
    _catch_up(api)
    assert api.service.store.repository.get(User.create_id("bob", api.provider.issuer)).email == "bob@example.org"
    assert _mail_to(api, "bob@example.org")


def test_an_export_after_a_removal_carries_the_living_users_keys_and_not_the_removed_address(
    embedded_api, capsys, tmp_path
):
    api = embedded_api
    admin = api.register("admin", admin=True)
    assert api.post("/users:register", api.token("carol", email=REMOVED)).status_code == 201
    api.register("bob")
    assert api.post(f"/users:remove?sub=carol&iss={api.provider.issuer}", admin).status_code == 204
    folder = Path(api.service.store.env["SQLITE_DBNAME"]).parent
    exported = tmp_path / "log.jsonl"
    assert cli.main(["export", str(exported), "--data", str(folder)]) == 0

    assert REMOVED.encode() not in exported.read_bytes()
    restored = tmp_path / "restored"
    assert cli.main(["import", str(exported), "--data", str(restored)]) == 0
    capsys.readouterr()
    store = open_event_store(f"sqlite:///{restored / 'events.sqlite'}")
    assert store.repository.get(User.create_id("bob", api.provider.issuer)).email == "bob@example.org"
    assert store.repository.get(User.create_id("carol", api.provider.issuer)).email == ERASED


def _stored_bytes(store) -> bytes:
    return b"".join(bytes(n.state) for n in store.recorder.select_notifications(1, 10**6))


def test_a_store_from_before_sealing_is_copied_sealed_and_its_removed_users_erased(capsys, source, target):
    """The frozen log (every event class as stored before sealing, plain addresses): carol was
    removed, bob removed and registered again, admin and alice live."""
    old = open_event_store(f"sqlite:///{source / 'events.sqlite'}")
    assert b"carol@example.org" in _stored_bytes(old) and b"alice@example.org" in _stored_bytes(old)

    seal = ("seal-personal-data", "--into", target.settings.event_store, "--data", str(source))
    code, out, err = run(capsys, *seal)
    assert code == 0, out + err
    assert f"sealed {len(load())} events" in out and "events/s" in err  # with progress
    store = target.store()
    position, link = audit.head(store)
    assert f"new chain head: {position} {link.hex()}" in out and position == GAP * len(load())

    copied = store.recorder.select_notifications(1, 10**6)
    assert [(n.id, n.originator_id, n.originator_version, n.topic) for n in copied] == [
        (n.id, n.originator_id, n.originator_version, n.topic) for n in old.recorder.select_notifications(1, 10**6)
    ]
    assert b"@example.org" not in _stored_bytes(store)  # no address in plain (the subs stay: docs/security.md)
    users = {sub: store.repository.get(User.create_id(sub, _issuer())) for sub in ("admin", "alice", "bob", "carol")}
    assert {sub: user.email for sub, user in users.items()} == {
        "admin": "admin@example.org",
        "alice": "alice@example.org",
        "bob": "bob@example.org",  # registered again after his removal: his new address opens
        "carol": ERASED,
    }
    bob = list(store.events.get(User.create_id("bob", _issuer())))
    assert bob[0].email == ERASED  # what he stored before his removal is erased

    engine = read_store.connect(target.settings.read_store)
    migrate(engine)
    Follower(EventStoreSource(store), Projector(engine)).catch_up()
    engine.dispose()
    if target.backend == "sqlite":
        assert _files_holding(target.data, b"carol@example.org") == []
    for command in (["verify"], ["audit", "verify"]):
        code, out, err = target.run(capsys, *command)
        assert code == 0, out + err
    code, out, err = run(capsys, *seal)
    assert code != 0 and "not empty" in err


def _issuer() -> str:
    [registered] = [e for e in load() if e["stored"]["topic"] == "domain.user:User.Registered"][:1]
    return json.loads(registered["stored"]["state"])["iss"]


def test_a_seal_its_key_does_not_open_is_parked_and_a_key_table_out_of_reach_is_an_outage(tmp_path):
    store = open_event_store(f"sqlite:///{tmp_path / 'events.sqlite'}")
    user = User(sub="dana", iss="https://issuer.example", email="dana@example.org", actor=Actor("dana", "x"))
    store.save(user)
    [notification] = store.recorder.select_notifications(1, 1)
    state = json.loads(notification.state)
    box = bytearray(base64.b64decode(state["email"]["_data_"]["box"]))
    box[-1] ^= 1  # one bit of the tag
    state["email"]["_data_"]["box"] = base64.b64encode(bytes(box)).decode()
    changed = replace(notification, state=json.dumps(state).encode())
    source = EventStoreSource(store)

    assert source.decode(notification).email == "dana@example.org"
    parked = source.decode(changed)
    assert isinstance(parked, Undecodable) and "BrokenSeal" in parked.error
    with store.recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute("DROP TABLE personal_keys")
    with pytest.raises(Exception, match="personal_keys"):
        source.decode(notification)


def test_an_event_measured_within_encoding_once_is_stored_as_it_was_measured(tmp_path):
    """The command side measures each event as stored before saving it (event_size.py); within
    `encoding_once` the save stores those very bytes: a sealed address is sealed once (each
    sealing draws a new nonce, so two encodings differ)."""
    store = open_event_store(f"sqlite:///{tmp_path / 'events.sqlite'}")
    user = User(sub="erin", iss="https://issuer.example", email="erin@example.org", actor=Actor("erin", "x"))
    [registered] = user.pending_events
    assert store.mapper.to_stored_event(registered).state != store.mapper.to_stored_event(registered).state
    with store.mapper.encoding_once():
        measured = store.mapper.to_stored_event(registered)
        store.save(user)
    [notification] = store.recorder.select_notifications(1, 1)
    assert notification.state == measured.state
    assert EventStoreSource(store).decode(notification).email == "erin@example.org"
    # Outside it, each encoding is made anew (nothing is kept from one save to the next).
    assert store.mapper.to_stored_event(registered).state != measured.state
