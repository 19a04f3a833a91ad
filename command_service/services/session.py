"""One command's view of the event store: cached loads, one atomic save, retries on races."""

from __future__ import annotations

import random
import time
from typing import Callable, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from command_service.services import event_size
from domain.errors import Conflict
from domain.event_store import EventStore

A = TypeVar("A", bound=Aggregate)
ATTEMPTS = 12


class Session:
    def __init__(self, store: EventStore):
        self.store = store
        self._loaded: dict[UUID, Aggregate | None] = {}

    def get(self, cls: type[A], id: UUID) -> A | None:
        """The aggregate of that class, or None when there is none (or it is of another kind)."""
        if id not in self._loaded:
            try:
                self._loaded[id] = self.store.repository.get(id)
            except AggregateNotFoundError:
                self._loaded[id] = None
        aggregate = self._loaded[id]
        return aggregate if isinstance(aggregate, cls) else None

    def save(self, *aggregates: Aggregate | None) -> int:
        """Saves every changed aggregate in one transaction, once each of their events is known
        to be small enough to be published; returns the last notification id."""
        changed = [a for a in aggregates if a is not None]
        event_size.check(self.store, changed)
        recordings = self.store.save(*changed)
        return recordings[-1].notification.id if recordings else 0


class Commands:
    """Runs commands against the event store and tells the caller where the log now ends."""

    def __init__(self, store: EventStore, on_saved: Callable[[int], None] = lambda position: None):
        self.store = store
        self.on_saved = on_saved

    def run(self, command: Callable[..., tuple[object, int]], *args, conflict: str = "Changes conflict", **kwargs):
        """Runs `command(session, ...)`. A concurrent writer makes the save fail; the command is
        then re-run on fresh state, where it sees the other write (e.g. a taken name -> 409)."""
        attempt = 1
        while True:
            try:
                outcome, position = command(Session(self.store), *args, **kwargs)
                break
            except IntegrityError:
                if attempt == ATTEMPTS:
                    raise Conflict(conflict) from None
                time.sleep(random.uniform(0, 0.002 * attempt))  # de-synchronise racing writers
                attempt += 1
        if position:
            self.on_saved(position)
        return outcome, position
