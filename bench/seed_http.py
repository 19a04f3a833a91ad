#!/usr/bin/env python3
"""Seeding N results through the HTTP API (POST /results) at a given concurrency.

The catalog (benchmarks, sites, flavors, tags) must exist: `bench/seed.py --results 0` creates
it through the event store. Tokens come from a file, one per line (each is registered first):

    # embedded server in development mode
    EOSC_PERF_ENV=development .venv/bin/eosc-perf dev-token --data DIR --sub bench-writer-1 > tokens
    # production topology: bench/oidc.py writes its tokens file (the stack trusts its issuer)

    .venv/bin/python bench/seed_http.py --url http://127.0.0.1:8080 --tokens tokens --results 2000 --concurrency 4

Prints uploads/s, p50 and p99 (stderr: progress), and a JSON summary as the last stdout line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpbench  # noqa: E402


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="base URL of the API")
    parser.add_argument("--tokens", required=True, help="file with bearer tokens, one per line")
    parser.add_argument("--results", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=4242, help="document stream seed (not the bulk seed's)")
    parser.add_argument("--timeout", type=float, default=3600, help="stop after this many seconds anyway")
    args = parser.parse_args()

    tokens = httpbench.read_tokens(args.tokens)
    httpbench.register(args.url, tokens)
    found = httpbench.discover(args.url, sample_ids=0)
    uploads = httpbench.Uploads(found, seed=args.seed, start=int(time.time()))  # fresh documents each run
    cycle = itertools.cycle(tokens)
    lock = threading.Lock()

    def make_request():
        path, body = uploads.next()
        with lock:
            token = next(cycle)
        return "POST", path, body, {**httpbench.bearer(token), "Content-Type": "application/json"}

    done = [0]
    stop = threading.Event()

    def progress():
        while not stop.wait(2.0):
            print(f"  uploading... ({done[0]} so far)", file=sys.stderr, flush=True)

    reporter = threading.Thread(target=progress, daemon=True)
    reporter.start()
    measured = httpbench.closed_loop(
        args.url, make_request, args.concurrency, args.timeout, ok=(201,), max_requests=args.results, counter=done
    )
    stop.set()
    figures = {"scenario": "seed_http", "concurrency": args.concurrency, **measured.figures()}
    print(
        f"uploaded {measured.requests} results at concurrency {args.concurrency}: {measured.rps:,.1f}/s, "
        f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, errors {measured.errors} {measured.statuses}",
        file=sys.stderr,
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
