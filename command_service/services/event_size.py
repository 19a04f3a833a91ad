"""Every event the command side stores must also travel: measured before it is saved, as the
event store keeps it and as the Kafka envelope of docs/event-bus.md, against MAX_EVENT_BYTES.

The request limits (http_api/bounds.py) keep events far smaller; this is the check that
holds whatever they are set to: a document re-serialised grows (`1e15` is stored as
`1000000000000000.0`), and an event the relay could not publish would stop the event bus.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from domain import envelope
from domain.errors import TooLarge
from domain.event_store import EventStore

# The envelope's size grows with the digits of its notification id: measured with the largest.
LARGEST_NOTIFICATION_ID = 2**63 - 1


def _sizes(store: EventStore, event) -> tuple[int, int]:
    stored = len(store.mapper.to_stored_event(event).state)
    published = len(envelope.envelope_bytes(LARGEST_NOTIFICATION_ID, event))  # the bytes the relay sends
    return stored, published


def check(store: EventStore, aggregates: list[Aggregate]) -> None:
    """TooLarge (a 413) when an event the aggregates are about to record is larger than MAX_EVENT_BYTES."""
    for aggregate in aggregates:
        for event in aggregate.pending_events:
            size = max(_sizes(store, event))
            if size > envelope.MAX_EVENT_BYTES:
                raise TooLarge(
                    f"The request makes an event of {size} bytes; events are at most {envelope.MAX_EVENT_BYTES} bytes",
                )
