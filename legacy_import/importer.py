"""The import run: every legacy table in dependency order, translated row by row and written in
batches, each batch in one transaction of the event store.

Resumable, not all or nothing: a batch is saved together with a `BatchImported` marker that
says where the import got to, so a run that stops half way (crash, Ctrl-C, lost connection)
leaves whole batches behind and the next run continues after the last one. A completed
import is recorded (`Completed`); running it again writes nothing. The import is how a new
deployment's event store starts: it refuses a store that holds other events.

Every run reads and translates every row, also those a resumed run does not write again, so
its report always names every finding of the whole database.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterator, TextIO

from eventsourcing.application import AggregateNotFoundError

from domain.event_store import EventStore
from domain.legacy_import import LegacyImport
from legacy_import import event_writes, workers
from legacy_import.findings import Findings
from legacy_import.source import LegacySource
from legacy_import.translation import Translation

# A batch is one transaction of the event store: as many rows as fit these limits. Commits are
# costly (one costs about as much as 300 rows on SQLite). The library's PostgreSQL insert, in
# pipeline mode, hung here now and then beyond about 5 MB of events; the import writes its own
# way now (event_writes.py, no pipeline) and keeps the limit: a commit per 2 MB costs little.
ROWS_PER_BATCH = 5000
BYTES_PER_BATCH = 2_000_000

# The legacy tables in the order their events are written: each refers only to earlier ones
# (claims travel with the result that refers to them).
PHASES = ("user", "tag", "site", "flavor", "benchmark", "result")


class LegacyImportError(Exception):
    """The import cannot run against this event store; the message says why."""


@dataclass
class Outcome:
    state: str  # "imported", "already imported" or "dry run"
    rows: Counter = field(default_factory=Counter)  # rows imported (or to import) per legacy table
    events: int = 0  # events written (or to write)
    seconds: float = 0.0
    position: int = 0  # notification id of the last event written
    findings: Findings = field(default_factory=Findings)
    record: LegacyImport | None = None

    @property
    def rows_per_second(self) -> float:
        return sum(self.rows.values()) / self.seconds if self.seconds else 0.0


class Progress:
    """One line on the terminal per table and about every second: rows read, events written."""

    def __init__(self, stream: TextIO | None = None, interval: float = 1.0):
        self.stream = stream or sys.stderr
        self.interval = interval
        self._shown = time.monotonic()

    def __call__(self, table: str, done: int, total: int, events: int, started: float, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._shown < self.interval:
            return
        self._shown = now
        rate = done / (now - started) if now > started else 0.0
        print(
            f"  {table}: {done:,} of {total:,} rows, {events:,} events written ({rate:,.0f} rows/s)",
            file=self.stream,
            flush=True,
        )


class Importer:
    def __init__(
        self,
        source: LegacySource,
        store: EventStore | None,
        operator: str,
        progress: Callable[..., None] | None = None,
        rows_per_batch: int = ROWS_PER_BATCH,
        workers: int = 0,
    ):
        """`store` None: a dry run, which reads and translates everything and writes nothing.
        `workers`: processes that translate results (0: this one)."""
        self.source = source
        self.store = store
        self.operator = operator
        self.progress = progress or Progress()
        self.rows_per_batch = rows_per_batch
        self.workers = workers
        # Dry run: events are still made and encoded, as they would be, by a store in memory.
        self.mapper = (store or EventStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})).mapper

    def run(self) -> Outcome:
        started = time.monotonic()
        record, started_now = self._record() if self.store is not None else (None, True)
        if record is not None and record.completed:
            return Outcome("already imported", record=record)
        outcome = Outcome("imported" if record is not None else "dry run", record=record)
        outcome.events += started_now  # the record's start
        resume = (PHASES.index(record.phase), record.last_key) if record is not None and record.phase else None
        translation = Translation(
            record.created_on if record is not None else datetime.now(timezone.utc),
            self.source.first_uploads(),
            self.source.first_uses(),
            Findings(),  # handed on row by row
        )
        totals = self.source.counts()
        for phase in PHASES:
            self._phase(phase, translation, totals, resume, outcome)
        for claim in self.source.orphan_claims():
            outcome.findings.add(
                "orphan-claim", "claim", claim["id"], f"by {claim['uploader_sub']}@{claim['uploader_iss']}"
            )
        for submit in self.source.dangling_submits():
            outcome.findings.add("dangling-submit", "submit", submit["id"], submit["resource_type"])
        outcome.events += 1  # the record's end
        if record is not None:
            record.complete(rows=dict(outcome.rows), findings=outcome.findings.counts())
            outcome.position = self.store.save(record)[-1].notification.id
        outcome.seconds = time.monotonic() - started
        return outcome

    def _record(self) -> tuple[LegacyImport, bool]:
        """The import's record: found (resuming or done), or started now (True)."""
        try:
            record = self.store.repository.get(LegacyImport.create_id())
        except AggregateNotFoundError:
            head = self.store.recorder.max_notification_id() or 0
            if head:
                raise LegacyImportError(
                    f"the event store already holds events (up to position {head}): the import starts the event "
                    "store of a new deployment (see docs/operations.md)"
                ) from None
            record = LegacyImport(source=self.source.name, alembic_version=self.source.revision, operator=self.operator)
            self.store.save(record)
            return record, True
        if record.source.split("@")[-1] != self.source.name.split("@")[-1]:  # the same database, by any role
            raise LegacyImportError(f"this event store holds an import from {record.source}, not {self.source.name}")
        return record, False

    def _rows(self, phase: str) -> Iterator[tuple[list[str], dict]]:
        """The phase's rows with their keys, in key order (the resume point compares keys):
        users by identity, tags and results by id, benchmarks, sites and flavors by upload time
        (the first uploaded keeps a name rows share) and id. Results stream in id order, the
        order of their primary key's index."""
        if phase == "result":
            return (([row["id"]], row) for row in self.source.results())
        rows = getattr(self.source, f"{phase}s")()
        if phase == "user":
            keyed = [([row["iss"], row["sub"]], row) for row in rows]
        elif phase == "tag":
            keyed = [([row["id"]], row) for row in rows]
        else:  # ISO times of one form (microseconds, when there are, in 6 digits) sort as the times do
            keyed = [([row["upload_datetime"].isoformat(), row["id"]], row) for row in rows]
        return iter(sorted(keyed, key=lambda pair: pair[0]))

    def _phase(self, phase: str, translation: Translation, totals: dict, resume, outcome: Outcome) -> None:
        keyed = self._rows(phase)
        if phase == "result" and self.workers:
            rows = workers.translated_in_workers(translation, phase, keyed, self.workers)
        else:
            rows = iter(workers.translate(translation, self.mapper, phase, keyed))
        started = time.monotonic()
        batch: list[workers.Row] = []
        size = done = 0
        for row in rows:
            done += 1
            outcome.findings.found += row.found()
            if row.events:
                outcome.rows[phase] += 1
                if row.claims:
                    outcome.rows["claim"] += row.claims
            if resume is not None and (PHASES.index(phase), row.key) <= resume:
                continue  # written by an earlier run
            batch.append(row)
            size += row.size
            if len(batch) >= self.rows_per_batch or size >= BYTES_PER_BATCH:
                self._write(phase, batch, outcome)
                batch, size = [], 0
            self.progress(phase, done, totals[phase], outcome.events, started)
        if batch:
            self._write(phase, batch, outcome)
        self.progress(phase, done, totals[phase], outcome.events, started, final=True)

    def _write(self, phase: str, batch: list[workers.Row], outcome: Outcome) -> None:
        """One transaction: the marker (where the import got to, how many events follow), the
        rows' events, and the dates of the submit reports they open."""
        stored = [event for row in batch for event in row.stored_events()]
        submits = {id: when for row in batch for id, when in row.submits.items()}
        following = len(stored) + (1 if submits else 0)
        record = outcome.record
        if record is None:  # dry run: count what would be written
            outcome.events += 1 + following
            return
        record.batch_imported(phase=phase, last_key=batch[-1].key, events=following)
        if submits:
            record.submits_dated(dates=submits)
        marker, *dated = [self.mapper.to_stored_event(event) for event in record.collect_events()]
        outcome.position = event_writes.insert(self.store, [marker, *stored, *dated])
        outcome.events += 1 + following
