#!/usr/bin/env python3
"""CPU per read in-process, and a cProfile listing of where it goes (issue 16: the overhead of
every request, whatever it asks).

The embedded service over a copy of a seeded data folder (bench/seed.py --data), response cache
off unless asked (`--cache-mb`: then every request but the first is a hit), called through a
Falcon test client (no HTTP server, no network: the app's own work). For each path: N requests
timed (CPU time per request), then N more under cProfile; the three scenarios of the small
requests by default: (d) a result by id, (e) the benchmark list and (a) a page of 100 results;
`--as-of`: each of them again as of a past position (issue 12).
`--read-store URL` instead: the production query app alone over a seeded PostgreSQL read store,
as one gunicorn worker runs it (its position from PostgreSQL's notices).

    .venv/bin/python bench/profile_reads.py --data /var/tmp/eosc-perf/bench/embedded-10000
    .venv/bin/python bench/profile_reads.py --data DIR --requests 2000 --paths /benchmarks --top 40
    .venv/bin/python bench/profile_reads.py --read-store postgresql://... --cache-mb 32
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import falcon.testing  # noqa: E402

from configuration.settings import Settings  # noqa: E402
from eosc_perf.apps import build_query_app  # noqa: E402
from eosc_perf.embedded import build  # noqa: E402
from eosc_perf.production import serving_engine  # noqa: E402


def cpu_per_request(client: falcon.testing.TestClient, path: str, query: str, requests: int) -> tuple[float, float]:
    """Milliseconds of this process's CPU per request, and of elapsed time (which includes a
    PostgreSQL server's work)."""
    started, clock = time.process_time(), time.perf_counter()
    for _ in range(requests):
        answer = client.simulate_get(path, query_string=query)
        assert answer.status_code == 200, answer.text[:200]
    return (time.process_time() - started) * 1000 / requests, (time.perf_counter() - clock) * 1000 / requests


def with_as_of(client: falcon.testing.TestClient, query: str, as_of: str) -> str:
    """The query with `as_of`: a position, or the read model's ('head') or half of it ('half')."""
    if as_of in ("head", "half"):
        head = int(client.simulate_get("/tags").headers["X-Event-Position"])
        as_of = str(head if as_of == "head" else head // 2)
    return "&".join(part for part in (query, f"as_of={as_of}") if part)


def query_app(scratch: Path, data: str | None, read_store: str | None, cache_mb: float = 0) -> tuple:
    """The query app (and what closes it): the embedded service over a copy of `data`, or the
    production query app over the PostgreSQL read store `read_store`."""
    common = {"mode": "development", "query_cache_mb": cache_mb}
    if data:
        copy = scratch / "data"
        shutil.copytree(data, copy)
        service = build(Settings.from_env({}, data_dir=copy, **common))
        return service.app, service.close
    env = {"EVENT_STORE_URL": read_store, "READ_STORE_URL": read_store}
    settings = Settings.from_env(env, data_dir=scratch, **common)
    engine = serving_engine(settings)
    return build_query_app(settings, engine), engine.dispose


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="a seeded embedded data folder (copied, left unchanged)")
    parser.add_argument("--read-store", help="or a seeded PostgreSQL read store URL")
    parser.add_argument("--requests", type=int, default=1000, help="per path, timed; as many again profiled")
    parser.add_argument("--paths", help="comma-separated paths, each with its query (default: (d), (e), (a))")
    parser.add_argument("--top", type=int, default=30, help="rows of each cumulative listing")
    parser.add_argument("--cache-mb", type=float, default=0, help="the response cache (0: off; on, every request hits)")
    parser.add_argument(
        "--as-of",
        help="every path also as of this position (`as_of`; 'head': the read model's, 'half': half of it)",
    )
    args = parser.parse_args()
    if bool(args.data) == bool(args.read_store):
        parser.error("give either --data or --read-store")
    with tempfile.TemporaryDirectory(prefix="profile-reads-") as scratch:
        app, close = query_app(Path(scratch), args.data, args.read_store, args.cache_mb)
        try:
            client = falcon.testing.TestClient(app)
            some_id = client.simulate_get("/results", query_string="per_page=1").json["items"][0]["id"]
            scenarios = (
                [tuple(path.partition("?")[::2]) for path in args.paths.split(",")]
                if args.paths
                else [(f"/results/{some_id}", ""), ("/benchmarks", ""), ("/results", "per_page=100")]
            )
            if args.as_of:
                scenarios += [(path, with_as_of(client, query, args.as_of)) for path, query in scenarios]
            for path, query in scenarios:
                cpu_per_request(client, path, query, 50)  # warm-up: statement caches, first connections
                ms, elapsed = cpu_per_request(client, path, query, args.requests)
                profile = cProfile.Profile()
                profile.enable()
                cpu_per_request(client, path, query, args.requests)
                profile.disable()
                listing = io.StringIO()
                pstats.Stats(profile, stream=listing).sort_stats("cumulative").print_stats(args.top)
                print(
                    f"## GET {path}{'?' + query if query else ''}: {ms:.3f} ms CPU per request"
                    f" ({elapsed:.3f} ms elapsed)"
                )
                print(listing.getvalue())
        finally:
            close()


if __name__ == "__main__":
    main()
