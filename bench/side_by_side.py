#!/usr/bin/env python3
"""Side by side with the original backend (issue 16): the same generated results served by the
original (EOSC-synergy/eosc-perf-backend, Flask, under gunicorn with 4 sync workers) and by this
service (deploy/local/stack.sh, response cache off), one after the other on one PostgreSQL
server, loaded by bench/load.py's scenarios; prints requests/s, p99 and the server CPU per
request of each, and the ratios.

Get the original (it is not part of this repository) and a Python 3.10 (its requirements pin
SQLAlchemy < 2 and gevent 23.9, which want 3.10):

    git clone https://github.com/EOSC-synergy/eosc-perf-backend /var/tmp/eosc-perf-original
    git -C /var/tmp/eosc-perf-original checkout 525314dc6404f77df0e636c9432464aaf77e1e96   # v1.2.3
    .venv/bin/python bench/side_by_side.py --original /var/tmp/eosc-perf-original \\
        --python python3.10 --results 10000 --duration 10 --runs 3 [--uploads]

What it does, all on 127.0.0.1 and bounded in time:
 1. builds the original's virtualenv from its own requirements/prod.txt (kept in --work, reused
    while requirements/prod.txt is unchanged);
 2. starts a PostgreSQL cluster of its own (deploy/local/postgres.sh, --pg-port, reset each run),
    creates the original's database and schema by its own migrations (its autoapp.py runs them);
 3. writes --results generated results into it (bench/original_data.py: bench/dataset.py's
    deterministic catalog and documents, as bench/seed.py writes them for this service);
 4. `eosc-perf init` and `eosc-perf import-legacy` from that database into this service's
    database, so both serve identical data; VACUUM ANALYZE of both;
 5. starts both: the original as its deployment starts it (gunicorn autoapp:app, --max-requests
    5000, jitter 500), with 4 sync workers (--original-workers, --original-worker-class), and
    this service by deploy/local/stack.sh up (QUERY_CACHE_MB=0); waits for the projector;
 6. --runs times, alternately: bench/load.py's read scenarios (a)-(f) on the original, then on
    this service (8 connections, --duration s each); with --uploads, then the write scenario
    (4 writers) --runs times alternately, each service with tokens of a LocalOpenIDProvider it
    trusts (the original's auth library, flaat, fetches the issuer's discovery document over
    HTTPS: its provider serves behind a self-signed certificate it is told to trust);
 7. prints the median of the runs per scenario and the ratios, stops everything.

Server CPU per request is the user+system time of every process of the deployment (the
original: gunicorn's master and workers; this service: nginx, both gunicorn services, the
projector, the mailer) and of the PostgreSQL server (the postmaster and its backends), over the
scenario, divided by the requests answered. Records go to --work/results.jsonl.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import psycopg

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import httpbench  # noqa: E402
import original_data  # noqa: E402

ORIGINAL_COMMIT = "525314dc6404f77df0e636c9432464aaf77e1e96"  # v1.2.3, the recordings' version
ADMIN_ENTITLEMENT = "urn:mace:egi.eu:group:eosc-perf:role=admin"
READS = ("a", "b", "c", "d", "e", "f")
SCENARIO_NAMES = {
    "a": "(a) `/results?per_page=100`",
    "b": "(b) c-ray, JSON filter + JSON sort",
    "c": "(c) `:search`, 20 per page",
    "d": "(d) `/results/{id}`",
    "e": "(e) `/benchmarks`",
    "f": "(f) page ~50 of (b)",
    "write": "uploads, 4 writers",
}
PG_ROLE = PG_PASSWORD = "eosc_perf"


def log(message: str) -> None:
    print(f"side-by-side: {message}", file=sys.stderr, flush=True)


# --- the table (pure) -----------------------------------------------------------------------------
def medians(records: list[dict]) -> dict[tuple[str, str], dict]:
    """(deployment, scenario) -> the median over its runs of rps, p99_ms and cpu_ms_per_request,
    and how many runs and errors there were."""
    grouped: dict[tuple[str, str], list[dict]] = {}
    for record in records:
        grouped.setdefault((record["deployment"], record["scenario"]), []).append(record)
    summary = {}
    for key, runs in grouped.items():
        figures = {"runs": len(runs), "errors": sum(r.get("errors", 0) for r in runs)}
        for name in ("rps", "p99_ms", "cpu_ms_per_request"):
            values = [r[name] for r in runs if r.get(name) is not None]
            figures[name] = statistics.median(values) if values else None
        summary[key] = figures
    return summary


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "–"
    ratio = numerator / denominator
    return f"{ratio:.1f}×" if ratio < 100 else f"{ratio:.0f}×"


def _figure(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def ratio_table(records: list[dict]) -> str:
    """A markdown table: per scenario, requests/s original → this and their ratio, p99 of each,
    server CPU per request of each and the original's over this one's (higher: this is cheaper)."""
    summary = medians(records)
    rows = [
        "| scenario | req/s original → this | ratio | p99 ms original → this "
        "| CPU ms/request original → this | CPU ratio |",
        "|---|---|---|---|---|---|",
    ]
    for scenario in (*READS, "write"):
        old, new = summary.get(("original", scenario)), summary.get(("this", scenario))
        if not old or not new:
            continue
        errors = old["errors"] + new["errors"]
        rows.append(
            f"| {SCENARIO_NAMES[scenario]} | {_figure(old['rps'])} → {_figure(new['rps'])} | "
            f"{_ratio(new['rps'], old['rps'])} | {_figure(old['p99_ms'])} → {_figure(new['p99_ms'])} | "
            f"{_figure(old['cpu_ms_per_request'])} → {_figure(new['cpu_ms_per_request'])} | "
            f"{_ratio(old['cpu_ms_per_request'], new['cpu_ms_per_request'])}"
            + (f" ({errors} errors)" if errors else "")
            + " |"
        )
    return "\n".join(rows)


# --- processes ---------------------------------------------------------------------------------
def wait_http(url: str, seconds: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the server behind {url} stopped (exit {process.returncode})")
        if time.monotonic() > deadline:
            raise SystemExit(f"no answer from {url} after {seconds:.0f} s")
        time.sleep(0.3)


def stop_group(process: subprocess.Popen | None, seconds: float = 20) -> None:
    """TERM to the process group a `start_new_session` child leads, KILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def postmaster_pid(pg_dir: Path) -> int:
    return int((pg_dir / "data" / "postmaster.pid").read_text().split()[0])


