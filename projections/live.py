"""Following the event store as it commits: LISTEN/NOTIFY on PostgreSQL (`eosc-perf project`).

The subscription starts after the consumer's stored position, so a restart resumes where
the last committed batch ended. Each notification it delivers also wakes a catch-up read of
everything committed since (up to `batch` events per transaction): under a burst of writes
the projector applies them in batches rather than one transaction per event, and the
notifications already applied that way are skipped without touching the database.
Any failure (database restart, lost connection) ends the subscription; it is opened again
from the stored position after a short pause."""

from __future__ import annotations

import logging
import threading

from domain.event_store import EventStore
from projections.projector import Projector
from projections.sources import EventStoreSource

log = logging.getLogger(__name__)


def follow(
    store: EventStore, projector: Projector, stop: threading.Event, pause: float = 1.0, batch: int = 500
) -> None:
    source = EventStoreSource(store, batch)
    while not stop.is_set():
        try:
            position = projector.position()
            with store.recorder.subscribe(gt=position) as subscription:
                stopper = threading.Thread(target=lambda: (stop.wait(), subscription.stop()), daemon=True)
                stopper.start()
                for notification in subscription:
                    if notification.id <= position:
                        continue  # applied already, with an earlier catch-up read
                    events = [(notification.id, source.decode(notification))]
                    events += source.read(notification.id)
                    position = projector.apply(events)
        except Exception:
            if stop.is_set():
                break
            log.exception("projection interrupted; resuming from the stored position")
            stop.wait(pause)
