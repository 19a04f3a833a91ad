"""A replay's uploads decoded and made into rows in worker processes.

Replaying a log is mostly uploads, and most of an upload's projection is pure work on the event
alone: decoding it, writing its events index data and its document's text, finding the
document's numbers (read_model/results.py `upload_rows`, read_model/events_index.py
`index_row`). Done in the replaying process, that work and SQLite's (or PostgreSQL's) took turns
on one core. Here worker processes do it on the others, a batch ahead of the projector: the
replaying process reads the stored notifications, hands the uploads over as stored, decodes the
few other events itself, and applies each batch in log order, the uploads as `PreparedUpload`s.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import resource
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Iterator
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from domain.event_store import EventStore
from domain.result import Result
from projections.sources import EventStoreSource, undecodable
from read_model import events_index
from read_model.results import PreparedUpload, upload_rows

# The topic handed to the workers. An upload holds no sealed personal data (domain/personal_data.py;
# tests/test_replay.py checks it), so a worker needs no keys to decode it: only the store's
# transcodings.
UPLOADED = get_topic(Result.Uploaded)
# Uploads per task: small enough that the first batch waits little for its first rows.
UPLOADS_PER_TASK = 2000


def default_workers() -> int:
    """The cores this process may run on but its own: none on one core, where a worker would
    only take turns with the replaying process, and cost the pickling on top."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores - 1


def cpu_seconds() -> float:
    """CPU seconds of this process and of its ended children: a replay's worker processes count
    once the replay has stopped them."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def prepared_batches(
    source: EventStoreSource, after: int, stop: int | None, postgres: bool, workers: int
) -> Iterator[list[tuple[int, object]]]:
    """`source.batches(after, stop)`, with each upload a `PreparedUpload` (or the Undecodable
    that stands for one its worker could not decode). The next batch's uploads are handed to the
    workers before a batch is yielded, so they are prepared while it is applied."""
    # spawn: the replaying process may hold connections and threads (the embedded service), which
    # a forked child would inherit. An executor, not a Pool: a worker that dies fails the tasks it
    # leaves (BrokenProcessPool), where a Pool's would be waited for for ever.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(postgres,))
    try:
        waiting: deque = deque()  # (notifications, the tasks of their uploads or None), in log order
        queued = 0  # events waiting
        for number, notifications in enumerate(_parts(source.notifications(after, stop))):
            # The first part is decoded here, while the workers start.
            tasks = [pool.submit(_task, chunk) for chunk in _chunks(_uploads(notifications))] if number else None
            waiting.append((notifications, tasks))
            queued += len(notifications)
            # A batch is applied once the workers hold a whole batch's worth of events after it:
            # they prepare those while it is applied.
            while queued - len(waiting[0][0]) >= source.batch:
                queued -= len(waiting[0][0])
                yield _assembled(source, *waiting.popleft())
        while waiting:
            yield _assembled(source, *waiting.popleft())
    finally:
        pool.shutdown(cancel_futures=True)  # a replay that stopped early waits for no more tasks


def _parts(batches: Iterator[list]) -> Iterator[list]:
    """The batches, the first in parts applied one by one: the events up to a task's worth of
    uploads (a log starts with its catalog: users, benchmarks, sites, flavors), which the
    replaying process decodes and applies itself while the workers start (0.3 s), then parts of a
    task each, so that it goes on with the first rows ready instead of waiting for the whole
    batch's (about a second)."""
    for number, batch in enumerate(batches):
        if number:
            yield batch
            continue
        first_upload = next((at for at, n in enumerate(batch) if n.topic == UPLOADED), len(batch))
        yield batch[: first_upload + UPLOADS_PER_TASK]
        yield from _chunks(batch[first_upload + UPLOADS_PER_TASK :])


def _chunks(items: list) -> list[list]:
    return [items[at : at + UPLOADS_PER_TASK] for at in range(0, len(items), UPLOADS_PER_TASK)]


def _uploads(notifications: list) -> list[tuple]:
    """The uploads among the notifications, as a worker takes them: the fields of a StoredEvent,
    the originator's UUID as its integer (a UUID is pickled through its state dict: 10^5 of them
    took 0.17 s to pickle here and 0.21 s to unpickle in a worker, against 0.02 and 0.015)."""
    return [
        (n.id, n.originator_id.int, n.originator_version, n.topic, n.state)
        for n in notifications
        if n.topic == UPLOADED
    ]


def _assembled(source: EventStoreSource, notifications: list, tasks: list | None) -> list[tuple[int, object]]:
    """The batch in log order: the workers' uploads where they were, the other events (all of
    them, without tasks) decoded here."""
    if tasks is None:
        return source.decoded(notifications)
    prepared = iter([upload for task in tasks for upload in task.result()])
    return [(n.id, next(prepared) if n.topic == UPLOADED else source.decode(n)) for n in notifications]


# -- in a worker process ----------------------------------------------------------------------------

_worker: tuple[Mapper, bool] | None = None


def _start(postgres: bool) -> None:
    """A mapper with the event store's transcodings, and the database the rows are for. The
    cyclic garbage collector off, as in the replaying process (projections/replay.py): a task's
    objects are freed by reference counting."""
    global _worker
    gc.disable()
    _worker = EventStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper, postgres


def _task(uploads: list[tuple]) -> list:
    mapper, postgres = _worker
    prepared = []
    for notification_id, originator_id, version, topic, state in uploads:
        stored = StoredEvent(UUID(int=originator_id), version, topic, state)
        try:
            event = mapper.sealed_domain_event(stored)
        except Exception as error:  # the event's doing: parked by the projector, as a source's
            prepared.append(undecodable(stored, error))
            continue
        try:
            index_row = events_index.index_row(notification_id, event, postgres)
            prepared.append(PreparedUpload(index_row, upload_rows(event, postgres)))
        except Exception:  # handed back decoded: the projector fails on it (and parks it) as it would here
            prepared.append(event)
    return prepared
