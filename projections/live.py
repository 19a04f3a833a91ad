"""Following the event store as it commits: LISTEN/NOTIFY on PostgreSQL (`eosc-perf project`).

The projector listens on the channel the event store notifies with each write, then reads
everything committed after its stored position, up to `batch` events per transaction, and
waits for the next notification (at most `idle` seconds, to see `stop`). Notifications that
came while it was applying are taken together: one read serves them all, so a burst of writes
is applied in batches, and each write costs one read of the log, not one per notification.
After a notification it may linger `linger` seconds (PROJECTOR_LINGER_MS, off by default)
before reading: the writes of those milliseconds join the same batch. A batch's statements cost
nearly as much for one upload as for ten (the kept counts, the position, the commit), so a
linger saves CPU under a steady stream of uploads, and makes each of them visible that much
later and more (docs/performance.md, issue 16).
Listening starts before the first read: a write committed after a read is always notified.
Any failure (database restart, lost connection) ends the round; it starts again from the
stored position after a short pause."""

from __future__ import annotations

import logging
import threading

from psycopg.sql import SQL, Identifier

from domain.event_store import EventStore
from projections.projector import Projector
from projections.sources import EventStoreSource

log = logging.getLogger(__name__)


def follow(
    store: EventStore,
    projector: Projector,
    stop: threading.Event,
    pause: float = 1.0,
    batch: int = 500,
    idle: float = 0.5,
    linger: float = 0.0,
) -> None:
    source = EventStoreSource(store, batch)
    listen = SQL("LISTEN {0}").format(Identifier(store.recorder.channel_name))
    while not stop.is_set():
        try:
            with store.recorder.datastore.get_connection() as conn:
                conn.execute(listen)
                position = projector.position()
                while not stop.is_set():
                    for events in source.batches(position):
                        position = projector.apply(events)
                    notified = list(conn.notifies(timeout=idle, stop_after=1))
                    if notified:  # these and the others already here: one read has them
                        for _ in conn.notifies(timeout=linger):
                            pass
        except Exception:
            if stop.is_set():
                break
            log.exception("projection interrupted; resuming from the stored position")
            stop.wait(pause)
