#!/usr/bin/env python3
"""Whether a statement PostgreSQL plans once is slower than the same statement planned per
request, over the public reads of a seeded read store (issue 16).

The serving engine keeps its statements prepared (read_model/read_store.py, `reads_only`), and a
prepared statement executed more than five times may get PostgreSQL's generic plan: one plan for
every value of its parameters. That plan is chosen by estimated cost, and an estimate made
without the values can be far off (a listing's filtered total once scanned a whole table that
way, 20-66 ms per request instead of 0.1). So each read below runs on two copies of the production
query app over the same store: one as deployed, one whose connections plan every execution
anew (`plan_cache_mode = force_custom_plan`). Each read is first repeated until its statements
are past the choice, then timed alternately on both; a read whose median on the deployed app is
both `--ratio` times and `--margin` ms above the other's is reported, and the script exits 1.
Their answers are compared too.

    .venv/bin/python bench/generic_plans.py --read-store postgresql://eosc_perf:eosc_perf@127.0.0.1:55650/this
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import falcon.testing  # noqa: E402
from sqlalchemy import event  # noqa: E402

from configuration.settings import Settings  # noqa: E402
from eosc_perf.apps import build_query_app  # noqa: E402
from eosc_perf.production import serving_engine  # noqa: E402

# Past psycopg's prepare threshold (5 executions) and PostgreSQL's five custom plans before it
# first weighs the generic one, with some to spare.
WARM_UP = 14


def query_app(read_store: str, scratch: Path, custom_plans: bool) -> tuple[falcon.testing.TestClient, object]:
    env = {"EVENT_STORE_URL": read_store, "READ_STORE_URL": read_store}
    settings = Settings.from_env(env, data_dir=scratch, mode="development", query_cache_mb=0)
    engine = serving_engine(settings)
    if custom_plans:

        @event.listens_for(engine, "connect")
        def _planned_per_execution(dbapi_connection, _record):
            dbapi_connection.execute("SET plan_cache_mode = force_custom_plan")
            dbapi_connection.commit()

    return falcon.testing.TestClient(build_query_app(settings, engine)), engine.dispose


def _q(text: str) -> str:
    return quote(text, safe="")


def reads(client: falcon.testing.TestClient) -> list[str]:
    """The public reads whose statements differ, with parameters that make the planner's
    choices differ: dense and sparse filters, early and deep pages, every listing's arguments."""
    benchmarks = client.simulate_get("/benchmarks", query_string="per_page=100").json["items"]
    sites = client.simulate_get("/sites", query_string="per_page=100").json["items"]
    tags = client.simulate_get("/tags", query_string="per_page=100").json["items"]
    site = sites[0]["id"]
    flavors = client.simulate_get(f"/sites/{site}/flavors", query_string="per_page=100").json["items"]
    flavor = flavors[0]["id"]
    head = int(client.simulate_get("/tags").headers["X-Event-Position"])
    first = client.simulate_get("/results", query_string="per_page=1").json["items"][0]["id"]
    by_image = {b["docker_image"]: b["id"] for b in benchmarks}
    cray = by_image.get("deephdc/c-ray", benchmarks[0]["id"])
    paths = ["/benchmarks", "/sites", "/tags", f"/sites/{site}/flavors", f"/flavors/{flavor}", f"/results/{first}"]
    paths += [f"/benchmarks:search?terms={_q('c-ray')}", f"/sites:search?terms={_q('Spain')}"]
    paths += [f"/tags:search?terms={_q('gpu')}", f"/sites/{site}/flavors:search?terms={_q('m1')}"]
    lists = [
        "per_page=100",
        "per_page=100&page=200",
        "sort_by=-upload_datetime&per_page=20",
        "sort_by=%2Bsite_name,-execution_datetime&per_page=50&page=30",
        f"benchmark_id={cray}",
        f"site_id={site}&sort_by=-upload_datetime",
        f"flavor_id={flavor}&page=3",
        f"tags_ids={tags[0]['id']}",
        f"tags_ids={tags[0]['id']}&tags_ids={tags[1]['id']}&sort_by=-upload_datetime",
        "upload_after=2020-01-01&execution_before=2030-01-01",
        "execution_after=2099-01-01",
        f"sort_by={_q('-json.result.score')}",
        f"sort_by={_q('+json')}&per_page=10",
    ]
    for threshold in (0, 4, 16, 31, 64):  # every result to none
        filtered = f"benchmark_id={cray}&filters={_q(f'machine.cpu.count > {threshold}')}"
        lists += [
            f"{filtered}&sort_by={_q('-json.result.score')}",
            f"{filtered}&sort_by={_q('+json.result.score')}&page=50",
        ]
        lists += [f"{filtered}&sort_by=-upload_datetime", filtered]
    lists += [
        f"benchmark_id={cray}&filters={_q('machine.cpu.count == 8')}&filters={_q('result.score < 500')}",
        f"filters={_q('machine.cpu.count >= 16')}&sort_by={_q('-json.result.score')}",
        f"benchmark_id={cray}&filters={_q('machine.cpu.model == AMD')}",
        f"filters={_q('machine.gpu.count <= 1')}&site_id={site}",
        f"benchmark_id={cray}&filters={_q('result.score > 1')}&tags_ids={tags[2]['id']}"
        f"&sort_by={_q('-json.result.score')}",
    ]
    searches = ["terms=IFCA&per_page=20", "terms=m1.&terms=Spain", f"terms={tags[3]['name']}", "terms=zzz-none"]
    searches += [f"terms=INFN&sort_by={_q('-json.result.score')}", "terms=CESNET&per_page=100&page=40"]
    paths += [f"/results?{q}" for q in lists] + [f"/results:search?{q}" for q in searches]
    for q in lists[:6] + lists[13:17] + searches[:2]:  # as of a past position too
        path = "/results:search" if q in searches else "/results"
        paths.append(f"{path}?{q}&as_of={head // 2}")
    return paths


def timed(client: falcon.testing.TestClient, path: str) -> tuple[float, int, str]:
    route, _, query = path.partition("?")
    started = time.perf_counter()
    answer = client.simulate_get(route, query_string=query)
    return (time.perf_counter() - started) * 1000, answer.status_code, answer.text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--read-store", required=True, help="a seeded PostgreSQL read store URL")
    parser.add_argument("--timed", type=int, default=7, help="timed requests per read and app")
    parser.add_argument("--ratio", type=float, default=1.5)
    parser.add_argument("--margin", type=float, default=1.0, help="ms")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="generic-plans-") as scratch:
        deployed, close_deployed = query_app(args.read_store, Path(scratch), custom_plans=False)
        custom, close_custom = query_app(args.read_store, Path(scratch), custom_plans=True)
        slower = differing = 0
        try:
            for path in reads(deployed):
                for _ in range(WARM_UP):
                    timed(deployed, path)
                    timed(custom, path)
                mine, theirs = [], []
                for _ in range(args.timed):
                    ms, status, text = timed(deployed, path)
                    mine.append(ms)
                    other_ms, other_status, other_text = timed(custom, path)
                    theirs.append(other_ms)
                if (status, text) != (other_status, other_text):
                    differing += 1
                a, b = statistics.median(mine), statistics.median(theirs)
                flag = a > b * args.ratio and a - b > args.margin
                slower += flag
                print(f"{'SLOWER ' if flag else '       '}{a:8.2f} {b:8.2f} ms  {status}  {path}", flush=True)
        finally:
            close_deployed()
            close_custom()
    print(f"{slower} reads slower planned once than planned each time; {differing} answers differ")
    return 1 if slower or differing else 0


if __name__ == "__main__":
    sys.exit(main())
