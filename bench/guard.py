#!/usr/bin/env python3
"""Regression guard (issue 16): fails when the CPU per request of (a) `GET /results?per_page=100`,
(d) `GET /results/{id}`, (e) `GET /benchmarks` or an upload (`POST /results`, projected before it
answers) grows by more than 25 % against the figures committed in docs/performance.md
("Regression guard").

What it measures is what bench/profile_reads.py and bench/profile_writes.py measure, each run
as they are: the embedded service in-process over a copy of a seeded data folder, response cache
off, this process's CPU time per request (no HTTP server, no network, no other process, so the
figure moves little with the machine's other load). Each is run `--runs` times (3) and the
median compared. Not a unit test: timing asserts stay out of the suite (run it by hand, or in a
CI job of its own on a machine like the one the figures were taken on).

    .venv/bin/python bench/seed.py --results 10000 --data /var/tmp/guard-data
    .venv/bin/python bench/guard.py --data /var/tmp/guard-data
    .venv/bin/python bench/guard.py --data /var/tmp/guard-data --print-table   # figures to commit

Exit status 1 names each figure past its limit; 0 when none is.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
MARKER = "<!-- bench/guard.py: the committed figures -->"
TOLERANCE = 1.25  # a figure fails past 125 % of its committed value
# bench/profile_reads.py's default paths, in its order: (d), (e), (a).
READS = ("d", "e", "a")
SCENARIOS = ("a", "d", "e", "upload")
# "## GET /benchmarks: 0.318 ms CPU per request (0.317 ms elapsed)"; the elapsed time is not compared.
READ_LINE = re.compile(r"^## GET \S+: ([0-9.]+) ms CPU per request\b")


def committed(doc: Path) -> dict[str, float]:
    """The guarded figures: the table right after MARKER in the document, one row per scenario
    (`| (a) | 3.2 |`, `| upload | 9.8 |`), the first number of each row."""
    text = doc.read_text(encoding="utf-8")
    if MARKER not in text:
        raise SystemExit(f"{doc}: no guard table (a line {MARKER!r} before it)")
    figures = {}
    for line in text.split(MARKER, 1)[1].lstrip().splitlines():
        if not line.startswith("|"):
            break
        cells = [cell.strip().strip("()") for cell in line.strip("|").split("|")]
        if cells[0] in SCENARIOS:
            figures[cells[0]] = float(cells[1])
    missing = set(SCENARIOS) - set(figures)
    if missing:
        raise SystemExit(f"{doc}: the guard table lacks {sorted(missing)}")
    return figures


def run(script: str, *arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *arguments], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"bench/{script} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def measure_reads(data: str, requests: int) -> dict[str, float]:
    output = run("profile_reads.py", "--data", data, "--requests", str(requests), "--top", "0")
    found = [float(match.group(1)) for line in output.splitlines() if (match := READ_LINE.match(line))]
    if len(found) != len(READS):
        raise SystemExit(f"bench/profile_reads.py printed {len(found)} figures, not {len(READS)}")
    return dict(zip(READS, found))


def measure_upload(data: str, uploads: int) -> float:
    output = run("profile_writes.py", "--data", data, "--uploads", str(uploads), "--top", "0")
    return json.loads(output.splitlines()[0])["cpu_ms_per_upload"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a seeded embedded data folder (bench/seed.py --data; copied)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement; the median counts")
    parser.add_argument("--requests", type=int, default=500, help="reads per scenario and run")
    parser.add_argument("--uploads", type=int, default=200, help="uploads per run")
    parser.add_argument("--doc", type=Path, default=DOC, help="where the committed figures are")
    parser.add_argument("--print-table", action="store_true", help="print the measured figures as the guard table")
    args = parser.parse_args()
    limits = None if args.print_table else committed(args.doc)
    runs: dict[str, list[float]] = {scenario: [] for scenario in SCENARIOS}
    for _ in range(args.runs):
        for scenario, ms in measure_reads(args.data, args.requests).items():
            runs[scenario].append(ms)
        runs["upload"].append(measure_upload(args.data, args.uploads))
    medians = {scenario: round(statistics.median(values), 3) for scenario, values in runs.items()}
    # CPU per request grows with the machine's other load (shared caches and cores): say how
    # loaded it was, to compare with the load the committed figures state.
    load = round(os.getloadavg()[0], 1)
    if limits is None:
        print(f"load average (1 min) at the end: {load}")
        print(MARKER)
        print("| scenario | CPU ms per request (median) | runs |")
        print("|---|---|---|")
        for scenario in SCENARIOS:
            name = scenario if scenario == "upload" else f"({scenario})"
            print(f"| {name} | {medians[scenario]} | {'; '.join(str(v) for v in runs[scenario])} |")
        return
    failed = [s for s in SCENARIOS if medians[s] > limits[s] * TOLERANCE]
    print(
        json.dumps({"median_cpu_ms": medians, "runs": runs, "committed": limits, "failed": failed, "loadavg_1m": load})
    )
    for scenario in failed:
        print(
            f"guard: {scenario} costs {medians[scenario]} ms of CPU per request, more than "
            f"{TOLERANCE:.0%} of the committed {limits[scenario]} ms",
            file=sys.stderr,
        )
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
