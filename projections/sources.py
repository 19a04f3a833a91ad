"""Where projectors read events from. A source yields (notification id, domain event) in
notification order after a given position; the same projector code runs on any source."""

from __future__ import annotations

from typing import Iterator

from eventsourcing.domain import DomainEventProtocol

from domain.event_store import EventStore

BATCH = 500


class EventStoreSource:
    """The event store's notification log (embedded default; PostgreSQL polling)."""

    def __init__(self, store: EventStore, batch: int = BATCH):
        self.store = store
        self.batch = batch

    def read(self, after: int) -> list[tuple[int, DomainEventProtocol]]:
        notifications = self.store.recorder.select_notifications(
            start=after, limit=self.batch, inclusive_of_start=False
        )
        return [(n.id, self.store.mapper.to_domain_event(n)) for n in notifications]

    def head(self) -> int:
        return self.store.recorder.max_notification_id() or 0

    def batches(self, after: int) -> Iterator[list[tuple[int, DomainEventProtocol]]]:
        while batch := self.read(after):
            yield batch
            after = batch[-1][0]
