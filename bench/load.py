#!/usr/bin/env python3
"""Load generator over the read scenarios of issue 6 and the write scenario, each reporting
requests/s, p50 and p99 over a bounded duration; plus the projection-lag probe and the RSS of
the API workers. Loopback targets only.

  (a) GET /results?per_page=100
  (b) GET /results?benchmark_id=<c-ray>&filters=machine.cpu.count > T&sort_by=-json.result.score&per_page=100
      with the threshold T varied per request
  (c) GET /results:search?terms=<site fragment>&per_page=20, the fragment varied per request
  (d) GET /results/{id}, the id varied per request (ids sampled over all pages)
  (e) GET /benchmarks
  (f) page ~50 of (b) with T = 4, the page varied per request (40..60, or the last 20 pages
      when there are fewer than 60)
  write: POST /results at concurrency 4 with valid tokens (token check and schema validation included)

    .venv/bin/python bench/load.py --url http://127.0.0.1:8080 --tokens FILE --duration 15 \
        [--scenarios a,b,c,d,e,f,write] [--lag --lag-db postgresql://...] [--rss PID,PID] [--out results.jsonl]

wrk (Debian package `wrk`) runs each scenario when installed, with a generated Lua script that
picks a request per call from a pre-drawn list; without wrk (or with --tool python) a threaded
keep-alive client does. Each scenario prints one line; --out appends JSON records.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpbench  # noqa: E402

READ_SCENARIOS = "abcdef"
VARIANTS = 4000  # pre-drawn requests per varied scenario
SEARCH_FRAGMENTS = (
    "CESNET",
    "IFCA",
    "INFN",
    "CYFRONET",
    "GRNET",
    "IN2P3",
    "FRAUNHOFER",
    "TUBITAK",
    "GRyCAP",
    "DESY",
    "CLOUD",
    "Cloud",
    "Spain",
    "Germany",
    "Italy",
    "Brno",
    "Athens",
    "Krakow",
    "Hamburg",
    "Valencia",
)


def _q(value: str) -> str:
    return quote(value, safe="")


def filtered_path(benchmark_id: str, threshold: float, page: int | None = None) -> str:
    path = (
        f"/results?benchmark_id={benchmark_id}&filters={_q(f'machine.cpu.count > {threshold:g}')}"
        f"&sort_by={_q('-json.result.score')}&per_page=100"
    )
    return path + (f"&page={page}" if page else "")


def page_range(base_url: str, cray_id: str) -> tuple[int, int]:
    pages = httpbench.Client(base_url).get_json(filtered_path(cray_id, 4))["pages"]
    if pages >= 60:
        return 40, 60
    return max(1, pages - 19), max(1, pages)


def scenario_requests(
    name: str, found: httpbench.Discovered, base_url: str, rng: random.Random
) -> tuple[list[str], str]:
    """The request paths of a read scenario and a description of what varies."""
    if name == "a":
        return ["/results?per_page=100"], "fixed"
    if name == "b":
        thresholds = list(range(0, 17))
        return [filtered_path(found.cray_id, rng.choice(thresholds)) for _ in range(VARIANTS)], "threshold 0..16"
    if name == "c":
        return (
            [f"/results:search?terms={_q(rng.choice(SEARCH_FRAGMENTS))}&per_page=20" for _ in range(VARIANTS)],
            f"{len(SEARCH_FRAGMENTS)} site fragments",
        )
    if name == "d":
        if not found.result_ids:
            raise SystemExit("no results to read: seed first")
        return [f"/results/{rng.choice(found.result_ids)}" for _ in range(VARIANTS)], f"{len(found.result_ids)} ids"
    if name == "e":
        return ["/benchmarks"], "fixed"
    if name == "f":
        low, high = page_range(base_url, found.cray_id)
        return [
            filtered_path(found.cray_id, 4, rng.randint(low, high)) for _ in range(VARIANTS)
        ], f"pages {low}..{high}"
    raise ValueError(name)


# --- wrk --------------------------------------------------------------------------------------
def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"status_errors":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    latency.mean, e.status, e.connect, e.read, e.write, e.timeout))
end
"""

