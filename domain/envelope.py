"""The envelope: one Kafka message per stored event, as plain JSON (docs/event-bus.md).

    {"notification_id": 42, "event_type": "domain.site:Site.Submitted",
     "aggregate_id": "…", "aggregate_version": 1, "timestamp": "2025-…+00:00",
     "actor": {"sub": "…", "iss": "…"} | null, "payload": {…the event's other fields…}}

Values JSON lacks are written plainly for other services (UUIDs and times as strings, an
actor as an object), so decoding them back into a domain event uses the event class's type
hints. The event is first decoded through the event store's mapper, so upcasting and any
cipher stay inside the store: the envelope always carries the current version of the event.

It sits in the domain because every event must be able to travel: the command side measures
an event's envelope before saving it (command_service/services/event_size.py), the relay and
the Kafka consumers of projections/bus/ write and read it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.utils import get_topic, resolve_topic

from domain.actor import Actor

# The topic's largest message (broker and clients are configured with it, see projections/bus/broker.py).
MAX_MESSAGE_BYTES = 16 * 2**20
# The largest envelope, and stored event, the command side writes: half the largest message.
# The other half is margin for the record's key, headers and framing, and for fields a later
# version adds; a request making a larger event is refused (command_service/services/event_size.py).
MAX_EVENT_BYTES = MAX_MESSAGE_BYTES // 2

# Fields of every event that the envelope carries at its top level, not in the payload.
LIFTED = ("originator_id", "originator_version", "timestamp", "actor")
# Event classes are only looked up in the domain package: a message names a class to import.
DOMAIN_TOPIC_PREFIX = "domain."


class EnvelopeError(ValueError):
    """A message that is not an envelope of a known event."""


def members_of(value: Any) -> dict | list | None:
    """A container's members as the JSON form keeps them (not yet plain), None for a scalar."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return None


def plain_scalar(value: Any) -> Any:
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def plain(value: Any, scalar: Callable[[Any], Any] = plain_scalar) -> Any:
    """The JSON form of an event field's value. Built without recursion: a result's document
    may nest as deep as an earlier version accepted, and the relay must still publish it.
    `scalar`: the form of a value that holds no others (the read model writes times as the API does)."""
    top: list = [None]
    pending = [(value, top, 0)]  # (value, the container its JSON form goes into, at this key or index)
    while pending:
        item, into, at = pending.pop()
        members = members_of(item)
        if members is None:
            into[at] = scalar(item)
            continue
        into[at] = made = dict.fromkeys(members) if isinstance(members, dict) else [None] * len(members)
        pending += (
            (member, made, key)
            for key, member in (members.items() if isinstance(members, dict) else enumerate(members))
        )
    return top[0]


def envelope(notification_id: int, event: DomainEventProtocol) -> dict:
    return _message(notification_id, event, plain)


def _message(notification_id: int, event: DomainEventProtocol, convert: Callable[[Any], Any]) -> dict:
    fields = vars(event)
    actor = fields.get("actor")
    return {
        "notification_id": notification_id,
        "event_type": get_topic(type(event)),
        "aggregate_id": str(event.originator_id),
        "aggregate_version": event.originator_version,
        "timestamp": event.timestamp.isoformat(),
        "actor": convert(actor) if actor is not None else None,
        "payload": {name: convert(value) for name, value in fields.items() if name not in LIFTED},
    }


def to_bytes(message: dict) -> bytes:
    # Key order is kept, not sorted: a result's JSON must reach the read model as it was sent.
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def _unlike_json(value: Any) -> Any:
    """What `plain` makes of a value JSON lacks, one level deep: the encoder goes on into it."""
    if not isinstance(value, (dict, list, tuple)):
        members = members_of(value)
        if members is not None:
            return members
        made = plain_scalar(value)
        if made is not value:
            return made
    raise TypeError(f"{type(value).__name__} is not plain")


def envelope_bytes(notification_id: int, event: DomainEventProtocol, **extra: Any) -> bytes:
    """`to_bytes` of the envelope with `extra` fields after it, the same bytes, about four times
    faster: json's C encoder walks the fields and calls back only for values JSON lacks. Keys
    JSON lacks (a UUID) stop the encoder: that event takes `plain`'s walk."""
    try:
        return json.dumps(
            {**_message(notification_id, event, lambda value: value), **extra},
            ensure_ascii=False,
            separators=(",", ":"),
            default=_unlike_json,
        ).encode()
    except TypeError:
        return to_bytes({**envelope(notification_id, event), **extra})


def from_bytes(value: bytes) -> dict:
    return json.loads(value)


# -- back into a domain event ----------------------------------------------------------------


@lru_cache(maxsize=None)
def event_class(event_type: str) -> type:
    if not event_type.startswith(DOMAIN_TOPIC_PREFIX):
        raise EnvelopeError(f"not an event of this service: {event_type!r}")
    try:
        return resolve_topic(event_type)
    except Exception as error:  # an event type this code does not know (newer publisher?)
        raise EnvelopeError(f"unknown event type {event_type!r}: {error}") from error


@lru_cache(maxsize=None)
def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {field.name: hints.get(field.name, Any) for field in dataclasses.fields(cls)}


def typed(hint: Any, value: Any) -> Any:
    """`value` (plain JSON) as the type `hint` names; unknown hints keep the JSON value."""
    if value is None or hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        candidates = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        for candidate in candidates:
            try:
                return typed(candidate, value)
            except (TypeError, ValueError):
                continue
        return value
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return origin(typed(item, each) for each in value)
    if origin is dict:
        args = typing.get_args(hint)
        item = args[1] if len(args) == 2 else Any
        return {key: typed(item, each) for key, each in value.items()}
    if hint in (UUID, Decimal):
        return hint(value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is date:
        return date.fromisoformat(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        nested = field_types(hint)
        return hint(**{name: typed(nested.get(name, Any), each) for name, each in value.items()})
    return value


def decode(message: dict) -> tuple[int, DomainEventProtocol]:
    """(notification id, domain event) from an envelope, the event equal to the stored one."""
    try:
        cls = event_class(message["event_type"])
        hints = field_types(cls)
        state = {name: typed(hints.get(name, Any), value) for name, value in message["payload"].items()}
        state["originator_id"] = UUID(message["aggregate_id"])
        state["originator_version"] = int(message["aggregate_version"])
        state["timestamp"] = datetime.fromisoformat(message["timestamp"])
        if "actor" in hints:
            actor = message["actor"]
            state["actor"] = Actor(actor["sub"], actor["iss"]) if actor is not None else None
        notification_id = int(message["notification_id"])
    except (KeyError, TypeError, ValueError) as error:
        raise EnvelopeError(f"malformed envelope: {error!r}") from error
    # As the event store's mapper builds events: no __init__, the state is the instance dict.
    event = object.__new__(cls)
    object.__setattr__(event, "__dict__", state)
    return notification_id, event
