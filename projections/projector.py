"""Folds events into read tables. Each batch and the projector's position are written in
one transaction: a crash loses nothing and a re-delivered event is skipped."""

from __future__ import annotations

import logging
from typing import Callable, Iterable, Mapping

from eventsourcing.domain import DomainEventProtocol
from sqlalchemy.engine import Connection, Engine

from projections import read_store
from projections.read_model import HANDLERS

log = logging.getLogger(__name__)

Handler = Callable[[Connection, DomainEventProtocol], None]


class Projector:
    def __init__(self, engine: Engine, name: str = "read_model", handlers: Mapping[type, Handler] = HANDLERS):
        self.engine = engine
        self.name = name
        self.handlers = handlers

    def position(self) -> int:
        with self.engine.connect() as conn:
            return read_store.position(conn, self.name)

    def apply(self, batch: Iterable[tuple[int, DomainEventProtocol]]) -> int:
        """Applies the events past the stored position; returns the new position."""
        with self.engine.begin() as conn:
            start = current = read_store.position(conn, self.name, for_update=True)
            for notification_id, event in batch:
                if notification_id <= current:
                    continue  # already applied (re-delivery, or another instance got there first)
                handler = self.handlers.get(type(event))
                if handler is not None:
                    handler(conn, event)
                current = notification_id
            if current != start:
                read_store.set_position(conn, self.name, current)
        return current
