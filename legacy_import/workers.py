"""Results are translated in worker processes.

A result costs about a quarter of a millisecond of CPU before it reaches the event store:
parsing its document, checking it against its benchmark's schema, building its events and
encoding them (the library's JSON transcoder). The main process only reads the legacy database
and writes batches, so the work spreads over the machine's cores. Workers hand back the rows
in order, each as the stored events the library's mapper made of it, with its findings.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Iterator

from eventsourcing.persistence import Mapper, StoredEvent

from domain.claim import Claim
from domain.event_store import EventStore
from legacy_import.findings import Finding
from legacy_import.translation import Translation

ROWS_PER_TASK = 500


@dataclass
class Row:
    """One legacy row, translated: its key (where an import resumes) and what it becomes. Plain
    tuples, not dataclasses, cross between processes: they pickle in half the time."""

    key: list[str]
    events: list[tuple] = field(default_factory=list)  # StoredEvent fields; none when the row is skipped
    submits: dict[str, datetime] = field(default_factory=dict)
    claims: int = 0
    findings: list[tuple] = field(default_factory=list)  # Finding fields

    @property
    def size(self) -> int:
        """Bytes of its events' states."""
        return sum(len(fields[3]) for fields in self.events)

    def stored_events(self) -> list[StoredEvent]:
        return [StoredEvent(*fields) for fields in self.events]

    def found(self) -> list[Finding]:
        return [Finding(*fields) for fields in self.findings]


def translate(
    translation: Translation, mapper: Mapper, phase: str, keyed: Iterable[tuple[list[str], dict]]
) -> list[Row]:
    translate_row = getattr(translation, phase)
    rows = []
    for key, legacy_row in keyed:
        translated = translate_row(legacy_row)
        stored = [
            mapper.to_stored_event(event) for aggregate in translated.aggregates for event in aggregate.collect_events()
        ]
        rows.append(
            Row(
                key,
                [(event.originator_id, event.originator_version, event.topic, event.state) for event in stored],
                translated.submits,
                sum(1 for aggregate in translated.aggregates if isinstance(aggregate, Claim)),
                [(finding.kind, finding.table, finding.key, finding.detail) for finding in translation.findings.take()],
            )
        )
    return rows


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


# -- in a worker process ----------------------------------------------------------------------------

_worker: tuple[Translation, Mapper] | None = None


def _start(translation: Translation) -> None:
    """A worker's translation (what earlier tables became) and a mapper configured as the
    event store's (the same transcodings, and cipher or compression from the environment)."""
    global _worker
    _worker = translation, EventStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper


def _task(phase: str, columns: list[str], keyed: list[tuple[list[str], tuple]]) -> list[Row]:
    translation, mapper = _worker
    return translate(translation, mapper, phase, ((key, dict(zip(columns, values))) for key, values in keyed))


# -- in the importing process ----------------------------------------------------------------------


def translated_in_workers(
    translation: Translation, phase: str, keyed: Iterator[tuple[list[str], dict]], workers: int
) -> Iterator[Row]:
    """The rows translated by `workers` processes, in their order. At most two tasks per worker
    wait at a time, so a million rows never sit in memory at once."""
    context = multiprocessing.get_context("spawn")  # the importer holds connections and threads: no fork
    with context.Pool(workers, initializer=_start, initargs=(translation,)) as pool:
        waiting: deque = deque()
        for columns, task in _tasks(keyed):
            waiting.append(pool.apply_async(_task, (phase, columns, task)))
            if len(waiting) >= 2 * workers:
                yield from waiting.popleft().get()
        while waiting:
            yield from waiting.popleft().get()


def _tasks(keyed: Iterator[tuple[list[str], dict]]) -> Iterator[tuple[list[str], list]]:
    """Tasks of ROWS_PER_TASK rows, each row as its values (the column names once per task)."""
    columns, task = [], []
    for key, row in keyed:
        columns = list(row)
        task.append((key, tuple(row.values())))
        if len(task) == ROWS_PER_TASK:
            yield columns, task
            task = []
    if task:
        yield columns, task