# --- the original ---------------------------------------------------------------------------------
def original_venv(checkout: Path, python: str, work: Path) -> Path:
    """The original's virtualenv from its own requirements/prod.txt, rebuilt when that file changes."""
    requirements = checkout / "requirements" / "prod.txt"
    if not requirements.is_file():
        raise SystemExit(f"{checkout} is no checkout of eosc-perf-backend (no requirements/prod.txt)")
    venv = work / "original-venv"
    stamp = venv / "requirements.sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest:
        return venv
    log(f"building the original's virtualenv in {venv} (pip install -r {requirements})")
    subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-r", str(requirements)],
        check=True,
        stdout=sys.stderr,
    )
    stamp.write_text(digest)
    return venv


def original_env(pg_port: int, issuer: str, ca_bundle: Path | None) -> dict:
    """The original's settings (backend/settings.py reads them from the environment)."""
    env = {
        **os.environ,
        "FLASK_ENV": "production",
        "FLASK_APP": "autoapp.py",
        "SECRET_KEY": "side-by-side-bench",
        "DB_USER": PG_ROLE,
        "DB_PASSWORD": PG_PASSWORD,
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(pg_port),
        "DB_NAME": "original",
        "TRUSTED_OP_LIST": issuer,
        "ADMIN_ENTITLEMENTS": ADMIN_ENTITLEMENT,
        "MAIL_SERVER": "",  # its console mail backend
    }
    if ca_bundle is not None:
        # flaat fetches the discovery document with `requests`, PyJWT the JWKS with urllib:
        # both trust the bench provider's certificate (and nothing else: all is on loopback).
        env["REQUESTS_CA_BUNDLE"] = env["SSL_CERT_FILE"] = str(ca_bundle)
    return env


