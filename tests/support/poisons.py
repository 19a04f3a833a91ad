"""Events written straight into an event store, bypassing the API, as an older version of the
service could have stored them (issue 10): what no request can write any more, but what the
consumers (projector, relay, mailer) must still get past. Each function returns the
notification id of what it wrote.
"""

from __future__ import annotations

import json
import secrets
import sys
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from domain.actor import Actor
from domain.benchmark import Benchmark
from domain.event_store import EventStore
from domain.flavor import Flavor
from domain.result import Result
from domain.site import Site
from domain.tag import Tag
from domain.user import User

EXECUTED = datetime(2024, 1, 1, 10, 0)


def long_text() -> str:
    """3,000 characters that do not compress: more than a PostgreSQL b-tree entry holds (2704
    bytes; issue 10 used 8,000), few enough for a request line (a lookup by name)."""
    return secrets.token_hex(1500)


def deep(depth: int, key: str = "a", leaf=1):
    document = leaf
    for _ in range(depth):
        document = {key: document}
    return document


@contextmanager
def _deep_recursion():
    """The event store's JSON encoder recurses once per level: room for deep documents."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 2000)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def saved(store: EventStore, *aggregates: Aggregate) -> int:
    with _deep_recursion():
        return store.save(*aggregates)[-1].notification.id


def _stored(store: EventStore, event, state: bytes | None = None) -> int:
    """Inserts `event` as stored, with `state` instead of its own when given."""
    stored = store.mapper.to_stored_event(event)
    if state is not None:
        stored = StoredEvent(stored.originator_id, stored.originator_version, stored.topic, state)
    return store.recorder.insert_events([stored])[-1]


def _edited(store: EventStore, aggregate: Aggregate, edit) -> int:
    """The aggregate's first event with its stored state changed by `edit(state dict)`."""
    event = aggregate.collect_events()[0]
    state = json.loads(store.mapper.to_stored_event(event).state)
    edit(state)
    return _stored(store, event, json.dumps(state).encode())


# -- what an older version accepted, which this one projects -----------------------------------------


def long_names(store: EventStore, actor: Actor) -> dict[str, tuple[int, str]]:
    """A tag, site, flavor and benchmark, each with a long name (long_text): (position, name)."""
    names = {kind: long_text() for kind in ("tag", "site", "flavor", "benchmark")}
    site = Site(name=names["site"], address="a", description=None, actor=actor)
    written = {
        "tag": saved(store, Tag(name=names["tag"], description=None, actor=actor)),
        "site": saved(store, site),
        "flavor": saved(store, Flavor(site_id=site.id, name=names["flavor"], description=None, actor=actor)),
        "benchmark": saved(
            store,
            Benchmark(
                docker_image=names["benchmark"], docker_tag="1", url="u", json_schema={}, description=None, actor=actor
            ),
        ),
    }
    return {kind: (written[kind], names[kind]) for kind in names}


def result(store: EventStore, actor: Actor, benchmark_id: str, flavor_id: str, site_id: str, document) -> UUID:
    uploaded = Result(
        benchmark_id=UUID(benchmark_id),
        flavor_id=UUID(flavor_id),
        site_id=UUID(site_id),
        execution_datetime=EXECUTED,
        json=document,
        tags_ids=[],
        actor=actor,
    )
    saved(store, uploaded)
    return uploaded.id


# -- what no consumer can handle --------------------------------------------------------------------


def undecodable(store: EventStore) -> int:
    """A stored state that is not JSON."""
    event = Tag(name="never read", description=None, actor=Actor("old", "version")).collect_events()[0]
    return _stored(store, event, b"\xff not JSON")


def with_the_event_stores_shape(
    store: EventStore, actor: Actor, benchmark_id: str, flavor_id: str, site_id: str
) -> int:
    """A result document holding `{"_type_": ..., "_data_": ...}`: the event store cannot decode
    it (it reads that shape as one of its own values)."""
    uploaded = Result(
        benchmark_id=UUID(benchmark_id),
        flavor_id=UUID(flavor_id),
        site_id=UUID(site_id),
        execution_datetime=EXECUTED,
        json={"x": {"_type_": "no such type", "_data_": 1}},
        tags_ids=[],
        actor=actor,
    )
    return saved(store, uploaded)


def user_without_email(store: EventStore, issuer: str) -> int:
    """User.Registered lacking a field every handler of it reads (an older event's shape)."""
    sub = f"old-{uuid4().hex[:8]}"
    return _edited(
        store,
        User(sub=sub, iss=issuer, email=f"{sub}@example.org", actor=Actor(sub, issuer)),
        lambda state: state.pop("email"),
    )


def site_with_a_text_actor(store: EventStore) -> int:
    """Site.Submitted whose actor is a plain string: the event store reads it back (as a string),
    but no handler, nor the Kafka envelope's decoder, can use it."""
    site = Site(name=f"old-{uuid4().hex[:8]}", address="a", description=None, actor=Actor("old", "version"))
    return _edited(store, site, lambda state: state.update(actor="old@version"))


def nul_in_a_name(store: EventStore, actor: Actor) -> int:
    """A tag name with a NUL character: PostgreSQL's text refuses it (SQLite keeps it)."""
    return saved(store, Tag(name="nul\x00name", description=None, actor=actor))


def unpublishable_result(store: EventStore, actor: Actor) -> int:
    """Issue 10's event of over 16 MiB: 900,000 numbers `1e15`, each stored as
    `1000000000000000.0`. Of a benchmark no read model holds: a replay adds only its events index
    row, which `verify` knows a Kafka-fed read model cannot have (the relay parks the event)."""
    return saved(
        store,
        Result(
            benchmark_id=uuid4(),
            flavor_id=uuid4(),
            site_id=uuid4(),
            execution_datetime=EXECUTED,
            json={"n": [1e15] * 900_000},
            tags_ids=[],
            actor=actor,
        ),
    )
