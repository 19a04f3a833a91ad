"""`eosc-perf seal-personal-data`: copies a log whose events hold e-mail addresses in plain (stored
before crypto-shredding, domain/personal_data.py) into a new, empty event store, sealing them.

Stored events are immutable and linked in the hash chain, so a log cannot be sealed in place: the
copy keeps every event's notification id, aggregate id, version and time, and its bytes, except
the personal fields of the events that hold them, which are sealed under their user's key in the
new store's key table. A `User.Removed` met on the way erases that user's key there and then, so
what the user stored before it is erased in the copy, as it would have been had the log been
sealed from its start. The copy gets its own chain links; its head is new and is what an operator
publishes from then on. The old store (and the Kafka topic fed from it) still hold the plain
addresses: docs/operations.md says what to do with them.
"""

from __future__ import annotations

import time
from typing import Callable

from eventsourcing.persistence import Notification, StoredEvent

from configuration.stores import checkpoint
from domain.event_store import EventStore
from domain.personal_data import ERASED, ERASING_TOPICS, PERSONAL_FIELDS, PERSONAL_TOPICS
from log_transfer.recorders import insert_numbered
from log_transfer.transfer import Moved, Progress

BATCH = 500


class SealingRefused(ValueError):
    """The target is not an empty event store: nothing was written."""


def seal_copy(source: EventStore, target: EventStore, progress: Callable[..., None] | None = None) -> Moved:
    started = time.perf_counter()
    if target.recorder.max_notification_id():
        raise SealingRefused(
            "the target event store is not empty: the copy goes into a new, empty store; nothing was written"
        )
    head = source.recorder.max_notification_id() or 0
    show = progress or Progress("sealed", head)
    count, after = 0, 0
    while after < head:
        notifications = source.recorder.select_notifications(after, BATCH, stop=head, inclusive_of_start=False)
        if not notifications:
            break
        insert_numbered(target.recorder, [(n.id, _sealed(source, target, n)) for n in notifications])
        count, after = count + len(notifications), notifications[-1].id
        show(count)
    checkpoint(target.recorder)  # the erased keys' pages leave SQLite's write-ahead log
    show(count, final=True)
    return Moved(count, time.perf_counter() - started, target.recorder.max_notification_id() or 0)


def _sealed(source: EventStore, target: EventStore, notification: Notification) -> StoredEvent:
    """The event as the target stores it: resealed when it holds personal data in a form that
    still opens, as it was otherwise (an erased value stays sealed under its destroyed key)."""
    stored = StoredEvent(
        notification.originator_id, notification.originator_version, notification.topic, bytes(notification.state)
    )
    if notification.topic in ERASING_TOPICS:
        target.mapper.keyring.erase(stored)  # before the events after it are sealed (a registration anew)
        return stored
    if notification.topic not in PERSONAL_TOPICS:
        return stored  # not decoded: the bytes stay as they are
    event = source.mapper.to_domain_event(notification)
    if all(getattr(event, field) == ERASED for field in PERSONAL_FIELDS[type(event)]):
        return stored
    return target.mapper.to_stored_event(event)
