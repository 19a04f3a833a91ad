"""The Kafka envelope (docs/event-bus.md): plain JSON out, the very same domain event back.

Every event class of the domain is round-tripped with values made from its type hints, so a
new event or a field of a new type that the envelope cannot carry fails here, not in Kafka.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import types
import typing
from datetime import datetime, timezone
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate

import domain
from domain import envelope
from domain.actor import Actor
from domain.result import Result
from domain.site import Site
from domain.tag import Tag


def event_classes() -> list[type]:
    found = set()
    for module in pkgutil.iter_modules(domain.__path__):
        loaded = importlib.import_module(f"domain.{module.name}")
        for aggregate in vars(loaded).values():
            if isinstance(aggregate, type) and issubclass(aggregate, Aggregate) and aggregate is not Aggregate:
                for event_class in vars(aggregate).values():
                    if isinstance(event_class, type) and issubclass(event_class, Aggregate.Event):
                        found.add(event_class)
    return sorted(found, key=lambda cls: (cls.__module__, cls.__qualname__))


def sample(hint, name: str):
    """A value of the type `hint`, unlike the JSON form of itself."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return sample(next(arg for arg in typing.get_args(hint) if arg is not type(None)), name)
    if typing.get_origin(hint) is list:
        return [sample(typing.get_args(hint)[0], name) for _ in range(2)]
    if typing.get_origin(hint) is dict:
        key, value = typing.get_args(hint)
        return {f"{name} key {n}": sample(value, name) for n in range(2)} if key is str else {}
    if name == "originator_id" or hint is UUID:
        return uuid4()
    if hint is datetime:
        return datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc if name == "timestamp" else None)
    if hint is Actor:
        return Actor("alice", "https://aai.example.org/oidc")
    if hint is int:
        return 3
    if hint is dict:
        return {"z": 1, "a": [1.5, "ü", None, {"nested": True}], "big": 2**70}  # key order is kept
    return f"{name} ✓"


def sample_event(cls):
    hints = typing.get_type_hints(cls)
    state = {field.name: sample(hints[field.name], field.name) for field in dataclasses.fields(cls)}
    event = object.__new__(cls)
    object.__setattr__(event, "__dict__", state)
    return event


@pytest.mark.parametrize("cls", event_classes(), ids=lambda cls: f"{cls.__module__}:{cls.__qualname__}")
def test_every_domain_event_comes_back_equal_from_its_envelope(cls):
    event = sample_event(cls)
    message = envelope.envelope(42, event)
    wire = envelope.to_bytes(message)
    assert json.loads(wire) == message  # plain JSON, nothing Python-only left
    notification_id, decoded = envelope.decode(envelope.from_bytes(wire))
    assert notification_id == 42
    assert type(decoded) is cls
    assert vars(decoded) == vars(event)
    if "json" in vars(event):
        assert list(decoded.json) == list(event.json)
    assert envelope.envelope_bytes(42, event, extra="x") == envelope.to_bytes({**message, "extra": "x"})


def test_the_fast_envelope_bytes_equal_the_walked_ones_for_values_json_lacks():
    event = sample_event(Result.Uploaded)
    for document in (
        {"ids": {uuid4(), uuid4()}},
        {"when": datetime(2024, 1, 2)},
        {uuid4(): "a key JSON lacks"},
        {"pair": (1, Actor("a", "b"))},
    ):
        object.__setattr__(event, "json", document)
        assert envelope.envelope_bytes(7, event) == envelope.to_bytes(envelope.envelope(7, event))


def test_the_envelope_lifts_identity_time_and_actor_out_of_the_payload():
    event = sample_event(Site.Submitted)
    message = envelope.envelope(7, event)
    assert message["event_type"] == "domain.site:Site.Submitted"
    assert message["aggregate_id"] == str(event.originator_id)
    assert message["aggregate_version"] == event.originator_version
    assert message["timestamp"] == "2024-05-06T07:08:09.123456+00:00"
    assert message["actor"] == {"sub": "alice", "iss": "https://aai.example.org/oidc"}
    assert set(message["payload"]) == {"originator_topic", "name", "address", "description"}


@pytest.mark.parametrize("event_type", ["os:system", "domain.site:Site.Exploded", "builtins:dict"])
def test_an_envelope_of_an_unknown_or_foreign_event_type_is_refused(event_type):
    message = envelope.envelope(1, sample_event(Tag.Deleted))
    message["event_type"] = event_type
    with pytest.raises(envelope.EnvelopeError):
        envelope.decode(message)
