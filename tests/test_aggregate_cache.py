"""The command side's copies of catalog items and users (command_service/services/aggregate_cache.py),
over a real event store of either backend: a copy is used only once one query (or the save,
under its lock) has confirmed it is still the store's latest, and a command that read a copy no
longer current runs again on fresh loads.

How other workers' changes reach a worker's next upload, through the API: tests/test_write_caches.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterator
from uuid import uuid4

import pytest

from command_service.resources import answers
from command_service.services import schemas
from command_service.services.aggregate_cache import AggregateCache
from command_service.services.session import Commands, Session, StaleCopy
from configuration.stores import open_event_store
from domain.actor import Actor
from domain.benchmark import Benchmark
from domain.errors import NotFound, Unregistered
from domain.event_store import EventStore
from domain.result import Result
from domain.tag import Tag
from domain.user import User
from tests.support.aggregates import a_result
from tests.support.legacy_databases import restored

ALICE = Actor(sub="alice", iss="https://issuer.example.org")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingLatest:
    """The store's `latest_events`, counting the queries and the ids asked."""

    def __init__(self, store: EventStore):
        self.store = store
        self.asked: list[set] = []

    def __call__(self, ids):
        ids = set(ids)
        self.asked.append(ids)
        return self.store.recorder.latest_events(ids)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "sqlite":
        yield open_event_store(f"sqlite:///{tmp_path / 'events.sqlite'}")
    else:
        with restored("") as url:
            store = open_event_store(url)
            yield store
            store.close()


def tag(store: EventStore, name: str = "fast") -> Tag:
    created = Tag(name=name, description=None, actor=ALICE)
    store.save(created)
    return created


def read(cache: AggregateCache, store: EventStore, kind, id):
    """One command that only reads: the aggregate, and whether the copy it was served held."""
    session = Session(store, cache)
    return session.get(kind, id), session.confirm()


def test_the_store_answers_each_aggregates_version_and_last_notification(store):
    first, second = tag(store, "a"), tag(store, "b")
    second.update(name="c", description=None, actor=ALICE)
    store.save(second)
    assert store.recorder.latest_events([first.id, second.id, User.create_id("nobody", "x")]) == {
        first.id: (1, 1),
        second.id: (2, 3),
    }


def test_a_loaded_aggregate_is_kept_and_then_served_as_a_copy_checked_by_one_query(store):
    created = tag(store)
    latest = CountingLatest(store)
    cache = AggregateCache(latest)
    loaded, held = read(cache, store, Tag, created.id)
    assert held and loaded.name == "fast" and latest.asked == [{created.id}]
    copy, held = read(cache, store, Tag, created.id)
    assert held and copy is not loaded and copy.name == "fast" and len(latest.asked) == 2
    copy.update(name="changed", description=None, actor=ALICE)  # a command changes its copy only
    again, held = read(cache, store, Tag, created.id)
    assert held and again.name == "fast"


def test_a_copy_changed_in_the_store_since_is_dropped_and_the_command_runs_again(store):
    created = tag(store)
    cache = AggregateCache(CountingLatest(store))
    read(cache, store, Tag, created.id)
    created.update(name="renamed", description=None, actor=ALICE)  # another worker's write
    store.save(created)
    stale, held = read(cache, store, Tag, created.id)
    assert stale.name == "fast" and not held
    fresh, held = read(cache, store, Tag, created.id)
    assert fresh.name == "renamed" and held

    def rename(session: Session, name: str):
        current = session.get(Tag, created.id)
        current.update(name=name, description=None, actor=ALICE)
        return current, session.save(current)

    read(cache, store, Tag, created.id)  # kept again as version 2
    created.update(name="elsewhere", description=None, actor=ALICE)
    store.save(created)
    renamed, position = Commands(store, cache=cache).run(rename, "mine", registered=None)
    assert renamed.version == 4 and position == 4
    assert store.repository.get(created.id).name == "mine"


def test_a_save_confirms_the_copies_its_command_read_without_a_query_of_its_own(store):
    created, other = tag(store), tag(store, "second")
    latest = CountingLatest(store)
    cache = AggregateCache(latest)
    read(cache, store, Tag, created.id)
    read(cache, store, Tag, other.id)
    asked = len(latest.asked)

    def rename_after_reading_the_other(session: Session, name: str):
        assert session.get(Tag, other.id).name == "second"  # a copy the decision rests on
        current = session.get(Tag, created.id)
        current.update(name=name, description=None, actor=ALICE)
        return current, session.save(current)

    renamed, position = Commands(store, cache=cache).run(rename_after_reading_the_other, "mine", registered=None)
    assert len(latest.asked) == asked  # confirmed by the save itself
    assert store.repository.get(created.id).name == "mine" and position == store.recorder.max_notification_id()
    assert cache.get(created.id)[1] == (2, position) and cache.get(other.id) is not None


