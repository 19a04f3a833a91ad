"""Folds events into read tables. Each batch and the consumer's position are written in
one transaction: a crash loses nothing and a re-delivered event is skipped.

An event the consumer cannot handle (a poison, projections/parking.py) is parked: the batch is
applied again event by event to find it, and the batch's other effects, the parked record and
the position commit together. An outage is raised, and the batch retried later, as it was."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Callable, Iterable, Mapping

from eventsourcing.domain import DomainEventProtocol
from sqlalchemy.engine import Connection, Engine

from domain.personal_data import ERASING
from observability import metrics
from projections import parking
from read_model import READ_MODEL, active_store, events_index, read_store, row_versions
from read_model.active_store import ActiveStore
from read_model.handlers import BULK_HANDLERS, HANDLERS

log = logging.getLogger(__name__)

Handler = Callable[[Connection, DomainEventProtocol], None]
BulkHandler = Callable[[Connection, list], None]


class _Poisoned(Exception):
    """The event at `notification_id` failed with a poison's error (its attempt is rolled back)."""

    def __init__(self, notification_id: int, error: Exception):
        super().__init__(notification_id, error)
        self.notification_id = notification_id
        self.error = error


class _Retired(Exception):
    """The store was switched away from (read_model/active_store.py): the batch is rolled back."""


class PositionedConsumer(ABC):
    """Applies batches of (notification id, event) past its stored position, exactly once in
    effect: the effects and the new position commit together. Subclasses define `handle`.

    `active`: the store the engine follows, when a rebuild may switch it (the read model's
    projector): each batch that moved the position checks, in its transaction, that the store
    is not retired, and if it is, the batch goes to the store pointed at now."""

    name: str

    def __init__(self, engine: Engine, active: ActiveStore | None = None):
        self.engine = engine
        self.active = active

    def position(self) -> int:
        try:
            with self.engine.connect() as conn:
                return read_store.position(conn, self.name)
        except Exception:
            self._follow_pointer()  # the store may be gone: a rebuild dropped it after its switch
            raise

    def _follow_pointer(self) -> bool:
        return self.active is not None and self.active.refresh()

    @abstractmethod
    def handle(self, conn: Connection, notification_id: int, event: DomainEventProtocol) -> None:
        """What one event does to this consumer's tables, inside the batch's transaction."""

    def apply(self, batch: Iterable[tuple[int, DomainEventProtocol]]) -> int:
        """Applies the events past the stored position; returns the new position. When the batch
        fails with a poison's error, it is applied again one event at a time: each failing event
        is parked (the attempt that found it is rolled back), until the rest applies."""
        batch = list(batch)
        parked: dict[int, str] = {}  # notification id -> the error it failed with
        one_by_one = any(isinstance(event, parking.Undecodable) for _, event in batch)
        while True:
            try:
                position, applied, parked_now = self._apply(batch, parked, one_by_one)
                if any(type(event) in ERASING for _, event in batch):
                    read_store.checkpoint(self.engine)  # a removed user's rows must leave SQLite's write-ahead log too
                metrics.events_projected(self.name, applied - len(parked_now))
                for notification_id, event, error in parked_now:
                    parking.log_parked(self.name, notification_id, event, error)
                    metrics.event_parked(self.name)
                return position
            except _Poisoned as poisoned:
                parked[poisoned.notification_id] = repr(poisoned.error)
            except _Retired:
                if not self._follow_pointer():
                    raise RuntimeError("the read store is retired but the pointer names it still") from None
                log.info("read store switched: %s now projects into %s", self.name, self.active.location)
            except Exception as error:
                if self._follow_pointer():
                    continue  # failed in a store switched away from (and dropped): the new one takes it
                if one_by_one or not parking.is_poison(error):
                    raise  # an outage (or a failure outside any one event): retried later, nothing parked
                one_by_one = True

    def _apply(self, batch: list, parked: dict[int, str], one_by_one: bool) -> tuple[int, int, list]:
        """One attempt, one transaction: (the new position, how many events it took, what it parked)."""
        parked_now: list[tuple] = []
        with self.engine.begin() as conn:
            current = read_store.position(conn, self.name, for_update=True)
            fresh = []
            for notification_id, event in batch:
                if notification_id <= current:
                    continue  # already applied (re-delivery, or another instance got there first)
                fresh.append((notification_id, event))
                current = notification_id
            if fresh and one_by_one:
                for notification_id, event in fresh:
                    self._handle_or_park(conn, notification_id, event, parked, parked_now)
            elif fresh:
                self.handle_all(conn, fresh)
            if fresh:
                read_store.set_position(conn, self.name, current)
                # After the position's write: the switch holds the same lock while it retires the
                # store, so a batch sees the mark or commits before the switch.
                if self.active is not None and active_store.is_retired(conn):
                    raise _Retired()
        return current, len(fresh), parked_now

    def _handle_or_park(
        self, conn: Connection, notification_id: int, event, parked: dict[int, str], parked_now: list
    ) -> None:
        why = event.error if isinstance(event, parking.Undecodable) else parked.get(notification_id)
        if why is not None:
            parking.park(conn, self.name, notification_id, event, why)
            parked_now.append((notification_id, event, why))
        else:
            try:
                self.handle(conn, notification_id, event)
            except Exception as error:
                if parking.is_poison(error):
                    raise _Poisoned(notification_id, error) from error
                raise

    def handle_all(self, conn: Connection, items: list[tuple[int, DomainEventProtocol]]) -> None:
        """The batch's events in order; a consumer may fold runs of events together."""
        for notification_id, event in items:
            self.handle(conn, notification_id, event)


class Projector(PositionedConsumer):
    """The read model: one handler per event type (read_model/), and every event in the events
    index (read_model/events_index.py). A run of consecutive events of a type with a bulk
    handler (uploads) is folded in one call."""

    def __init__(
        self,
        engine: Engine,
        name: str = READ_MODEL,
        handlers: Mapping[type, Handler] = HANDLERS,
        bulk_handlers: Mapping[type, BulkHandler] = BULK_HANDLERS,
    ):
        super().__init__(engine, active_store.of(engine))
        self.name = name
        self.handlers = handlers
        self.bulk_handlers = bulk_handlers

    def handle_all(self, conn: Connection, items: list[tuple[int, DomainEventProtocol]]) -> None:
        """Each change is stamped with its event's position (read_model/row_versions.py); a run
        folded in one call, with the position of the run's last event."""
        events_index.record(conn, items)
        run: list = []
        for notification_id, event in items:
            if run and type(event) is not type(run[0][1]):
                self._fold_run(conn, run)
                run = []
            if type(event) in self.bulk_handlers:
                run.append((notification_id, event))
            else:
                self._fold(conn, notification_id, event)
        if run:
            self._fold_run(conn, run)
        row_versions.set_clock(conn, None)

    def handle(self, conn: Connection, notification_id: int, event: DomainEventProtocol) -> None:
        events_index.record(conn, [(notification_id, event)])
        self._fold(conn, notification_id, event)
        row_versions.set_clock(conn, None)

    def _fold_run(self, conn: Connection, run: list[tuple[int, DomainEventProtocol]]) -> None:
        row_versions.set_clock(conn, run[-1][0])
        self.bulk_handlers[type(run[0][1])](conn, [event for _, event in run])

    def _fold(self, conn: Connection, notification_id: int, event: DomainEventProtocol) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            row_versions.set_clock(conn, notification_id)
            handler(conn, event)
