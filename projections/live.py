"""Following the event store as it commits: LISTEN/NOTIFY on PostgreSQL (`eosc-perf project`).

The subscription starts after the consumer's stored position, so a restart resumes where
the last committed batch ended. Any failure (database restart, lost connection) ends the
subscription; it is opened again from the stored position after a short pause."""

from __future__ import annotations

import logging
import threading

from domain.event_store import EventStore
from projections.projector import Projector

log = logging.getLogger(__name__)


def follow(store: EventStore, projector: Projector, stop: threading.Event, pause: float = 1.0) -> None:
    while not stop.is_set():
        try:
            with store.recorder.subscribe(gt=projector.position()) as subscription:
                stopper = threading.Thread(target=lambda: (stop.wait(), subscription.stop()), daemon=True)
                stopper.start()
                for notification in subscription:
                    projector.apply([(notification.id, store.mapper.to_domain_event(notification))])
        except Exception:
            if stop.is_set():
                break
            log.exception("projection interrupted; resuming from the stored position")
            stop.wait(pause)
