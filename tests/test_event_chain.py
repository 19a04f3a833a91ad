"""The event log's hash chain on SQLite and PostgreSQL: every write links its events in its own
transaction, in notification order even with concurrent writers; `eosc-perf audit verify` names
the first event whose bytes, aggregate, version or place in the order were edited directly in
the database (random single bytes); `audit link` links a store from before the chain."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent

from configuration.event_links import GENESIS, link
from configuration.stores import event_store_environment, link_table
from domain.event_store import EventStore
from eosc_perf import cli
from log_transfer import audit, file_format
from log_transfer.file_format import Reader
from tests.support.log_stores import GAP
from tests.support.stored_events import load


def imported(capsys, tmp_path, source, target):
    """The target holding the frozen log (every event class, ids with gaps), imported with its links."""
    file = tmp_path / "log.jsonl"
    assert cli.main(["export", str(file), "--data", str(source)]) == 0
    capsys.readouterr()
    code, out, err = target.run(capsys, "import", str(file))
    assert code == 0, out + err
    return target.store()


class Database:
    """Direct SQL on the store's own tables, as someone with the database's password would."""

    def __init__(self, store):
        self.store = store
        self.events = audit.Events.of(store)
        self.sqlite = self.events.id == "rowid"
        self.mark = "?" if self.sqlite else "%s"

    def execute(self, statement: str, *params) -> list:
        with self.store.recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(statement.replace("?", self.mark), params)
            return cursor.fetchall() if statement.startswith("SELECT") else []

    def row(self, number: int) -> dict:
        [row] = self.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {self.events.name} "
            f"WHERE {self.events.id} = {number}"
        )
        return {key: row[key] for key in ("originator_id", "originator_version", "topic", "state")}

    def set(self, number: int, column: str, value) -> None:
        self.execute(f"UPDATE {self.events.name} SET {column} = ? WHERE {self.events.id} = {number}", value)

    def renumber(self, number: int, to: int) -> None:
        self.execute(f"UPDATE {self.events.name} SET {self.events.id} = {to} WHERE {self.events.id} = {number}")

    def numbers(self) -> list[int]:
        return [row["n"] for row in self.execute(f"SELECT {self.events.id} AS n FROM {self.events.name} ORDER BY 1")]


def flipped(value: bytes, rng: random.Random) -> tuple[bytes, int]:
    at = rng.randrange(len(value))
    return value[:at] + bytes([value[at] ^ rng.randrange(1, 256)]) + value[at + 1 :], at


def found(store) -> str | None:
    return audit.verify(store).problem


def test_random_single_byte_edits_in_the_database_are_each_found(capsys, tmp_path, source, target):
    store = imported(capsys, tmp_path, source, target)
    db = Database(store)
    numbers = db.numbers()
    assert found(store) is None
    rng = random.Random(13)
    for _ in range(6):
        number = rng.choice(numbers)
        row = db.row(number)

        state, at = flipped(bytes(row["state"]), rng)
        db.set(number, "state", state)
        assert f"event {number} " in (found(store) or ""), f"byte {at} of event {number}'s state"
        db.set(number, "state", bytes(row["state"]))

        topic = row["topic"].encode()
        edited, at = flipped(topic, rng)
        db.set(number, "topic", edited.decode("utf-8", "replace"))
        assert f"event {number} " in (found(store) or ""), f"byte {at} of event {number}'s topic"
        db.set(number, "topic", row["topic"])

        db.set(number, "originator_version", row["originator_version"] + rng.randrange(1000, 2000))
        assert f"event {number} " in (found(store) or ""), f"event {number}'s version"
        db.set(number, "originator_version", row["originator_version"])

        originator = str(row["originator_id"])
        digit = rng.choice([i for i, c in enumerate(originator) if c != "-"])
        other = "0" if originator[digit] != "0" else "1"
        db.set(number, "originator_id", originator[:digit] + other + originator[digit + 1 :])
        assert f"event {number} " in (found(store) or ""), f"event {number}'s aggregate id"
        db.set(number, "originator_id", row["originator_id"])

        assert found(store) is None  # each edit undone: the chain holds again


def test_events_swapped_moved_removed_or_added_past_the_recorder_are_found(capsys, tmp_path, source, target):
    store = imported(capsys, tmp_path, source, target)
    db = Database(store)
    first, second, last = GAP * 3, GAP * 7, GAP * len(load())

    # Two events swap their places in the order (their notification ids).
    db.renumber(first, -1)
    db.renumber(second, first)
    db.renumber(-1, second)
    assert f"event {first} " in found(store)
    db.renumber(second, -1)
    db.renumber(first, second)
    db.renumber(-1, first)
    assert found(store) is None

    # An event moves into a gap of the numbering.
    db.renumber(second, second - 1)
    assert f"event {second}: its stored event is gone" in found(store)
    db.renumber(second - 1, second)

    # An event written past the recorder has no link.
    row = db.row(last)
    store.recorder.insert_events([StoredEvent(uuid4(), 1, row["topic"], bytes(row["state"]))])
    added = store.recorder.max_notification_id()
    db.execute(f"DELETE FROM {link_table(store.recorder).name} WHERE notification_id = {added}")
    assert f"event {added} has no link" in found(store)
    db.execute(f"DELETE FROM {db.events.name} WHERE {db.events.id} = {added}")
    assert found(store) is None

    # The last event is deleted: its link remains and names it.
    db.execute(f"DELETE FROM {db.events.name} WHERE {db.events.id} = {last}")
    assert f"event {last}: its stored event is gone" in found(store)


def test_concurrent_writers_link_in_notification_order(capsys, tmp_path, source, target):
    store = imported(capsys, tmp_path, source, target)
    template = load()[0]["stored"]

    def write(count: int) -> None:
        for _ in range(count):
            aggregate = uuid4()
            store.recorder.insert_events(
                [StoredEvent(aggregate, version, template["topic"], template["state"].encode()) for version in (1, 2)]
            )

    writers = [threading.Thread(target=write, args=(40,)) for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    verdict = audit.verify(store)
    assert verdict.problem is None and verdict.events == len(load()) + 4 * 40 * 2
    assert verdict.head == store.recorder.max_notification_id()


def test_a_write_of_more_events_than_one_insert_takes_stores_and_links_each_as_given(capsys, tmp_path, source, target):
    """PostgreSQL inserts at most 1,000 events a statement (configuration/stores.py): a write of
    2,345 takes three, in one transaction; each event's bytes are stored as given."""
    store = imported(capsys, tmp_path, source, target)
    head = store.recorder.max_notification_id()
    aggregate = uuid4()
    states = [bytes(range(256)) * (n % 3) + f'{{"n": {n}}}'.encode() for n in range(2345)]
    events = [StoredEvent(aggregate, n + 1, "domain.tests:Ünïcode\\topic", state) for n, state in enumerate(states)]
    ids = store.recorder.insert_events(events)
    assert ids == list(range(head + 1, head + 2346))
    stored = store.recorder.select_events(aggregate)
    assert [(event.originator_version, event.topic, event.state) for event in stored] == [
        (event.originator_version, event.topic, event.state) for event in events
    ]
    verdict = audit.verify(store)
    assert verdict.problem is None and verdict.head == ids[-1]


