"""The event history of one aggregate, for `eosc-perf history ID`: the audit trail."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Iterator
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.event_store import EventStore
from http_api import documents

HIDDEN_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}


def _api_value(value):
    """What the API would show for a value json cannot write itself: ids and times as text."""
    if isinstance(value, datetime):
        return documents.timestamp(value)
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a value of an event")


def _describe(value) -> str:
    """A field's value as the API writes it (null, true, ISO times), strings without quotes."""
    if isinstance(value, str):
        return value
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_api_value)
    text = text.strip('"') if isinstance(value, (datetime, UUID)) else text
    return text if len(text) <= 120 else text[:117] + "..."


def _kind(event) -> str:
    return get_topic(type(event)).split(":", 1)[-1]


def history_lines(store: EventStore, aggregate_id: UUID) -> Iterator[str]:
    """One line per event: version, time, event type, actor, and the fields it set."""
    for event in store.events.get(aggregate_id):
        actor = getattr(event, "actor", None)
        who = f"{actor.sub}@{actor.iss}" if actor else "-"
        fields = {k: v for k, v in vars(event).items() if k not in HIDDEN_FIELDS}
        changes = " ".join(f"{name}={_describe(value)}" for name, value in sorted(fields.items()))
        when = documents.timestamp(event.timestamp)
        yield f"v{event.originator_version}  {when}Z  {_kind(event)}  by {who}  {changes}".rstrip()


def history_documents(store: EventStore, aggregate_id: UUID) -> Iterator[str]:
    """One JSON object per event (`history --json`), values written as the API writes them."""
    for event in store.events.get(aggregate_id):
        actor = getattr(event, "actor", None)
        document = {
            "version": event.originator_version,
            "time": documents.timestamp(event.timestamp),
            "type": _kind(event),
            "actor": {"sub": actor.sub, "iss": actor.iss} if actor else None,
            "fields": {k: v for k, v in vars(event).items() if k not in HIDDEN_FIELDS},
        }
        yield json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_api_value)
