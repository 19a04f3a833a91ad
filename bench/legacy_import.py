"""The speed of `eosc-perf import-legacy` on a large legacy database (docs/performance.md).

Restores tests/fixtures/legacy/legacy-eosc-perf-n1000.sql into a new database of the local
PostgreSQL server (deploy/local/postgres.sh), scales its 1,000 c-ray and CNN results up to
`--copies` x 1,000 (each copy a new id, its tags copied too), imports it into each event store
given, and prints rows/s, events/s and the CPU per row of the importing process and of its
worker processes. The database is dropped at the end.

    .venv/bin/python bench/legacy_import.py --copies 100 --event-store sqlite:////tmp/bench-import/events.sqlite \\
        --event-store postgresql://eosc_perf:eosc_perf@127.0.0.1:55432/bench_import_events
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configuration.stores import open_event_store  # noqa: E402
from legacy_import.importer import Importer  # noqa: E402
from legacy_import.source import LegacySource  # noqa: E402
from legacy_import.workers import default_workers  # noqa: E402
from tests.support.legacy_databases import dump_text, restored  # noqa: E402

SCALE = """
CREATE TEMP TABLE copies AS SELECT r.id AS old, gen_random_uuid() AS new, n FROM result r, generate_series(1, %(more)s) n;
INSERT INTO result (deleted, id, uploader_sub, uploader_iss, upload_datetime, json, execution_datetime, benchmark_id,
                    flavor_id, site_id)
  SELECT r.deleted, c.new, r.uploader_sub, r.uploader_iss, r.upload_datetime + c.n * interval '1 second', r.json,
         r.execution_datetime, r.benchmark_id, r.flavor_id, r.site_id FROM copies c JOIN result r ON r.id = c.old;
INSERT INTO result_tags (result_id, tag_id) SELECT c.new, rt.tag_id FROM copies c JOIN result_tags rt ON rt.result_id = c.old;
ANALYZE result; ANALYZE result_tags;
"""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(legacy_url: str, event_store: str, workers: int) -> None:
    store = open_event_store(event_store, connection_wait=30)
    if store.recorder.max_notification_id():
        raise SystemExit(f"{event_store} is not empty: give an empty event store")
    with LegacySource(legacy_url) as source:
        wall, cpu, children = time.monotonic(), time.process_time(), children_cpu()
        outcome = Importer(source, store, "bench", progress=lambda *args, **kwargs: None, workers=workers).run()
        wall, cpu, children = time.monotonic() - wall, time.process_time() - cpu, children_cpu() - children
    rows = sum(outcome.rows.values())
    print(
        f"{event_store.split('@')[-1]}: {rows:,} rows, {outcome.events:,} events in {wall:.1f} s: "
        f"{rows / wall:,.0f} rows/s, {outcome.events / wall:,.0f} events/s; CPU per row {cpu / rows * 1e6:.0f} us "
        f"importing + {children / rows * 1e6:.0f} us in {workers} workers; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--copies", type=int, default=100, help="results = copies x 1,000")
    arguments.add_argument("--event-store", action="append", required=True, help="an empty event store (repeatable)")
    arguments.add_argument("--workers", type=int, default=default_workers())
    args = arguments.parse_args()
    with restored(dump_text("legacy-eosc-perf-n1000.sql")) as legacy_url:
        with psycopg.connect(legacy_url, autocommit=True) as legacy:
            legacy.execute(SCALE % {"more": args.copies - 1})
        for event_store in args.event_store:
            measure(legacy_url, event_store, args.workers)


if __name__ == "__main__":
    main()
