#!/usr/bin/env python3
"""The median server CPU per request (ms) of each (label, scenario) over repeated runs, as one
markdown table per file: the records of bench/load.py --cpu that run_all.sh appends.

    BENCH_RUNS=3 BENCH_SCENARIOS=a,d,e bench/run_all.sh     # 3 runs, appended to one file
    .venv/bin/python bench/medians.py /var/tmp/eosc-perf/bench/results.jsonl

Each cell is "median (the runs' figures)", so the spread shows next to it.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict


def main() -> None:
    for path in sys.argv[1:]:
        runs: dict[tuple[str, str], list[float]] = defaultdict(list)
        for line in open(path):
            record = json.loads(line) if line.strip() else {}
            if "cpu_ms_per_request" in record:
                runs[(record.get("label", ""), record["scenario"])].append(record["cpu_ms_per_request"])
        scenarios = sorted({scenario for _, scenario in runs})
        print(f"{path}\n\n| label | " + " | ".join(f"({s})" for s in scenarios) + " |")
        print("|---|" + "---|" * len(scenarios))
        for label in sorted({label for label, _ in runs}):
            cells = []
            for scenario in scenarios:
                figures = runs.get((label, scenario), [])
                cells.append(f"{statistics.median(figures):.2f} ({', '.join(map(str, figures))})" if figures else "")
            print(f"| {label} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
