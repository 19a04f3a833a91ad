"""The speed of `eosc-perf export` and `eosc-perf import` (docs/performance.md).

Seeds a SQLite event store with `bench/seed.py --results N --project none` (unless --source
gives one), then, three times each, exports it to a file and imports that file into a new empty
event store: a SQLite file, and with --postgres a new database of the local PostgreSQL server
(deploy/local/postgres.sh; dropped after), exported again from there. Prints the median
events/s of each; the import is timed without the projection that `eosc-perf import` runs
after it (that is a replay: bench/ and `verify` time it).

    .venv/bin/python bench/log_transfer.py --results 100000 --work /var/tmp/bench-transfer --postgres
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from configuration.stores import open_event_store  # noqa: E402
from log_transfer.transfer import Moved, export, import_file  # noqa: E402

RUNS = 3


def quiet(*_args, **_kwargs) -> None:
    pass


@dataclass(frozen=True)
class Run:
    moved: Moved
    cpu: float  # seconds of this process's CPU (PostgreSQL's server process works besides)


def timed(work: Callable[[], Moved]) -> Run:
    cpu = time.process_time()
    moved = work()
    return Run(moved, time.process_time() - cpu)


def export_to(url: str, file: Path) -> Run:
    store = open_event_store(url, create_tables=False, connection_wait=30)
    with file.open("wb") as out:
        return timed(lambda: export(store, out, progress=quiet))


def import_into(url: str, file: Path) -> Run:
    store = open_event_store(url, connection_wait=30)
    return timed(lambda: import_file(store, file, progress=quiet))


def median_rate(label: str, runs: list[Run]) -> None:
    """Wall-clock rates depend on what else the machine runs: the CPU per event does not."""
    rates = [run.moved.events_per_second for run in runs]
    cpu = statistics.median(run.cpu / run.moved.events for run in runs)
    print(
        f"{label}: {runs[0].moved.events:,} events, median {statistics.median(rates):,.0f} events/s "
        f"(runs: {', '.join(f'{rate:,.0f}' for rate in rates)}); {cpu * 1e6:.0f} µs CPU per event in this process "
        f"({1 / cpu:,.0f} events per CPU-second); load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, default=100_000, help="results to seed (about 1 event each)")
    parser.add_argument("--work", type=Path, required=True, help="a folder for the stores and files (emptied)")
    parser.add_argument("--source", help="an existing event store URL to export instead of seeding one")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also import into (and export from) new databases of the local PostgreSQL server",
    )
    args = parser.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    source = args.source
    if source is None:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "seed.py"),
                "--results",
                str(args.results),
                "--data",
                str(args.work / "seeded"),
                "--project",
                "none",
                "--mailer",
                "no",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        source = f"sqlite:///{args.work / 'seeded' / 'events.sqlite'}"
    file = args.work / "log.jsonl"
    median_rate("export from SQLite", [export_to(source, file) for _ in range(RUNS)])
    print(f"  the file: {file.stat().st_size / 2**20:,.0f} MiB", flush=True)

    imports = []
    for run in range(RUNS):
        imports.append(import_into(f"sqlite:///{args.work / f'imported-{run}.sqlite'}", file))
    median_rate("import into SQLite", imports)

    if args.postgres:
        from tests.support.legacy_databases import restored

        imports, exports = [], []
        for _ in range(RUNS):
            with restored("") as url:
                imports.append(import_into(url, file))
                exports.append(export_to(url, args.work / "again.jsonl"))
        median_rate("import into PostgreSQL", imports)
        median_rate("export from PostgreSQL", exports)


if __name__ == "__main__":
    main()
