"""Folds events into read tables. Each batch and the consumer's position are written in
one transaction: a crash loses nothing and a re-delivered event is skipped."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Callable, Iterable, Mapping

from eventsourcing.domain import DomainEventProtocol
from sqlalchemy.engine import Connection, Engine

from projections import read_store
from projections.read_model import BULK_HANDLERS, HANDLERS

log = logging.getLogger(__name__)

Handler = Callable[[Connection, DomainEventProtocol], None]
BulkHandler = Callable[[Connection, list], None]


class PositionedConsumer(ABC):
    """Applies batches of (notification id, event) past its stored position, exactly once in
    effect: the effects and the new position commit together. Subclasses define `handle`."""

    name: str

    def __init__(self, engine: Engine):
        self.engine = engine

    def position(self) -> int:
        with self.engine.connect() as conn:
            return read_store.position(conn, self.name)

    @abstractmethod
    def handle(self, conn: Connection, notification_id: int, event: DomainEventProtocol) -> None:
        """What one event does to this consumer's tables, inside the batch's transaction."""

    def apply(self, batch: Iterable[tuple[int, DomainEventProtocol]]) -> int:
        """Applies the events past the stored position; returns the new position."""
        with self.engine.begin() as conn:
            start = current = read_store.position(conn, self.name, for_update=True)
            fresh = []
            for notification_id, event in batch:
                if notification_id <= current:
                    continue  # already applied (re-delivery, or another instance got there first)
                fresh.append((notification_id, event))
                current = notification_id
            if fresh:
                self.handle_all(conn, fresh)
                read_store.set_position(conn, self.name, current)
        return current

    def handle_all(self, conn: Connection, items: list[tuple[int, DomainEventProtocol]]) -> None:
        """The batch's events in order; a consumer may fold runs of events together."""
        for notification_id, event in items:
            self.handle(conn, notification_id, event)


class Projector(PositionedConsumer):
    """The read model: one handler per event type (projections/read_model/). A run of
    consecutive events of a type with a bulk handler (uploads) is folded in one call."""

    def __init__(
        self,
        engine: Engine,
        name: str = "read_model",
        handlers: Mapping[type, Handler] = HANDLERS,
        bulk_handlers: Mapping[type, BulkHandler] = BULK_HANDLERS,
    ):
        super().__init__(engine)
        self.name = name
        self.handlers = handlers
        self.bulk_handlers = bulk_handlers

    def handle_all(self, conn: Connection, items: list[tuple[int, DomainEventProtocol]]) -> None:
        run: list = []
        for notification_id, event in items:
            if run and type(event) is not type(run[0]):
                self.bulk_handlers[type(run[0])](conn, run)
                run = []
            if type(event) in self.bulk_handlers:
                run.append(event)
            else:
                self.handle(conn, notification_id, event)
        if run:
            self.bulk_handlers[type(run[0])](conn, run)

    def handle(self, conn: Connection, notification_id: int, event: DomainEventProtocol) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(conn, event)
