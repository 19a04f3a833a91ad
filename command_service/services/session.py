"""One command's view of the event store: cached loads, one atomic save, retries on races."""

from __future__ import annotations

import random
import time

from typing import Callable, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.errors import Conflict
from domain.event_store import EventStore

A = TypeVar("A", bound=Aggregate)
ATTEMPTS = 12


class Session:
    def __init__(self, store: EventStore, *, shared_loads: bool = False):
        """`shared_loads`: loads answer the aggregates of the store's cache themselves instead of
        private deep copies of them, which saves a copy per load. Only for commands that change
        none of the aggregates they load (an upload only reads the catalog and creates a new
        result): a change to a shared aggregate would change it for every later command of the
        process, so saving one is refused."""
        self.store = store
        self.shared_loads = shared_loads
        self._loaded: dict[UUID, Aggregate | None] = {}

    def get(self, cls: type[A], id: UUID) -> A | None:
        """The aggregate of that class, or None when there is none (or it is of another kind)."""
        if id not in self._loaded:
            try:
                self._loaded[id] = self.store.repository.get(id, deepcopy_from_cache=not self.shared_loads)
            except AggregateNotFoundError:
                self._loaded[id] = None
        aggregate = self._loaded[id]
        return aggregate if isinstance(aggregate, cls) else None

    def save(self, *aggregates: Aggregate | None) -> int:
        """Saves every changed aggregate in one transaction; returns the last notification id."""
        if self.shared_loads and any(a is not None and a.id in self._loaded for a in aggregates):
            raise RuntimeError("a command with shared loads changed a loaded aggregate")
        recordings = self.store.save(*(a for a in aggregates if a is not None))
        return recordings[-1].notification.id if recordings else 0


class Commands:
    """Runs commands against the event store and tells the caller where the log now ends."""

    def __init__(self, store: EventStore, on_saved: Callable[[int], None] = lambda position: None):
        self.store = store
        self.on_saved = on_saved

    def run(
        self, command: Callable[..., tuple[object, int]], *args, conflict: str = "Changes conflict",
        shared_loads: bool = False, **kwargs,
    ):
        """Runs `command(session, ...)`. A concurrent writer makes the save fail; the command is
        then re-run on fresh state, where it sees the other write (e.g. a taken name -> 409).
        `shared_loads`: see Session."""
        attempt = 1
        while True:
            try:
                outcome, position = command(Session(self.store, shared_loads=shared_loads), *args, **kwargs)
                break
            except IntegrityError:
                if attempt == ATTEMPTS:
                    raise Conflict(conflict) from None
                time.sleep(random.uniform(0, 0.002 * attempt))  # de-synchronise racing writers
                attempt += 1
        if position:
            self.on_saved(position)
        return outcome, position
