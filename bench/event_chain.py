"""The speed of `eosc-perf audit verify` and `eosc-perf audit link` (docs/performance.md).

Seeds a SQLite event store with `bench/seed.py --results N --project none` (unless --source
gives one), then, three times each, walks its hash chain (`verify`) and relinks it from its
first event (`link`, after the links are deleted); with --postgres it exports the log once and
imports it into a new database of the local PostgreSQL server (deploy/local/postgres.sh;
dropped after) and times the same there. Prints the median events/s of each.

    .venv/bin/python bench/event_chain.py --results 100000 --work /var/tmp/bench-chain --postgres
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from configuration.stores import link_table, open_event_store  # noqa: E402
from log_transfer import audit  # noqa: E402
from log_transfer.transfer import export, import_file  # noqa: E402

RUNS = 3


Rate = tuple[float, float]  # events/s of wall-clock time, events per CPU-second of this process


def verify_rate(store) -> Rate:
    cpu = time.process_time()
    verdict = audit.verify(store)
    assert verdict.problem is None, verdict.problem
    return verdict.events_per_second, verdict.events / (time.process_time() - cpu)


def link_rate(store) -> Rate:
    with store.recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"DELETE FROM {link_table(store.recorder).name}")
    started, cpu = time.perf_counter(), time.process_time()
    done = audit.link_old_events(store)
    return done / (time.perf_counter() - started), done / (time.process_time() - cpu)


def report(label: str, events: int, rates: list[Rate]) -> None:
    """Wall-clock rates depend on what else the machine runs: the CPU per event does not."""
    walls = [wall for wall, _ in rates]
    print(
        f"{label}: {events:,} events, median {statistics.median(walls):,.0f} events/s "
        f"(runs: {', '.join(f'{rate:,.0f}' for rate in walls)}); "
        f"{statistics.median(cpu for _, cpu in rates):,.0f} events per CPU-second of this process; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def measure(name: str, store) -> None:
    events = store.recorder.max_notification_id() or 0
    report(f"audit verify on {name}", events, [verify_rate(store) for _ in range(RUNS)])
    report(f"audit link on {name}", events, [link_rate(store) for _ in range(RUNS)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, default=100_000, help="results to seed (about 1 event each)")
    parser.add_argument("--work", type=Path, required=True, help="a folder for the stores and files (emptied)")
    parser.add_argument("--source", help="an existing SQLite event store URL instead of seeding one")
    parser.add_argument("--postgres", action="store_true", help="also time a copy in the local PostgreSQL server")
    args = parser.parse_args()

    source = args.source
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)  # with --source too: the PostgreSQL copy goes through a file there
    if source is None:
        seeded = args.work / "seeded"
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "seed.py"), "--results", str(args.results), "--data", str(seeded)]
            + ["--project", "none", "--mailer", "no"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        source = f"sqlite:///{seeded / 'events.sqlite'}"
    store = open_event_store(source, create_tables=False, connection_wait=30)
    measure("SQLite", store)

    if args.postgres:
        from tests.support.legacy_databases import restored

        file = args.work / "log.jsonl"
        with file.open("wb") as out:
            export(store, out, progress=lambda done, final=False: None)
        with restored("") as url:
            copy = open_event_store(url, connection_wait=30)
            import_file(copy, file, progress=lambda done, final=False: None)
            measure("PostgreSQL", copy)
            del copy  # its pool closes before the database is dropped


if __name__ == "__main__":
    main()