LUA_PICK = r"""
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
init = function(args)
  math.randomseed(os.time() * 1000 + (seed or 0) * 7919)
end
"""


def lua_reads(paths: list[str]) -> str:
    if len(paths) == 1:
        return LUA_DONE  # the URL's own path, no per-request work in Lua
    table = ",\n".join(_lua_string(p) for p in paths)
    return (
        LUA_PICK
        + f"local paths = {{\n{table}\n}}\nlocal n = #paths\n"
        + r"""
request = function()
  return wrk.format("GET", paths[math.random(n)])
end
"""
        + LUA_DONE
    )


def lua_writes(uploads: list[tuple[str, bytes]], tokens: list[str]) -> str:
    paths = ",\n".join(_lua_string(p) for p, _ in uploads)
    bodies = ",\n".join(_lua_string(b.decode()) for _, b in uploads)
    token_list = ",\n".join(_lua_string(t) for t in tokens)
    return (
        LUA_PICK + f"local paths = {{\n{paths}\n}}\nlocal bodies = {{\n{bodies}\n}}\n"
        f"local tokens = {{\n{token_list}\n}}\nlocal n = #paths\nlocal i = 0\n"
        + r"""
request = function()
  i = i + 1
  local k = math.random(n)
  local headers = {}
  headers["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", paths[k], headers, bodies[k])
end
"""
        + LUA_DONE
    )


