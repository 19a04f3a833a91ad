"""One command's view of the event store: cached loads, one atomic save, retries on races."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from typing import Callable, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from command_service.services import event_size
from command_service.services.aggregate_cache import KEPT, AggregateCache
from configuration.stores import Confirm, Latest
from domain.actor import Actor
from domain.errors import Conflict, DomainError, Unregistered
from domain.event_store import EventStore
from domain.user import User

A = TypeVar("A", bound=Aggregate)
ATTEMPTS = 12


class StaleCopy(Exception):
    """A copy the aggregate cache served is no longer the store's latest: the command runs again."""


class Session:
    def __init__(self, store: EventStore, cache: AggregateCache | None = None):
        self.store = store
        self.cache = cache
        self._loaded: dict[UUID, Aggregate | None] = {}
        self._served: dict[UUID, Latest] = {}  # copies from the cache, and what they were the latest as
        self._fresh: dict[UUID, Aggregate] = {}  # of the kept kinds, loaded from the store, for the cache to keep

    def get(self, cls: type[A], id: UUID) -> A | None:
        """The aggregate of that class, or None when there is none (or it is of another kind)."""
        if id not in self._loaded:
            served = self.cache.get(id) if self.cache is not None else None
            if served is not None:
                self._loaded[id], self._served[id] = served
            else:
                try:
                    self._loaded[id] = loaded = self.store.repository.get(id)
                except AggregateNotFoundError:
                    self._loaded[id] = None
                else:
                    if isinstance(loaded, KEPT):  # results and claims are never kept: nothing to ask
                        self._fresh[id] = loaded
        aggregate = self._loaded[id]
        return aggregate if isinstance(aggregate, cls) else None

    def registered_user(self, actor: Actor) -> User | None:
        user = self.get(User, User.create_id(actor.sub, actor.iss))
        return user if user is not None and user.registered else None

    def confirm(self) -> bool:
        """Whether every copy the cache served is still the store's latest, by one query, which
        also tells the cache what the aggregates loaded from the store were the latest as."""
        if not self._to_confirm():
            return True
        return self._settle(self.cache.latest_events(self._to_confirm()))

    def _to_confirm(self) -> tuple[UUID, ...]:
        return (*self._served, *self._fresh) if self.cache is not None else ()

    def _settle(self, latest: dict[UUID, Latest]) -> bool:
        """Drops the stale copies and keeps the fresh loads, given the store's latest events of
        both; whether every copy served was current."""
        stale = [id for id, seen in self._served.items() if latest.get(id) != seen]
        self.cache.drop(stale)
        for id, aggregate in self._fresh.items():
            if id in latest:
                self.cache.keep(aggregate, latest[id])
        self._served, self._fresh = {}, {}
        return not stale

    def _current(self, latest: dict[UUID, Latest]) -> None:
        """The check of a save's confirmation (configuration/stores.py, Confirm)."""
        if not self._settle(latest):
            raise StaleCopy()

    def save(self, *aggregates: Aggregate | None) -> int:
        """Saves every changed aggregate in one transaction, once each of their events is known
        to be small enough to be published; returns the last notification id. That what the
        command read is current is confirmed by the save itself, under its lock (without events
        to save, Commands.run confirms it)."""
        changed = [a for a in aggregates if a is not None]
        with self.store.mapper.encoding_once():  # the events measured are the events stored
            event_size.check(self.store, changed)
            asked = self._to_confirm()
            confirm = Confirm(asked, self._current) if asked else None
            recordings = self.store.save(*changed, confirm=confirm)
        if self.cache is not None:
            self.cache.saved(changed, recordings)
        return recordings[-1].notification.id if recordings else 0


class Commands:
    """Runs commands against the event store and tells the caller where the log now ends.

    `one_at_a_time`: this process runs one command at a time, its projection (`on_saved`)
    included: the embedded default, whose writes are in-process work under the GIL, and wait
    for SQLite's one writer anyway. Run side by side, each writer's Python ran while another's
    SQLite statement had let the GIL go, and each statement then waited to get it back: an
    upload cost 6 % more CPU with four writers, for 2 % more uploads a second (docs/performance.md).
    Nothing that waits on the network runs inside a command (a benchmark's image check runs
    before it: resources/catalog.py)."""

    def __init__(
        self,
        store: EventStore,
        on_saved: Callable[[int], None] = lambda position: None,
        cache: AggregateCache | None = None,
        one_at_a_time: bool = False,
    ):
        self.store = store
        self.on_saved = on_saved
        self.cache = cache
        self._turn = threading.Lock() if one_at_a_time else contextlib.nullcontext()

    def run(
        self,
        command: Callable[..., tuple[object, int]],
        *args,
        registered: Actor | None,
        conflict: str = "Changes conflict",
        **kwargs,
    ):
        """Runs `command(session, ...)`. A concurrent writer makes the save fail; the command is
        then re-run on fresh state, where it sees the other write (e.g. a taken name -> 409). So
        does an answer or a refusal that read a cached copy no longer current.

        `registered`: the caller the access gate admitted as registered (`admits`), or None when
        the operation needs no registration. Each attempt checks it first, in its own session:
        the gate's copy of the user is confirmed with the rest, and a caller no longer
        registered is refused as the gate would (Unregistered, 403)."""
        with self._turn:
            return self._run(command, *args, registered=registered, conflict=conflict, **kwargs)

    def _run(
        self, command: Callable[..., tuple[object, int]], *args, registered: Actor | None, conflict: str, **kwargs
    ):
        attempt = 1
        while True:
            session = Session(self.store, self.cache)
            try:
                if registered is not None and session.registered_user(registered) is None:
                    raise Unregistered(registered.sub, registered.iss)
                outcome, position = command(session, *args, **kwargs)
                if position or session.confirm():
                    break
            except DomainError:
                if session.confirm():
                    raise
            except StaleCopy:
                pass
            except IntegrityError:
                session.confirm()  # when it saved from a copy no longer current: dropped, the next attempt loads it
            if attempt == ATTEMPTS:
                raise Conflict(conflict) from None
            time.sleep(random.uniform(0, 0.002 * attempt))  # de-synchronise racing writers
            attempt += 1
        if position:
            self.on_saved(position)
        return outcome, position

    def admits(self, caller: Actor, *, confirmed: bool = False) -> bool:
        """The access gate's question, whether the caller is registered, answered from this
        process's copy of the user without a query: the command the request then runs confirms
        that copy (`run`'s `registered`). Only a refusal is confirmed here, so that a copy no
        longer current never turns a registered caller away; `confirmed`: the certain answer."""
        if not confirmed and Session(self.store, self.cache).registered_user(caller) is not None:
            return True
        registered, _ = self.run(lambda session: (session.registered_user(caller) is not None, 0), registered=None)
        return registered