def start_original(
    checkout: Path, venv: Path, env: dict, port: int, workers: int, worker_class: str, logs: Path
) -> subprocess.Popen:
    command = [
        str(venv / "bin" / "gunicorn"),
        "autoapp:app",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(workers),
        "-k",
        worker_class,
        "--max-requests=5000",
        "--max-requests-jitter=500",
        "--log-level=error",
    ]
    with open(logs / "original.log", "ab") as out:
        process = subprocess.Popen(
            command, cwd=checkout, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )
    wait_http(f"http://127.0.0.1:{port}/api-spec.json", 120, process)
    return process


# --- this service -----------------------------------------------------------------------------------
def stack_env(work: Path, args, issuer: str) -> dict:
    return {
        **os.environ,
        "EOSC_PERF_PG_PORT": str(args.pg_port),
        "EOSC_PERF_PG_DIR": str(work / "postgres"),
        "EOSC_PERF_PG_DB": "this",
        "EOSC_PERF_STACK_DIR": str(work / "stack"),
        "STACK_PORT": str(args.port),
        "COMMAND_PORT": str(args.port + 1),
        "QUERY_PORT": str(args.port + 2),
        "EOSC_PERF_ENV": "production",
        "TRUSTED_OP_LIST": issuer,
        "ADMIN_ENTITLEMENTS": ADMIN_ENTITLEMENT,
        "IMAGE_CHECK": "off",
        "MAIL_SERVER": "",
        "GUNICORN_ACCESSLOG": "",
        "QUERY_CACHE_MB": "0",
        # The original limits no one: uploads measure capacity, not the per-user limit's 429s.
        "WRITE_RATE_PER_MINUTE": "0",
    }


def stack_pids(work: Path) -> list[int]:
    names = ("query", "command", "projector", "mailer", "nginx")
    return [int((work / "stack" / f"{name}.pid").read_text()) for name in names]


def total_results(base_url: str) -> int:
    return httpbench.Client(base_url).get_json("/results?per_page=1")["total"]


def wait_projected(base_url: str, expected: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (seen := total_results(base_url)) < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"this service shows {seen} of {expected} results after {seconds:.0f} s")
        time.sleep(1)


# --- load ------------------------------------------------------------------------------------------
def load(
    deployment: str,
    run: int,
    base_url: str,
    scenarios: str,
    cpu: list[int],
    args,
    out: Path,
    tokens=None,
    duration=None,
):
    command = [
        sys.executable,
        str(BENCH / "load.py"),
        "--url",
        base_url,
        "--scenarios",
        scenarios,
        "--duration",
        str(duration or args.duration),
        "--cpu",
        ",".join(map(str, cpu)),
        "--pause",
        str(args.pause),
        "--label",
        f"{deployment}-{args.results}-run{run}",
        "--out",
        str(out),
    ]
    if tokens is not None:
        command += ["--tokens", str(tokens)]
    log(f"{deployment}, run {run}: {scenarios}")
    subprocess.run(command, check=True, stdout=sys.stderr, timeout=len(scenarios.split(",")) * (args.duration + 300))


def records_of(out: Path, results: int) -> list[dict]:
    """load.py's records of this bench, each with its deployment."""
    records = []
    for line in out.read_text().splitlines():
        record = json.loads(line)
        deployment, size, _ = record["label"].rsplit("-", 2)
        if size == str(results) and deployment in ("original", "this"):
            records.append({**record, "deployment": deployment})
    return records