def test_saving_from_a_copy_no_longer_current_is_refused_before_anything_is_stored(store):
    created = tag(store)
    cache = AggregateCache(CountingLatest(store))
    read(cache, store, Tag, created.id)
    session = Session(store, cache)
    copy = session.get(Tag, created.id)
    other = store.repository.get(created.id)
    other.update(name="theirs", description=None, actor=ALICE)
    store.save(other)
    untouched = tag(store, "second")
    untouched.update(name="second, renamed", description=None, actor=ALICE)
    with pytest.raises(StaleCopy):
        session.save(untouched)  # `copy` was read by this command: its decision may rest on it
    assert copy.name == "fast" and store.repository.get(untouched.id).version == 1


def test_a_refusal_read_from_a_copy_no_longer_current_is_decided_again(store):
    """A user removed from the store after this worker kept them, then registered again by
    another worker: the refusal the copy would give must not be the answer."""
    user = User(sub=ALICE.sub, iss=ALICE.iss, email="alice@example.org", actor=ALICE)
    store.save(user)
    user.remove(ALICE)
    store.save(user)
    cache = AggregateCache(CountingLatest(store))
    assert read(cache, store, User, user.id)[0].registered is False
    user.restore(ALICE)
    user.register_again("alice@example.org", ALICE)
    store.save(user)

    def must_be_registered(session: Session):
        if session.registered_user(ALICE) is None:
            raise NotFound("User not registered")
        return True, 0

    assert Commands(store, cache=cache).run(must_be_registered, registered=None) == (True, 0)


def registered_alice(store: EventStore) -> User:
    user = User(sub=ALICE.sub, iss=ALICE.iss, email="alice@example.org", actor=ALICE)
    store.save(user)
    return user


def test_the_gate_admits_from_the_copy_and_the_write_confirms_it_in_its_save(store):
    registered_alice(store)
    latest = CountingLatest(store)
    commands = Commands(store, cache=AggregateCache(latest))
    assert commands.admits(ALICE)  # loaded from the store: not kept yet, nothing asked
    created, _ = commands.run(
        lambda session: (t := Tag(name="t", description=None, actor=ALICE), session.save(t)), registered=ALICE
    )
    assert latest.asked == []  # the user, loaded by the command, confirmed and kept by the save
    asked = len(latest.asked)
    assert commands.admits(ALICE) and len(latest.asked) == asked  # the copy, without a query
    commands.run(lambda session: (None, session.save(Tag(name="u", description=None, actor=ALICE))), registered=ALICE)
    assert len(latest.asked) == asked and store.repository.get(created.id).name == "t"


def test_a_caller_removed_since_the_copy_was_kept_is_refused_by_the_write_and_nothing_is_stored(store):
    user = registered_alice(store)
    commands = Commands(store, cache=AggregateCache(CountingLatest(store)))
    assert read(commands.cache, store, User, user.id)[1]  # kept
    user.remove(ALICE)  # by another worker
    store.save(user)
    assert commands.admits(ALICE)  # the gate's answer from the copy, provisional
    head = store.recorder.max_notification_id()
    tag = Tag(name="late", description=None, actor=ALICE)
    with pytest.raises(Unregistered):
        commands.run(lambda session: (tag, session.save(tag)), registered=ALICE)
    assert store.recorder.max_notification_id() == head
    assert not commands.admits(ALICE)  # the stale copy went with the refused write


def test_a_copy_saying_not_registered_is_confirmed_before_the_gate_refuses(store):
    user = registered_alice(store)
    user.remove(ALICE)
    store.save(user)
    commands = Commands(store, cache=AggregateCache(CountingLatest(store)))
    assert not commands.admits(ALICE)  # kept as removed
    user.restore(ALICE)
    user.register_again("alice@example.org", ALICE)  # by another worker
    store.save(user)
    assert commands.admits(ALICE)


def test_the_same_version_at_another_place_in_the_log_is_not_the_kept_one(tmp_path: Path):
    """A store emptied and written again (as the production stack's tests do between cases): a
    user of the same id reaches the same version, at another notification id."""
    path = tmp_path / "events.sqlite"
    store = open_event_store(f"sqlite:///{path}")
    store.save(User(sub=ALICE.sub, iss=ALICE.iss, email="old@example.org", actor=ALICE))
    cache = AggregateCache(lambda ids: store.recorder.latest_events(ids))
    user_id = User.create_id(ALICE.sub, ALICE.iss)
    assert read(cache, store, User, user_id)[0].email == "old@example.org"
    with store.recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute("DELETE FROM stored_events")
        cursor.execute("DELETE FROM event_links")
    tag(store)
    store.save(User(sub=ALICE.sub, iss=ALICE.iss, email="new@example.org", actor=ALICE))
    assert read(cache, store, User, user_id)[1] is False
    assert read(cache, store, User, user_id)[0].email == "new@example.org"


