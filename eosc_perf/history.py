"""The event history of one aggregate, for `eosc-perf history ID`: the audit trail."""

from __future__ import annotations

import json
from typing import Iterator
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.event_store import EventStore
from http_api import documents

HIDDEN_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}


def _describe(value) -> str:
    if isinstance(value, (dict, list)):
        # Lists of ids (a result's tags_ids) hold UUIDs: written as their text.
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return text if len(text) <= 120 else text[:117] + "..."
    return str(value)


def history_lines(store: EventStore, aggregate_id: UUID) -> Iterator[str]:
    """One line per event: version, time, event type, actor, and the fields it set."""
    for event in store.events.get(aggregate_id):
        actor = getattr(event, "actor", None)
        who = f"{actor.sub}@{actor.iss}" if actor else "-"
        fields = {k: v for k, v in vars(event).items() if k not in HIDDEN_FIELDS}
        changes = " ".join(f"{name}={_describe(value)}" for name, value in sorted(fields.items()))
        kind = get_topic(type(event)).split(":", 1)[-1]
        yield f"v{event.originator_version}  {documents.timestamp(event.timestamp)}Z  {kind}  by {who}  {changes}".rstrip()