def test_a_refused_or_timed_out_write_leaves_no_trace_and_the_next_one_links_on(capsys, tmp_path, source, target):
    store = imported(capsys, tmp_path, source, target)
    template = load()[0]["stored"]

    def event(aggregate, version: int = 1) -> StoredEvent:
        return StoredEvent(aggregate, version, template["topic"], template["state"].encode())

    taken = uuid4()
    store.recorder.insert_events([event(taken)])
    head = store.recorder.max_notification_id()
    with pytest.raises(IntegrityError):  # a version already stored: the whole write is refused
        store.recorder.insert_events([event(uuid4()), event(taken)])
    assert store.recorder.max_notification_id() == head
    if target.backend == "postgres":  # a write waiting for the log's lock past its timeout gives up
        writer = EventStore(env={**event_store_environment(target.settings.event_store), "POSTGRES_LOCK_TIMEOUT": "1"})
        with psycopg.connect(target.settings.event_store, autocommit=True) as holder:
            with holder.transaction():
                holder.execute(f"LOCK TABLE {audit.Events.of(store).name} IN EXCLUSIVE MODE")
                with pytest.raises(OperationalError):
                    writer.recorder.insert_events([event(uuid4())])
        assert writer.recorder.max_notification_id() == head
        writer.recorder.insert_events([event(uuid4())])  # its connection went back to the pool usable
    store.recorder.insert_events([event(uuid4())])
    verdict = audit.verify(store)
    assert verdict.problem is None and verdict.head == store.recorder.max_notification_id()
    assert verdict.events == len(load()) + (3 if target.backend == "postgres" else 2)