def test_copies_expire_and_the_least_recently_used_go_first(store):
    clock = Clock()
    first, second, third = tag(store, "1"), tag(store, "2"), tag(store, "3")
    cache = AggregateCache(store.recorder.latest_events, capacity=2, seconds=60, clock=clock)
    for created in (first, second):
        read(cache, store, Tag, created.id)
    assert cache.get(first.id) is not None  # `first` is now the most recently used
    read(cache, store, Tag, third.id)
    assert cache.get(second.id) is None and cache.get(first.id) is not None
    clock.now = 61
    assert cache.get(first.id) is None and cache.get(third.id) is None


def test_results_and_aggregates_with_unsaved_changes_are_not_kept(store):
    created = tag(store)
    cache = AggregateCache(store.recorder.latest_events)
    session = Session(store, cache)
    changed = session.get(Tag, created.id)
    changed.update(name="unsaved", description=None, actor=ALICE)
    assert session.confirm() and cache.get(created.id) is None


def test_a_saved_change_is_kept_but_a_removal_drops_the_users_plain_address(store):
    user = User(sub=ALICE.sub, iss=ALICE.iss, email="alice@example.org", actor=ALICE)
    store.save(user)
    cache = AggregateCache(store.recorder.latest_events)
    commands = Commands(store, cache=cache)

    def update(session: Session, email: str):
        current = session.get(User, user.id)
        current.update_email(email=email, actor=ALICE)
        return current, session.save(current)

    def remove(session: Session):
        current = session.get(User, user.id)
        current.remove(ALICE)
        return current, session.save(current)

    commands.run(update, "new@example.org", registered=None)
    kept, latest = cache.get(user.id)
    assert kept.email == "new@example.org" and latest == (2, 2)
    removed, _ = commands.run(remove, registered=None)
    assert removed.email == "new@example.org"  # the aggregate in memory: plain until dropped
    assert cache.get(user.id) is None
    assert read(cache, store, User, user.id)[0].email == "(erased)"


def test_what_commands_do_with_a_copy_leaves_the_kept_aggregate_as_it_was(store):
    """Copies share the attribute values (a benchmark's schema): no command may change one in
    place. Validating an upload, rendering the benchmark and updating it leave the kept one."""
    schema = {"type": "object", "properties": {"time": {"type": "integer", "minimum": 0}}, "required": ["time"]}
    benchmark = Benchmark(
        docker_image="org/bench",
        docker_tag="1.0",
        url="https://example.org",
        json_schema=schema,
        description="a benchmark",
        actor=ALICE,
    )
    store.save(benchmark)
    cache = AggregateCache(store.recorder.latest_events)
    read(cache, store, Benchmark, benchmark.id)
    kept = cache._entries[benchmark.id][0]
    before = copy.deepcopy(vars(kept))
    served, _ = read(cache, store, Benchmark, benchmark.id)
    schemas.check_result({"time": 3}, served, schemas.ResultValidators(capacity=4, pattern_work=10_000))
    answers.benchmark(served)
    served.update(
        docker_image="org/bench",
        docker_tag="2.0",
        url="https://example.org/2",
        json_schema={"type": "object"},
        description="changed",
        actor=ALICE,
    )
    assert vars(kept) == before and served.docker_tag == "2.0" and len(served.collect_events()) == 1


def test_the_copies_kept_stay_within_their_byte_budget(store):
    """Benchmarks' schemas are as large as a request allows: a worker keeps a bounded amount."""

    def benchmark(schema_bytes: int) -> Benchmark:
        created = Benchmark(
            docker_image="org/bench",
            docker_tag=str(schema_bytes),
            url="https://example.org",
            json_schema={"type": "object", "description": "x" * schema_bytes},
            description=None,
            actor=ALICE,
        )
        store.save(created)
        return created

    cache = AggregateCache(store.recorder.latest_events, budget=160_000)
    huge = benchmark(12_000)  # larger than a sixteenth of the budget: never kept
    assert read(cache, store, Benchmark, huge.id)[1] and cache.get(huge.id) is None
    kept = [benchmark(9_000) for _ in range(20)]  # about 190,000 bytes in all
    for created in kept:
        read(cache, store, Benchmark, created.id)
    assert 150_000 < cache._bytes <= cache.budget
    assert cache.get(kept[0].id) is None and cache.get(kept[-1].id) is not None  # the least recently used went


def test_a_command_that_reads_only_what_is_never_kept_asks_nothing_more(store):
    result = a_result(ALICE)
    store.save(result)
    latest = CountingLatest(store)
    session = Session(store, AggregateCache(latest))
    assert session.get(Result, result.id).json == {"score": 1}
    assert session.get(Tag, uuid4()) is None
    assert session.confirm() and latest.asked == []
