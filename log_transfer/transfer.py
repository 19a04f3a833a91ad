"""`eosc-perf export` and `eosc-perf import`: the whole event log (or its events after a
position) to a file, and that file into an empty event store with the same notification ids,
aggregate ids, versions, times and order (the file's format: log_transfer/file_format.py).

An import reads the whole file once before it writes anything: a truncated or changed file is
refused with its line number and leaves the store as it was. It then writes in batches, one
transaction each: a crash leaves the store holding the file's events up to the end of a batch,
and `import --resume` continues after them (it checks that the store's last event is the file's).
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, TextIO

from configuration.event_links import GENESIS, link, previous_link
from configuration.stores import link_table
from domain.event_store import EventStore
from log_transfer import file_format
from log_transfer.file_format import ExportFileError, Line, Reader
from log_transfer.read_ahead import read_ahead
from log_transfer.recorders import insert_numbered

EXPORT_BATCH = 5000  # events per read of the log
# Events per transaction of an import: few commits, and a bounded batch in memory.
IMPORT_BATCH = 5000
IMPORT_BATCH_BYTES = 16 * 2**20


class ImportRefused(Exception):
    """The store or the file does not allow the import; nothing was written."""


@dataclass(frozen=True)
class Moved:
    events: int
    seconds: float
    position: int  # the store's head: what the file's header names, after an import

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


class Progress:
    """One line on stderr about every second: events so far, events/s, and the time left when
    the total is known (`total` may grow as it goes: a log written meanwhile)."""

    def __init__(self, verb: str, total: int | None, stream: TextIO | None = None, interval: float = 1.0):
        self.verb, self.total = verb, total
        self.stream = stream or sys.stderr
        self.interval = interval
        self.started = self._shown = time.monotonic()

    def __call__(self, done: int, final: bool = False, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        now = time.monotonic()
        if not final and now - self._shown < self.interval:
            return
        self._shown = now
        rate = done / (now - self.started) if now > self.started else 0.0
        of = "" if self.total is None else f" of {self.total:,}"
        left = f", {(self.total - done) / rate:,.0f} s left" if self.total is not None and rate and not final else ""
        print(f"  {self.verb} {done:,}{of} events ({rate:,.0f} events/s{left})", file=self.stream, flush=True)


def export(store: EventStore, out: BinaryIO, since: int = 0, progress: Callable[..., None] | None = None) -> Moved:
    """Writes the events after `since` up to the head as it is when the export starts."""
    started = time.perf_counter()
    recorder, mapper = store.recorder, store.mapper
    head = recorder.max_notification_id() or 0
    show = progress or Progress("exported", max(head - since, 0))
    links = link_table(recorder)
    before = None  # the link the file continues from: none for a whole log, or a store without links
    if since:
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(links.last_before(since + 1))
            row = cursor.fetchone()
            before = None if row is None else bytes(row["link"])
    first = file_format.header(since, head, before) + b"\n"
    out.write(first)
    digest = hashlib.sha256(first)
    count = 0
    for notifications, linked in read_ahead(_batches(recorder, links, since, head)):
        chunk = b"".join(file_format.event_line(mapper, n, linked.get(n.id)) + b"\n" for n in notifications)
        digest.update(chunk)
        out.write(chunk)
        count += len(notifications)
        show(count)
    keys = file_format.personal_keys(store.mapper.keyring.keys()) + b"\n"  # of the users living now
    digest.update(keys)
    out.write(keys)
    out.write(file_format.end(count, digest.hexdigest()) + b"\n")
    out.flush()
    show(count, final=True)
    return Moved(count, time.perf_counter() - started, head)


def _batches(recorder, links, after: int, head: int) -> Iterator[tuple[list, dict[int, bytes]]]:
    """The events after `after` up to `head`, EXPORT_BATCH at a time, each with its links by
    notification id; read a batch ahead (log_transfer/read_ahead.py) while the export encodes."""
    while after < head:
        notifications = recorder.select_notifications(after, EXPORT_BATCH, stop=head, inclusive_of_start=False)
        if not notifications:
            return
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(links.between(after, notifications[-1].id))
            linked = {row["notification_id"]: bytes(row["link"]) for row in cursor.fetchall()}
        yield notifications, linked
        after = notifications[-1].id


def import_file(
    store: EventStore, path: Path, *, resume: bool = False, progress: Callable[..., None] | None = None
) -> Moved:
    started = time.perf_counter()
    recorder = store.recorder
    position = recorder.max_notification_id() or 0
    header, count, at_position = _checked(path, position, progress or Progress("checked", None))
    start = _start(store, header, position, at_position, resume)
    if start == header.since > 0 and header.previous_link is not None:
        with recorder.datastore.transaction(commit=False) as cursor:
            if previous_link(cursor, link_table(recorder)) != header.previous_link:
                raise ImportRefused(
                    f"the event store's chain link at position {start} is not the one this file continues "
                    "from: it was exported from another log; nothing was written"
                )
    show = progress or Progress("imported", count if start == header.since else None)
    done, batch, size = 0, [], 0
    with path.open("rb") as stream:
        reader = Reader(stream)
        for line in reader.events():
            if line.notification_id <= start:
                continue
            batch.append((line.notification_id, line.stored))
            size += len(line.stored.state)
            if len(batch) >= IMPORT_BATCH or size >= IMPORT_BATCH_BYTES:
                insert_numbered(recorder, batch)
                done, batch, size = done + len(batch), [], 0
                show(done)
    if batch:
        insert_numbered(recorder, batch)
        done += len(batch)
    store.mapper.keyring.restore(reader.keys)
    show(done, final=True)
    return Moved(done, time.perf_counter() - started, recorder.max_notification_id() or 0)


def _checked(path: Path, position: int, show: Callable[..., None]) -> tuple[file_format.Header, int, Line | None]:
    """Reads the whole file through its checks: (header, events, the file's line at `position`).
    The events' chain links are checked against their bytes from the header's link on."""
    count, at_position = 0, None
    with path.open("rb") as stream:
        reader = Reader(stream)
        previous = GENESIS if reader.header.since == 0 else reader.header.previous_link
        for line in reader.events():
            count += 1
            previous = _linked(line, previous)
            if line.notification_id == position:
                at_position = line
            show(count)
    show(count, final=True)
    return reader.header, count, at_position


def _linked(line: Line, previous: bytes | None) -> bytes | None:
    """The line's link, checked against its bytes when the link before it is known."""
    if previous is None:
        return line.link
    expected = link(previous, line.notification_id, line.stored)
    if line.link is not None and line.link != expected:
        raise ExportFileError(
            f"line {line.number}: event {line.notification_id}'s chain link does not match its bytes and the "
            "link before it: the event (or one before it) was changed after it was linked"
        )
    return expected


def _start(store: EventStore, header: file_format.Header, position: int, at_position: Line | None, resume: bool) -> int:
    """The position after which the import writes, or ImportRefused."""
    if position == header.since:
        return position  # an empty store for a whole log; for a file of --since S, a store at S
    continues = at_position is not None and _same(store, at_position)
    if resume and continues:
        return position
    if continues and position == header.head:
        raise ImportRefused(
            f"the event store already holds every event of this file (up to position {position}): "
            "nothing to import; nothing was written"
        )
    if resume:
        raise ImportRefused(
            f"the event store's last event (position {position}) is not this file's event at that "
            "position: it is not an interrupted import of this file; nothing was written"
        )
    where = "an empty event store" if header.since == 0 else f"an event store at position {header.since}"
    hint = (
        " They are this file's first events: an interrupted import? Run it again with --resume to continue"
        if continues
        else ""
    )
    raise ImportRefused(
        f"the event store is not empty: it holds events up to position {position}, and this file "
        f"loads only into {where}.{hint}; nothing was written"
    )


def _same(store: EventStore, line: Line) -> bool:
    [stored] = store.recorder.select_notifications(line.notification_id, 1)
    expected = line.stored
    return (stored.id, stored.originator_id, stored.originator_version, stored.topic, bytes(stored.state)) == (
        line.notification_id,
        expected.originator_id,
        expected.originator_version,
        expected.topic,
        expected.state,
    )
