#!/usr/bin/env python3
"""CPU per `POST /results` in-process, and a cProfile listing of where it goes.

Tokens come from the test suite's local OpenID provider (RS256, checked against its JWKS over
loopback, as in production). 4 writers register, then N uploads drawn like bench/load.py's write
scenario go through a Falcon test client: N timed (wall and CPU time per upload), then N more
under cProfile. Two set-ups:

- `--data DIR`: the embedded service over a copy of a seeded data folder (bench/seed.py --data).
  It projects each write before answering; that part shows under `projections.follower`.
- `--event-store URL --read-store URL`: the production command app alone over a seeded
  PostgreSQL store, as one gunicorn worker runs it (the query app answers the catalog look-ups
  of the set-up). Nothing projects the uploads, so this is the command worker's CPU alone. The
  uploads stay in the store.

    .venv/bin/python bench/profile_writes.py --data /var/tmp/eosc-perf/bench/embedded-10000 --uploads 200
    .venv/bin/python bench/profile_writes.py --event-store postgresql://... --read-store postgresql://...
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import falcon.testing  # noqa: E402
import httpbench  # noqa: E402

from configuration.settings import Settings  # noqa: E402
from configuration.stores import open_event_store  # noqa: E402
from eosc_perf.apps import build_command_app, build_query_app  # noqa: E402
from eosc_perf.embedded import build  # noqa: E402
from eosc_perf.production import read_engine, token_verifier  # noqa: E402
from eosc_perf.wsgi import reads_and_writes  # noqa: E402
from tests.support.oidc_provider import LocalOpenIDProvider  # noqa: E402

# The per-user write limit off: 4 writers send faster than 120 uploads a minute each.
UNLIMITED = {"WRITE_RATE_PER_MINUTE": "0"}


def discover(client: falcon.testing.TestClient) -> httpbench.Discovered:
    """The catalog ids that uploads need, read through the API as bench/httpbench.py does."""
    by_image = {b["docker_image"]: b["id"] for b in client.simulate_get("/benchmarks?per_page=100").json["items"]}
    cray, cnn = (by_image[image] for image, *_ in httpbench.dataset.BENCHMARKS[:2])
    flavors = []
    for site in client.simulate_get("/sites?per_page=100").json["items"]:
        for flavor in client.simulate_get(f"/sites/{site['id']}/flavors?per_page=100").json["items"]:
            flavors.append({"id": flavor["id"], "name": flavor["name"], "site_name": site["name"]})
    tags = [t["id"] for t in client.simulate_get("/tags?per_page=100").json["items"]]
    return httpbench.Discovered(cray, cnn, flavors, [], tags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="a seeded embedded data folder (copied, left unchanged)")
    parser.add_argument("--event-store", help="a seeded PostgreSQL event store URL")
    parser.add_argument("--read-store", help="its read store URL")
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--top", type=int, default=35, help="rows of the cumulative listing")
    parser.add_argument("--out", help="also dump the raw profile here (pstats format)")
    args = parser.parse_args()
    if bool(args.data) == bool(args.event_store and args.read_store):
        parser.error("give either --data or both --event-store and --read-store")
    with tempfile.TemporaryDirectory(prefix="profile-writes-") as scratch, LocalOpenIDProvider() as provider:
        common = {"mode": "production", "trusted_op_list": (provider.issuer,), "admin_entitlements": ("admin",)}
        if args.data:
            data = Path(scratch) / "data"
            shutil.copytree(args.data, data)
            service = build(Settings.from_env(UNLIMITED, data_dir=data, **common))
            app, close = service.app, service.close
        else:
            settings = Settings.from_env(
                {**UNLIMITED, "EVENT_STORE_URL": args.event_store, "READ_STORE_URL": args.read_store},
                data_dir=Path(scratch),
                **common,
            )
            store, engine = open_event_store(settings.event_store, create_tables=False), read_engine(settings)
            verifier = token_verifier(settings)
            commands = build_command_app(settings, store, engine, verifier=verifier)
            app, close = (
                reads_and_writes(build_query_app(settings, engine, verifier=verifier), commands),
                engine.dispose,
            )
        client = falcon.testing.TestClient(app)
        tokens = [provider.mint(f"profile-writer-{n}", email=f"profile-writer-{n}@example.org") for n in range(4)]
        for token in tokens:  # 409: registered by an earlier run against the same store
            assert client.simulate_post("/users:register", headers=httpbench.bearer(token)).status_code in (201, 409)
        uploads = httpbench.Uploads(discover(client), seed=4242, start=int(time.time()))
        drawn = [uploads.next() for _ in range(2 * args.uploads + 1)]

        def send(index: int) -> None:
            path, body = drawn[index]
            headers = {**httpbench.bearer(tokens[index % len(tokens)]), "Content-Type": "application/json"}
            answer = client.simulate_post(path, body=body, headers=headers)
            assert answer.status_code == 201, answer.text

        send(2 * args.uploads)  # warm-up: first JWKS fetch, first loads
        # Timed without the profiler first (its overhead is per call, so it skews the total), on
        # CPU time of this process, which depends less on the machine's other load than wall time.
        started, cpu_started = time.perf_counter(), time.process_time()
        for index in range(args.uploads):
            send(index)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        profile = cProfile.Profile()
        profile.enable()
        for index in range(args.uploads, 2 * args.uploads):
            send(index)
        profile.disable()
        close()
    print(
        json.dumps(
            {
                "uploads": args.uploads,
                "ms_per_upload": round(1000 * elapsed / args.uploads, 2),
                "cpu_ms_per_upload": round(1000 * cpu / args.uploads, 2),
            }
        )
    )
    if args.out:
        profile.dump_stats(args.out)
    listing = io.StringIO()
    pstats.Stats(profile, stream=listing).sort_stats("cumulative").print_stats(args.top)
    print(listing.getvalue())


if __name__ == "__main__":
    main()
