"""The events index: one row per event of the log, whatever its type, written by the projector
in the same transaction as the other read tables. Item histories, the admins' audit search and
the public change feed read it (query_service/views/history.py), never the event store.

The role is the capacity an event was caused in, known from its type: the API lets only admins
approve, reject, update, delete, remove and restore, so those events are "admin"; uploads,
submits, claims, tag changes and a user's own registration are "user". An identity is no admin
by itself (admins are named by their token's entitlements, which events do not keep)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any, Iterable
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.utils import get_topic
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from domain import envelope, transcoding
from domain.personal_data import ERASED, PERSONAL_FIELDS
from http_api import documents
from read_model import counts
from read_model.results import PreparedUpload
from read_model.rows import id_text, insert_rows, stored_time, utc
from read_model.tables import events_index

USER_EVENTS = frozenset(
    {
        "Benchmark.Submitted",
        "Site.Submitted",
        "Flavor.Submitted",
        "Claim.Submitted",
        "Result.Uploaded",
        "Result.TagsReplaced",
        "Result.Claimed",
        "Tag.Created",
        "User.Registered",
        "User.RegisteredAgain",
        "User.EmailUpdated",
    }
)
# The field naming the item a claim is about: the claim's events show in that result's history.
RELATED_FIELD = "result_id"


def _api_scalar(value: Any) -> Any:
    if isinstance(value, datetime):
        return documents.timestamp(value)
    return envelope.plain_scalar(value)


def event_type(topic: str) -> str:
    """`Result.Claimed` of `domain.result:Result.Claimed`."""
    return topic.rpartition(":")[2]


def role(type_name: str, actor) -> str | None:
    if actor is None:
        return None
    return "user" if type_name in USER_EVENTS else "admin"


# Besides the envelope's lifted fields: the aggregate's class of a creation event, which its type names.
NOT_DATA = frozenset({*envelope.LIFTED, "originator_topic"})


def _api_member(value: Any) -> Any:
    """What JSON lacks, for the encoder: the members of a container, the form of a scalar."""
    if type(value) in (UUID, datetime):  # most of what an event holds besides JSON: ids and times
        return _api_scalar(value)
    members = envelope.members_of(value)
    if members is not None:
        return members
    scalar = _api_scalar(value)
    if scalar is value:
        raise TypeError(f"{type(value).__name__} has no JSON form")
    return scalar


def _written_by_orjson(fields: dict) -> str | None:
    """The fields' JSON written by orjson when that is `documents.dumps`'s text: ids and times as
    the API writes them, a dict or list of JSON values alone as `transcoding.json_text` vouches
    for, strings, integers of 64 bits, booleans and None. Anything else (a float, a set, a
    dataclass, a subclass) returns None, for the standard encoder. The events of a replay are
    nearly all of these kinds, and the standard encoder's call back into Python for each id and
    time was a tenth of a replay's time."""
    prepared: dict[str, Any] = {}
    for name, value in fields.items():
        kind = type(value)
        if kind in _ORJSON_AS_JSON:
            prepared[name] = value
        elif kind is UUID:
            prepared[name] = id_text(value)
        elif kind is datetime:
            prepared[name] = documents.timestamp(value)
        elif kind is dict or kind is list:
            if kind is list and value and all(type(item) is UUID for item in value):
                prepared[name] = [id_text(item) for item in value]
                continue
            text = transcoding.json_text(value, sort_keys=True)
            if text is None:
                return None
            prepared[name] = orjson.Fragment(text)
        else:
            return None
    try:
        return orjson.dumps(prepared, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, a lone surrogate
        return None


# Values orjson writes as `json` does (exact types: orjson writes some subclasses its own way).
_ORJSON_AS_JSON = frozenset({str, int, bool, type(None)})


def data_of(event: DomainEventProtocol) -> str:
    """The event's fields as JSON, sorted by key. Most events are written by orjson
    (`_written_by_orjson`); the others by the standard encoder, which walks them in C and asks
    `_api_member` only for what JSON lacks (ids, times, sets, dataclasses): a result document
    is already JSON, and walking it in Python (`envelope.plain`) was most of a replay's time.
    The same text: keys of the events' dicts are text (documents come from JSON), so the encoder
    names them alike. A document nested deeper than the encoder recurses is walked by
    `envelope.plain`."""
    fields = {name: value for name, value in vars(event).items() if name not in NOT_DATA}
    text = _written_by_orjson(fields)
    if text is not None:
        return text
    try:
        return documents.dumps(fields, default=_api_member)
    except (RecursionError, TypeError):
        return documents.dumps(envelope.plain(fields, _api_scalar))


def _related_of(conn: Connection, item_id: str, known: dict[str, str | None]) -> str | None:
    """The related item of an item's earlier events (the result of a claim being reviewed)."""
    if item_id not in known:
        known[item_id] = conn.execute(
            select(events_index.c.related_id).where(events_index.c.item_id == item_id, events_index.c.version == 1)
        ).scalar()
    return known[item_id]


_COLUMNS = (
    "position",
    "item_id",
    "related_id",
    "version",
    "topic",
    "type",
    "timestamp",
    "actor_sub",
    "actor_iss",
    "role",
    "data",
)


# In a row of `index_row`: the event's related item is that of its item's earlier events, which
# `record` looks up (the event names none, and is not its item's first).
RELATED_LOOKED_UP = ...


def index_row(notification_id: int, event: DomainEventProtocol, postgres: bool) -> tuple:
    """The event's row of the index (`_COLUMNS`), from the event alone: pure work, which a replay
    has done in worker processes for its uploads (projections/replay_workers.py)."""
    topic = get_topic(type(event))
    type_name = event_type(topic)
    related = getattr(event, RELATED_FIELD, None)
    if isinstance(related, UUID):
        related = id_text(related)
    elif event.originator_version > 1:
        related = RELATED_LOOKED_UP
    else:
        related = None
    actor = getattr(event, "actor", None)
    return (
        notification_id,
        id_text(event.originator_id),
        related,
        event.originator_version,
        topic,
        type_name,
        stored_time(utc(event.timestamp), postgres),
        actor.sub if actor is not None else None,
        actor.iss if actor is not None else None,
        role(type_name, actor),
        data_of(event),
    )


def record(conn: Connection, items: Iterable[tuple[int, DomainEventProtocol | PreparedUpload]]) -> None:
    """Indexes a batch of (notification id, event), in order: straight through the driver
    (read_model/rows.py), as a replay's other bulk inserts. An upload a replay's worker prepared
    brings its row."""
    postgres = conn.dialect.name == "postgresql"
    rows = [
        event.index_row if type(event) is PreparedUpload else index_row(notification_id, event, postgres)
        for notification_id, event in items
    ]
    related_of: dict[str, str | None] = {}  # item id -> related id, for the batch's later events
    for at, row in enumerate(rows):
        item_id, related = row[1], row[2]
        if related is RELATED_LOOKED_UP:
            rows[at] = (*row[:2], _related_of(conn, item_id, related_of), *row[3:])
        else:
            related_of[item_id] = related
    if rows:
        insert_rows(conn, events_index, _COLUMNS, rows)
        counts.add_events(conn, Counter(row[5] for row in rows))  # by type


# Type name (as the index keeps it) -> the fields of that event type that hold personal data.
_PERSONAL = {event_type(get_topic(cls)): fields for cls, fields in PERSONAL_FIELDS.items()}


def erase_personal_data(conn: Connection, user_id) -> None:
    """A removed user's personal fields in their indexed events read as erased, as a replay
    reads them once the user's key is gone (domain/personal_data.py), so both agree."""
    rows = conn.execute(
        select(events_index.c.position, events_index.c.type, events_index.c.data).where(
            events_index.c.item_id == str(user_id), events_index.c.type.in_(_PERSONAL)
        )
    ).all()
    for position, type_name, data in rows:
        fields = json.loads(data)
        fields.update(dict.fromkeys(_PERSONAL[type_name], ERASED))
        conn.execute(
            update(events_index).where(events_index.c.position == position).values(data=documents.dumps(fields))
        )