def test_audit_link_gives_a_store_from_before_the_chain_its_links(capsys, tmp_path, source, target):
    store = imported(capsys, tmp_path, source, target)
    db = Database(store)
    links = link_table(store.recorder)
    head = audit.head(store)
    db.execute(f"DELETE FROM {links.name}")
    store.recorder.insert_events([StoredEvent(uuid4(), 1, load()[0]["stored"]["topic"], b"{}")])
    assert audit.head(store)[0] == store.recorder.max_notification_id()  # linked from the empty chain

    code, out, err = target.run(capsys, "init")
    assert code == 0 and f"events from position {GAP} on have no chain link yet" in out, out + err
    code, out, err = target.run(capsys, "audit", "verify")
    assert code == 2 and f"event {GAP} has no link" in err and "eosc-perf audit link" in err
    code, out, err = target.run(capsys, "audit", "link")
    assert code == 0 and f"linked {len(load()) + 1} events" in out, out + err
    assert "events/s" in err  # progress
    code, out, err = target.run(capsys, "audit", "verify")
    assert code == 0 and "the chain holds" in out, out + err
    # The old events' links are the ones the import had given them.
    with store.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(links.between(0, head[0]))
        assert bytes(cursor.fetchall()[-1]["link"]) == head[1]
    assert target.run(capsys, "audit", "link")[1] == "every event has its link: nothing to do\n"
    assert "chain link" not in target.run(capsys, "init")[1]


def test_an_export_without_links_loads_and_gets_them(capsys, tmp_path, source, target):
    """Files written before the chain: the import links their events; the head is the source's."""
    file = tmp_path / "log.jsonl"
    assert cli.main(["export", str(file), "--data", str(source)]) == 0
    capsys.readouterr()
    with file.open("rb") as stream:
        lines = list(Reader(stream).events())
    previous = GENESIS
    for line in lines:
        previous = link(previous, line.notification_id, line.stored)
        assert line.link == previous  # the export's links are the definition's

    raw = file.read_bytes().splitlines(keepends=True)
    body = [raw[0], *(_without(line, "link") for line in raw[1:-2])]  # as old files were: no keys line either
    old = tmp_path / "old.jsonl"
    old.write_bytes(b"".join([*body, file_format.end(len(lines), hashlib.sha256(b"".join(body)).hexdigest()) + b"\n"]))
    assert b'"link"' not in old.read_bytes()
    code, out, err = target.run(capsys, "import", str(old))
    assert code == 0, out + err
    store = target.store()
    assert audit.head(store) == (lines[-1].notification_id, previous)
    assert audit.verify(store).problem is None


def _without(raw: bytes, name: str) -> bytes:
    fields = json.loads(raw)
    del fields[name]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def test_the_link_definition_is_pinned():
    """Published heads outlive the code: a change of what a link covers, or how, fails here."""
    event = StoredEvent(UUID("12345678-1234-5678-1234-567812345678"), 3, "domain.site:Site.Created", b'{"name":"x"}')
    assert link(GENESIS, 7, event).hex() == "1b75c7379571b63b3efc87124592b8fba88e1ce29ff5041e29bcc08215a8ec34"
    # the aggregate id as SQLite stores it (hex) links the same
    assert link(GENESIS, 7, StoredEvent(event.originator_id.hex, 3, event.topic, event.state)) == link(
        GENESIS, 7, event
    )
    assert link(link(GENESIS, 7, event), 8, event) != link(GENESIS, 8, event)


def test_a_file_since_a_position_loads_only_onto_the_chain_it_continues(capsys, tmp_path, source, target):
    whole, rest = tmp_path / "whole.jsonl", tmp_path / "rest.jsonl"
    assert cli.main(["export", str(whole), "--data", str(source)]) == 0
    assert cli.main(["export", str(rest), "--since", "40", "--data", str(source)]) == 0
    capsys.readouterr()
    # The log up to 40: the whole file's first events, under a header and an end line of their own.
    lines = whole.read_bytes().splitlines(keepends=True)
    body = [
        file_format.header(0, 40) + b"\n",
        *(line for line in lines[1:-2] if json.loads(line)["notification_id"] <= 40),
    ]
    first = tmp_path / "first.jsonl"
    first.write_bytes(
        b"".join([*body, file_format.end(len(body) - 1, hashlib.sha256(b"".join(body)).hexdigest()) + b"\n"])
    )
    assert target.run(capsys, "import", str(first))[0] == 0
    store = target.store()
    links = link_table(store.recorder)
    assert audit.head(store)[0] == 40
    at_40 = audit.head(store)[1]

    Database(store).execute(f"UPDATE {links.name} SET link = ? WHERE notification_id = 40", bytes(32))
    code, _out, err = target.run(capsys, "import", str(rest))
    assert code == 2 and "chain link at position 40 is not the one this file continues from" in err, err
    assert store.recorder.max_notification_id() == 40

    Database(store).execute(f"UPDATE {links.name} SET link = ? WHERE notification_id = 40", at_40)
    code, out, err = target.run(capsys, "import", str(rest))
    assert code == 0, out + err
    assert audit.verify(store).problem is None
    assert audit.head(store) == (GAP * len(load()), bytes.fromhex(json.loads(lines[-3])["link"]))