def run_wrk(base_url: str, first_path: str, lua: str, connections: int, threads: int, duration: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    try:
        command = [
            "wrk",
            f"-t{min(threads, connections)}",
            f"-c{connections}",
            f"-d{int(duration)}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            base_url.rstrip("/") + first_path,
        ]
        finished = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    finally:
        os.unlink(script.name)
    line = next((out for out in finished.stdout.splitlines() if out.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {finished.stdout}\n{finished.stderr}")
    raw = json.loads(line[len("WRKJSON ") :])
    seconds = raw["duration_us"] / 1e6
    errors = raw["status_errors"] + raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "errors": errors,
        "non_2xx": raw["status_errors"],
        "tool": "wrk",
    }


def run_python(base_url: str, make_request, connections: int, duration: float, ok=(200,)) -> dict:
    measured = httpbench.closed_loop(base_url, make_request, connections, duration, ok=ok)
    return {**measured.figures(), "tool": "python"}


# --- projection lag ---------------------------------------------------------------------------
def lag_probe(
    base_url: str,
    tokens: list[str],
    found: httpbench.Discovered,
    rate: float,
    duration: float,
    db_url: str | None,
    writers: int = 4,
) -> dict:
    """Writes at `rate`/s for `duration` s; lag = time from a write's answer (its commit) to the
    read model's position reaching the write's X-Event-Position. With `db_url` (PostgreSQL) a
    poller reads `positions` every ~0.5 ms; without, each write is read back over HTTP
    (GET /results/{id}) until found: every 5th write (the embedded default answers a write only
    once it is projected). With `db_url`, every 20th write is also read back as a check."""
    uploads = httpbench.Uploads(found, seed=777, start=int(time.time()))
    seen: list[tuple[float, int]] = []  # (time, position) each time the position changed
    stop = threading.Event()
    poll_thread = None
    if db_url:
        import psycopg

        def poll():
            with psycopg.connect(db_url, autocommit=True) as conn:
                last = -1
                while not stop.is_set():
                    position = conn.execute("SELECT position FROM positions WHERE name = 'read_model'").fetchone()[0]
                    now = time.perf_counter()
                    if position != last:
                        seen.append((now, position))
                        last = position
                    time.sleep(0.0005)

        poll_thread = threading.Thread(target=poll, daemon=True)
        poll_thread.start()
        time.sleep(0.2)

    writes: list[tuple[float, int, str]] = []
    http_lags: list[float] = []
    failures = [0]
    lock = threading.Lock()
    interval = writers / rate
    started = time.perf_counter()

    def read_back(client: httpbench.Client, result_id: str, answered: float) -> float | None:
        while time.perf_counter() - answered < 5.0:
            status, _, _ = client.request("GET", f"/results/{result_id}")
            if status == 200:
                return time.perf_counter() - answered
            time.sleep(0.0005)
        return None

    def writer(index: int) -> None:
        client, reader = httpbench.Client(base_url), httpbench.Client(base_url)
        token = tokens[index % len(tokens)]
        due = started + index * interval / writers
        n = 0
        while due < started + duration and time.perf_counter() < started + duration:
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            path, body = uploads.next()
            status, data, response = client.request(
                "POST", path, body, {**httpbench.bearer(token), "Content-Type": "application/json"}
            )
            answered = time.perf_counter()
            due += interval
            n += 1
            if status != 201:
                with lock:
                    failures[0] += 1
                continue
            position = int(response.getheader("X-Event-Position"))
            result_id = json.loads(data)["id"]
            with lock:
                writes.append((answered, position, result_id))
            if n % (5 if not db_url else 20) == 0:
                lag = read_back(reader, result_id, answered)
                with lock:
                    if lag is None:
                        failures[0] += 1
                    else:
                        http_lags.append(lag)

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 30)
    elapsed = time.perf_counter() - started
    time.sleep(1.0)
    stop.set()
    if poll_thread:
        poll_thread.join(5)
    if db_url:
        lags = []
        for answered, position, _ in writes:
            visible = next((t for t, p in seen if p >= position), None)
            if visible is None:
                failures[0] += 1
                continue
            lags.append(max(0.0, visible - answered))
        method = "positions poll (0.5 ms)"
    else:
        lags = list(http_lags)
        method = "HTTP read-back"
    lags.sort()
    http_lags.sort()
    return {
        "scenario": "lag",
        "target_rate": rate,
        "achieved_rate": round(len(writes) / elapsed, 1),
        "writes": len(writes),
        "method": method,
        "failures": failures[0],
        "p50_ms": round(httpbench.percentile(lags, 0.5) * 1000, 2),
        "p99_ms": round(httpbench.percentile(lags, 0.99) * 1000, 2),
        "max_ms": round(lags[-1] * 1000, 2) if lags else None,
        "http_check_p50_ms": round(httpbench.percentile(http_lags, 0.5) * 1000, 2) if http_lags else None,
        "http_check_p99_ms": round(httpbench.percentile(http_lags, 0.99) * 1000, 2) if http_lags else None,
    }


# --- memory ------------------------------------------------------------------------------------
def rss_report(pids: list[int]) -> list[dict]:
    """RSS of each process and of its children (gunicorn master -> workers)."""
    report = []
    for pid in pids:
        family, index = [pid], 0
        while index < len(family):  # children, grandchildren...
            children = subprocess.run(["pgrep", "-P", str(family[index])], capture_output=True, text=True).stdout
            family += [int(c) for c in children.split()]
            index += 1
        for member in family:
            try:
                status = Path(f"/proc/{member}/status").read_text()
                cmdline = Path(f"/proc/{member}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:90]
            except OSError:
                continue
            rss_kb = next(int(row.split()[1]) for row in status.splitlines() if row.startswith("VmRSS:"))
            report.append(
                {
                    "pid": member,
                    "role": "master" if member == pid else "worker",
                    "rss_mb": round(rss_kb / 1024, 1),
                    "command": cmdline,
                }
            )
    return report


def _family(pids: list[int]) -> list[int]:
    family, index = list(pids), 0
    while index < len(family):
        children = subprocess.run(["pgrep", "-P", str(family[index])], capture_output=True, text=True).stdout
        family += [int(c) for c in children.split()]
        index += 1
    return family


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and all their descendants (alive now), with that of
    the descendants that ended and were waited for by them (a gunicorn worker recycled after its
    `max_requests`, a PostgreSQL backend whose client left), in seconds: on a shared machine, CPU
    per request says more than requests/s. A difference of two readings is the CPU spent between
    them: an ended process's time moves into its parent's count of waited-for children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _family(pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime: fields 14 to 17 of stat
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--scenarios", default="a,b,c,d,e,f,write")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=8, help="read scenarios")
    parser.add_argument("--write-connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--tokens", help="bearer tokens, one per line (write scenario, lag probe)")
    parser.add_argument("--lag", action="store_true", help="run the projection-lag probe")
    parser.add_argument("--lag-rate", type=float, default=200.0)
    parser.add_argument("--lag-duration", type=float, default=10.0)
    parser.add_argument("--lag-db", help="PostgreSQL URL of the read store (poll positions)")
    parser.add_argument("--rss", default="", help="comma-separated pids (gunicorn masters) to report RSS of")
    parser.add_argument(
        "--cpu",
        default="",
        help="comma-separated pids whose CPU (with descendants: workers, "
        "PostgreSQL backends) is charged to each scenario, as cpu_ms_per_request",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="seconds to wait after each scenario (requests wrk gave up on still run on the server)",
    )
    parser.add_argument("--label", default="", help="added to each JSON record")
    parser.add_argument("--out", help="append JSON records to this file")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"
    rng = random.Random(args.seed)
    tokens = httpbench.read_tokens(args.tokens) if args.tokens else []
    if tokens:
        httpbench.register(args.url, tokens)
    found = httpbench.discover(args.url, rng=rng)
    records = []

    def emit(record: dict) -> None:
        record = {
            "label": args.label,
            "total_results": found.total,
            "loadavg_1m": round(os.getloadavg()[0], 2),
            **record,
        }
        records.append(record)
        line = {k: v for k, v in record.items() if k not in ("label", "statuses")}
        print(json.dumps(line), flush=True)
        if args.out:
            with open(args.out, "a") as out:
                out.write(json.dumps(record) + "\n")

    cpu_pids = [int(p) for p in args.cpu.split(",") if p]
    for name in [s.strip() for s in args.scenarios.split(",") if s.strip()]:
        cpu_before = cpu_seconds(cpu_pids) if cpu_pids else 0.0
        if name in READ_SCENARIOS:
            paths, varied = scenario_requests(name, found, args.url, rng)
            # One request first: a 4xx/5xx here means the scenario is mis-built, not slow.
            status, data, _ = httpbench.Client(args.url).request("GET", paths[0])
            if status != 200:
                raise SystemExit(f"scenario {name}: GET {paths[0]} answered {status}: {data[:300]!r}")
            if tool == "wrk":
                figures = run_wrk(args.url, paths[0], lua_reads(paths), args.connections, args.threads, args.duration)
            else:
                figures = run_python(
                    args.url, lambda paths=paths: ("GET", rng.choice(paths), None, {}), args.connections, args.duration
                )
            if cpu_pids and figures["requests"]:
                figures["cpu_ms_per_request"] = round(
                    (cpu_seconds(cpu_pids) - cpu_before) * 1000 / figures["requests"], 2
                )
            emit({"scenario": name, "varied": varied, "connections": args.connections, **figures})
        elif name == "write":
            if not tokens:
                raise SystemExit("the write scenario needs --tokens")
            uploads = httpbench.Uploads(found, seed=args.seed, start=int(time.time()))
            drawn = [uploads.next() for _ in range(2000)]
            if tool == "wrk":
                figures = run_wrk(
                    args.url,
                    drawn[0][0],
                    lua_writes(drawn, tokens),
                    args.write_connections,
                    args.threads,
                    args.duration,
                )
            else:

                def make_write(uploads=uploads):
                    path, body = uploads.next()
                    return (
                        "POST",
                        path,
                        body,
                        {**httpbench.bearer(rng.choice(tokens)), "Content-Type": "application/json"},
                    )

                figures = run_python(args.url, make_write, args.write_connections, args.duration, ok=(201,))
            if cpu_pids and figures["requests"]:
                figures["cpu_ms_per_request"] = round(
                    (cpu_seconds(cpu_pids) - cpu_before) * 1000 / figures["requests"], 2
                )
            emit(
                {
                    "scenario": "write",
                    "varied": "documents, flavors, tags",
                    "connections": args.write_connections,
                    **figures,
                }
            )
        else:
            raise SystemExit(f"unknown scenario {name!r}")
        time.sleep(args.pause)
    if args.lag:
        if not tokens:
            raise SystemExit("the lag probe needs --tokens")
        emit(lag_probe(args.url, tokens, found, args.lag_rate, args.lag_duration, args.lag_db))
    if args.rss:
        emit({"scenario": "rss", "processes": rss_report([int(p) for p in args.rss.split(",") if p])})


if __name__ == "__main__":
    main()