# --- the run ---------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", required=True, type=Path, help="a checkout of eosc-perf-backend")
    parser.add_argument("--python", default="python3.10", help="the interpreter of the original's venv")
    parser.add_argument("--results", type=int, default=10000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(READS), help="read scenarios, in order")
    parser.add_argument("--uploads", action="store_true", help="then the write scenario, 4 writers")
    parser.add_argument(
        "--pause", type=float, default=2.0, help="seconds after each scenario (abandoned requests finish)"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per scenario, unrecorded, first")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/eosc-perf/side-by-side"))
    parser.add_argument("--pg-port", type=int, default=55650)
    parser.add_argument("--port", type=int, default=18650, help="this service (nginx; +1, +2 its services)")
    parser.add_argument("--original-port", type=int, default=18660)
    parser.add_argument("--original-workers", type=int, default=4)
    parser.add_argument(
        "--original-worker-class",
        default="sync",
        help="gunicorn -k of the original (sync, as issue 16 measures; its supervisord runs gevent)",
    )
    args = parser.parse_args()

    for name, port in (("--pg-port", args.pg_port), ("--original-port", args.original_port)):
        if listening(port):  # (stack.sh checks its own ports)
            raise SystemExit(f"{name} {port}: something listens there on 127.0.0.1; give a free port")
    # A TERM (timeout, kill) unwinds through the `finally` below: nothing is left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    checkout = args.original.resolve()
    venv = original_venv(checkout, args.python, work)
    out, warmup = work / "results.jsonl", work / "warmup.jsonl"
    out.unlink(missing_ok=True)
    warmup.unlink(missing_ok=True)
    pg_env = {
        **os.environ,
        "EOSC_PERF_PG_PORT": str(args.pg_port),
        "EOSC_PERF_PG_DIR": str(work / "postgres"),
    }
    postgres = [str(ROOT / "deploy" / "local" / "postgres.sh")]
    eosc_perf = str(ROOT / ".venv" / "bin" / "eosc-perf")
    original = oidc = None
    stack_up = False
    env = None
    try:
        subprocess.run([*postgres, "reset"], env=pg_env, check=True, stdout=subprocess.DEVNULL)
        urls = {}
        for database in ("original", "this"):
            urls[database] = subprocess.run(
                [*postgres, "up"],
                env={**pg_env, "EOSC_PERF_PG_DB": database},
                check=True,
                stdout=subprocess.PIPE,
                text=True,
            ).stdout.splitlines()[-1]
        with psycopg.connect(urls["this"]) as conn:
            log(f"PostgreSQL {conn.execute('SHOW server_version').fetchone()[0]} on port {args.pg_port}")

        oidc = Providers(work)
        original_issuer, this_issuer = oidc.start(args.uploads)
        orig_env = original_env(args.pg_port, original_issuer, oidc.ca_bundle)
        log("the original's schema, by its own migrations (autoapp.py)")
        subprocess.run([str(venv / "bin" / "python"), "-c", "import autoapp"], cwd=checkout, env=orig_env, check=True)
        started = time.monotonic()
        count = original_data.write(urls["original"], args.results)
        log(f"{count} results written into the original's database in {time.monotonic() - started:.1f} s")

        env = stack_env(work, args, this_issuer)
        store_env = {**env, "EVENT_STORE_URL": urls["this"], "READ_STORE_URL": urls["this"]}
        subprocess.run([eosc_perf, "init"], env=store_env, check=True, stdout=sys.stderr)
        started = time.monotonic()
        subprocess.run(
            [eosc_perf, "import-legacy", urls["original"], "--report", str(work / "findings.json")],
            env=store_env,
            check=True,
            stdout=sys.stderr,
        )
        log(f"imported into this service in {time.monotonic() - started:.1f} s")

        base = subprocess.run(
            [str(ROOT / "deploy" / "local" / "stack.sh"), "up"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout.splitlines()[-1]
        stack_up = True
        started = time.monotonic()
        wait_projected(base, count, 1800)
        log(f"projected in {time.monotonic() - started:.1f} s")
        vacuum(urls)

        original = start_original(
            checkout, venv, orig_env, args.original_port, args.original_workers, args.original_worker_class, work
        )
        original_url = f"http://127.0.0.1:{args.original_port}"
        if total_results(original_url) != count or total_results(base) != count:
            raise SystemExit("the two deployments do not show the same number of results")
        pg = postmaster_pid(work / "postgres")
        cpu = {"original": [original.pid, pg], "this": [*stack_pids(work), pg]}
        bases = {"original": original_url, "this": base}
        # Each worker's first requests build what it caches (the original's schemas, this
        # service's compiled statements): a short unrecorded pass of each scenario first.
        for deployment in ("original", "this"):
            load(deployment, 0, bases[deployment], args.scenarios, [], args, warmup, duration=args.warmup)
        log(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()}")
        for run in range(1, args.runs + 1):
            for deployment in ("original", "this"):
                load(deployment, run, bases[deployment], args.scenarios, cpu[deployment], args, out)
        if args.uploads:
            tokens = oidc.tokens()
            for deployment in ("original", "this"):  # registers the writers; the token checks warm up
                load(
                    deployment,
                    0,
                    bases[deployment],
                    "write",
                    [],
                    args,
                    warmup,
                    tokens[deployment],
                    duration=args.warmup,
                )
            for run in range(1, args.runs + 1):
                for deployment in ("original", "this"):
                    load(deployment, run, bases[deployment], "write", cpu[deployment], args, out, tokens[deployment])
        loadavg = " ".join(f"{x:.1f}" for x in os.getloadavg())
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        print(
            f"{args.results} results; {args.runs} runs of {args.duration:g} s per scenario, medians; "
            f"original {args.original_workers} {args.original_worker_class} workers; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {loadavg}; "
            f"commit {commit.stdout.strip()}\n"
        )
        print(ratio_table(records_of(out, args.results)))
    finally:
        stop_group(original)
        if stack_up:
            subprocess.run(
                [str(ROOT / "deploy" / "local" / "stack.sh"), "down"], env=env, stdout=subprocess.DEVNULL, check=False
            )
        if oidc is not None:
            oidc.stop()
        subprocess.run([*postgres, "down"], env=pg_env, stdout=subprocess.DEVNULL, check=False)


def vacuum(urls: dict) -> None:
    """Both databases analysed and their visibility maps set before any measurement."""
    for url in urls.values():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


class Providers:
    """The OpenID providers each deployment trusts, as processes of bench/oidc.py; the original's
    serves over HTTPS (flaat asks the issuer's discovery document by https://)."""

    def __init__(self, work: Path):
        self.work = work
        self.processes: dict[str, subprocess.Popen] = {}
        self.ca_bundle: Path | None = None

    def start(self, uploads: bool) -> tuple[str, str]:
        # Reads need no provider of the original's: it checks no token on anonymous GETs.
        issuers = {"original": "https://127.0.0.1:1/unused"}
        for deployment in ("original", "this") if uploads else ("this",):
            folder = self.work / f"oidc-{deployment}"
            subprocess.run(["rm", "-rf", str(folder)], check=True)
            command = [sys.executable, str(BENCH / "oidc.py"), "--out", str(folder), "--writers", "4"]
            if deployment == "original":
                command += ["--tls"]
                self.ca_bundle = folder / "certificate.pem"
            with open(self.work / f"oidc-{deployment}.log", "ab") as log_file:
                self.processes[deployment] = subprocess.Popen(
                    command, stdout=log_file, stderr=log_file, start_new_session=True
                )
            deadline = time.monotonic() + 30
            while not (folder / "issuer").is_file() or not (folder / "issuer").read_text().strip():
                if time.monotonic() > deadline or self.processes[deployment].poll() is not None:
                    raise SystemExit(f"the OpenID provider of {deployment} did not start: see {folder}.log")
                time.sleep(0.1)
            issuers[deployment] = (folder / "issuer").read_text().strip()
        return issuers["original"], issuers["this"]

    def tokens(self) -> dict[str, Path]:
        return {deployment: self.work / f"oidc-{deployment}" / "tokens" for deployment in self.processes}

    def stop(self) -> None:
        for process in self.processes.values():
            stop_group(process)


if __name__ == "__main__":
    main()
