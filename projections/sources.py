"""Where projectors read events from. A source yields (notification id, domain event) in
notification order after a given position; the same projector code runs on any source.
A notification this code cannot decode comes as a `parking.Undecodable` in its place: the
consumer parks it (projections/parking.py) rather than stopping at it."""

from __future__ import annotations

from typing import Iterator

from eventsourcing.domain import DomainEventProtocol

from domain.event_store import EventStore
from domain.personal_data import BrokenSeal, opened
from projections.parking import Undecodable

BATCH = 500


def undecodable(notification, error: Exception) -> Undecodable:
    return Undecodable(notification.topic, notification.originator_id, notification.originator_version, repr(error))


class EventStoreSource:
    """The event store's notification log (embedded default; PostgreSQL polling)."""

    def __init__(self, store: EventStore, batch: int = BATCH):
        self.store = store
        self.batch = batch

    def decode(self, notification) -> DomainEventProtocol | Undecodable:
        """Decoding is computation on the stored bytes alone (no outage can fail it): whatever
        fails it, fails it again, so it is the event's doing. Opening its sealed personal data
        reads the key table: an outage there is raised (the batch is retried), a seal its key
        does not open is the event's doing too."""
        try:
            event = self.store.mapper.sealed_domain_event(notification)
        except Exception as error:
            return undecodable(notification, error)
        try:
            return opened(event, self.store.mapper.keyring)
        except BrokenSeal as error:  # any other failure reading the keys is an outage: raised, retried
            return undecodable(notification, error)

    def head(self) -> int:
        return self.store.recorder.max_notification_id() or 0

    def batches(self, after: int, stop: int | None = None) -> Iterator[list[tuple[int, DomainEventProtocol]]]:
        """Up to `stop` inclusive (the head if None)."""
        for notifications in self.notifications(after, stop):
            yield self.decoded(notifications)

    def decoded(self, notifications: list) -> list[tuple[int, DomainEventProtocol | Undecodable]]:
        return [(n.id, self.decode(n)) for n in notifications]

    def notifications(self, after: int, stop: int | None = None) -> Iterator[list]:
        """The stored notifications of `batches`, not decoded. A batch shorter than the limit
        reached the head as it was: asking again would cost a query that finds nothing (nearly
        always, when following the log); what came since is the next call's."""
        while notifications := self.store.recorder.select_notifications(
            start=after, limit=self.batch, stop=stop, inclusive_of_start=False
        ):
            yield notifications
            if len(notifications) < self.batch:
                return
            after = notifications[-1].id
