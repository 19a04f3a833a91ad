#!/usr/bin/env python3
"""Markdown tables from the JSON records of bench/load.py and bench/run_all.sh.

    .venv/bin/python bench/report.py /var/tmp/eosc-perf/bench/results.jsonl

One table of requests/s, p50 and p99 per label (backend-size) and scenario, then the write,
lag, replay, seeding and memory figures. The last record of a (label, scenario) wins.
"""

from __future__ import annotations

import json
import re
import sys

SCENARIOS = ("a", "b", "c", "d", "e", "f", "write")


def main() -> None:
    records: dict[tuple[str, str], dict] = {}
    for path in sys.argv[1:]:
        for line in open(path):
            if line.strip():
                record = json.loads(line)
                records[(record.get("label", ""), record["scenario"])] = record
    labels = sorted({label for label, _ in records}, key=lambda label: (label.split("-")[0], int(label.split("-")[-1])))
    print(
        "| label | results | "
        + " | ".join(f"({s}) req/s · p50 · p99 ms" if s != "write" else "write/s · p50 · p99 ms" for s in SCENARIOS)
        + " | load avg |"
    )
    print("|---|---|" + "---|" * len(SCENARIOS) + "---|")
    for label in labels:
        cells, total, loads = [], "", []
        for scenario in SCENARIOS:
            r = records.get((label, scenario))
            if r is None:
                cells.append("")
                continue
            total = r.get("total_results", total)
            loads.append(r.get("loadavg_1m", 0))
            cells.append(
                f"{r['rps']:,.1f} · {r['p50_ms']:.0f} · {r['p99_ms']:.0f}" if r["requests"] else "0 (none in time)"
            )
        load = f"{min(loads):.1f}–{max(loads):.1f}" if loads else ""
        print(
            f"| {label} | {total:,} | " + " | ".join(cells) + f" | {load} |"
            if total != ""
            else f"| {label} | | " + " | ".join(cells) + f" | {load} |"
        )
    if any("cpu_ms_per_request" in r for r in records.values()):
        print()
        print("Server CPU per request, ms (services, nginx and PostgreSQL; independent of other load):")
        print()
        print("| label | " + " | ".join(f"({s})" if s != "write" else "write" for s in SCENARIOS) + " |")
        print("|---|" + "---|" * len(SCENARIOS))
        for label in labels:
            cells = [str(records.get((label, s), {}).get("cpu_ms_per_request", "")) for s in SCENARIOS]
            if any(cells):
                print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    print(
        "| label | lag p50 · p99 ms (writes/s achieved) | replay events/s "
        "| seed: event store · read model · mailer events/s | RSS MB per API worker |"
    )
    print("|---|---|---|---|---|")
    for label in labels:
        lag = records.get((label, "lag"))
        replay = records.get((label, "replay"))
        seed = records.get((label, "seed"))
        rss = records.get((label, "rss"))
        lag_cell = f"{lag['p50_ms']:.1f} · {lag['p99_ms']:.1f} ({lag['achieved_rate']:.0f}/s)" if lag else ""
        replay_cell = ""
        if replay:
            found = re.search(r"\(([\d,]+) events/s\)", replay.get("line", ""))
            replay_cell = found.group(1) if found else replay.get("line", "")
        seed_cell = ""
        if seed:
            s = seed["summary"]
            parts = [
                f"{s['event_store']['events_per_second']:,}",
                f"{s['projection']['events_per_second']:,}" if "projection" in s else "–",
                f"{s['mailer']['events_per_second']:,}" if "mailer" in s else "–",
            ]
            seed_cell = " · ".join(parts)
        rss_cell = ""
        if rss:
            workers = [p for p in rss["processes"] if p["role"] == "worker"]
            rss_cell = ", ".join(f"{p['rss_mb']:.0f}" for p in workers)
        print(f"| {label} | {lag_cell} | {replay_cell} | {seed_cell} | {rss_cell} |")


if __name__ == "__main__":
    main()
