"""Keeps consumers (the read-model projector, the mailer) up with an event source.

In the embedded default a write calls `catch_up()` before it answers, so reads see it at
once; a background thread also polls, for consumers that lag on purpose (mail retries)."""

from __future__ import annotations

import logging
import threading
from typing import Callable, Protocol

from projections.sources import EventStoreSource

log = logging.getLogger(__name__)


class Consumer(Protocol):
    def position(self) -> int: ...

    def apply(self, batch) -> int: ...


class Follower:
    def __init__(self, source: EventStoreSource, consumer: Consumer, on_applied: Callable[[int], None] | None = None):
        """`on_applied` is told each position the consumer has committed, in order."""
        self.source = source
        self.consumer = consumer
        self.on_applied = on_applied
        self._lock = threading.Lock()

    def catch_up(self, *_ignored) -> int:
        """Applies every event not yet applied; returns the consumer's position."""
        with self._lock:
            position = self.consumer.position()
            for batch in self.source.batches(position):
                position = self.consumer.apply(batch)
                if self.on_applied is not None:
                    self.on_applied(position)
            return position

    def follow_pointer(self, active) -> None:
        """After a rebuild's switch (read_model/active_store.py): the consumer's engine moves to
        the store the pointer names, between two batches, and `on_applied` is told its position
        (the new store's, at least the old one's)."""
        with self._lock:
            if active.refresh() and self.on_applied is not None:
                self.on_applied(self.consumer.position())

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        while not stop.is_set():
            try:
                self.catch_up()
            except Exception:  # keep following; the failed batch is retried next round
                log.exception("consumer %s failed; retrying", type(self.consumer).__name__)
            stop.wait(interval)
