#!/usr/bin/env python3
"""What an as-of listing costs against the same listing now (issue 12: "an as-of read of a
listing costs at most 2x the current one at 10^5 results").

In-process, as bench/profile_reads.py runs the query app (the embedded service over a copy of a
seeded data folder, or the production query app over a seeded PostgreSQL read store), response
cache off. For each listing, rounds of alternating runs: N requests of the current listing, then
N of the same as of a past position; each round gives the ratio of the two, and the medians
over the rounds are printed (alternating pairs: the machine's speed drifts between runs, within a
round much less). CPU is this process's; on PostgreSQL the elapsed time holds the server's work
too, and is the figure to compare there.

The default listings are those of docs/performance.md on bench/seed.py's data (c-ray with its
`machine.cpu.count` and `result.score`): the benchmark, site and flavor with the most results.

    .venv/bin/python bench/as_of_pairs.py --data /var/tmp/eosc-perf/bench/embedded-100000
    .venv/bin/python bench/as_of_pairs.py --read-store postgresql://... --as-of 50317 --rounds 9
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

import falcon.testing  # noqa: E402
from profile_reads import cpu_per_request, query_app, with_as_of  # noqa: E402

NUMBER_FILTER = "machine.cpu.count > 4"  # 38 % of c-ray's results in bench/dataset.py
RARE_FILTER = "machine.cpu.count > 16"
SCORE = "json.result.score"


def _largest(client: falcon.testing.TestClient, argument: str, ids: list[str]) -> str:
    """Of `ids`, the one whose results listing (`argument`=id) is the longest."""
    return max(
        ids, key=lambda id: client.simulate_get("/results", query_string=f"{argument}={id}&per_page=1").json["total"]
    )


def listings(client: falcon.testing.TestClient) -> list[str]:
    """The default listings (each a path with its query)."""
    benchmark = _largest(client, "benchmark_id", [b["id"] for b in client.simulate_get("/benchmarks").json["items"]])
    sites = [s["id"] for s in client.simulate_get("/sites", query_string="per_page=100").json["items"]]
    site = _largest(client, "site_id", sites)
    flavors = [
        f["id"] for f in client.simulate_get(f"/sites/{site}/flavors", query_string="per_page=100").json["items"]
    ]
    flavor = _largest(client, "flavor_id", flavors)
    b = f"benchmark_id={benchmark}&per_page=100"
    filtered = f"{b}&filters={quote(NUMBER_FILTER)}"
    return [
        "/results?per_page=100",
        "/results?per_page=100&page=300",
        f"/results?{b}",
        f"/results?per_page=100&site_id={site}",
        f"/results?per_page=100&flavor_id={flavor}",
        "/results:search?terms=CESNET&per_page=20",
        f"/results?{filtered}&sort_by=-{SCORE}",
        f"/results?{filtered}&sort_by=-{SCORE}&page=50",
        f"/results?{b}&sort_by=%2B{SCORE}",
        f"/results?{filtered}",
        f"/results?{b}&filters={quote(RARE_FILTER)}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="a seeded embedded data folder (copied, left unchanged)")
    parser.add_argument("--read-store", help="or a seeded PostgreSQL read store URL")
    parser.add_argument("--as-of", default="half", help="a position, or 'half' (of the read model's; default)")
    parser.add_argument("--requests", type=int, default=10, help="per listing and run")
    parser.add_argument("--rounds", type=int, default=7, help="alternating runs of the current and the as-of listing")
    parser.add_argument("--paths", help="comma-separated paths with their queries, instead of the default listings")
    args = parser.parse_args()
    if bool(args.data) == bool(args.read_store):
        parser.error("give either --data or --read-store")
    with tempfile.TemporaryDirectory(prefix="as-of-pairs-") as scratch:
        app, close = query_app(Path(scratch), args.data, args.read_store)
        try:
            client = falcon.testing.TestClient(app)
            paths = args.paths.split(",") if args.paths else listings(client)
            print("listing | current -> as of, CPU ms (ratio) | elapsed ms (ratio)")
            for listed in paths:
                path, _, query = listed.partition("?")
                past = with_as_of(client, query, args.as_of)
                runs = []
                for _ in range(args.rounds + 1):  # the first round warms up: not counted
                    runs.append(
                        (
                            cpu_per_request(client, path, query, args.requests),
                            cpu_per_request(client, path, past, args.requests),
                        )
                    )
                runs = runs[1:]
                figures = []
                for kind in (0, 1):  # CPU, elapsed
                    now = statistics.median(current[kind] for current, _ in runs)
                    then = statistics.median(as_of[kind] for _, as_of in runs)
                    ratio = statistics.median(as_of[kind] / current[kind] for current, as_of in runs)
                    figures.append(f"{now:7.2f} -> {then:7.2f} ({ratio:.1f}x)")
                print(f"{listed} | {figures[0]} | {figures[1]}", flush=True)
        finally:
            close()


if __name__ == "__main__":
    main()
