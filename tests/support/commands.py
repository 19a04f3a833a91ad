"""What the tests of the command layer below HTTP share: a caller, a benchmark's fields, and
commands over an in-memory event store."""

from __future__ import annotations

from command_service.services.session import Commands
from domain.actor import Actor
from domain.event_store import EventStore

ACTOR = Actor(sub="someone", iss="https://issuer.example.org")
BENCHMARK_FIELDS = {
    "docker_image": "org/bench",
    "docker_tag": "1.0",
    "url": "https://example.org/bench",
    "json_schema": {"type": "object"},
    "description": None,
}


def in_memory(one_at_a_time: bool = False) -> Commands:
    return Commands(EventStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}), one_at_a_time=one_at_a_time)
