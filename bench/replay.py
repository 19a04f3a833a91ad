#!/usr/bin/env python3
"""Replay speed: every event of an event store replayed into a fresh, empty read store, the code
`eosc-perf verify` and `eosc-perf rebuild` run (projections/replay.py `rebuild`), in events per
second by the clock and per CPU second of this process and its worker processes (a PostgreSQL
server's CPU comes on top).

    # a SQLite scratch file beside nothing (as `verify` on the embedded default)
    .venv/bin/python bench/replay.py --event-store sqlite:////var/tmp/bench/e5/events.sqlite
    # a new schema in a PostgreSQL database (as `verify` and `rebuild` on PostgreSQL)
    .venv/bin/python bench/replay.py --event-store sqlite:///... --read-store postgresql://...

`--rounds N` replays N times into N fresh stores and prints each; `--profile FILE` writes a
cProfile of the last round (read it with `python -m pstats FILE`). The last stdout line is a
JSON summary. On PostgreSQL (on this machine) the server's CPU is measured too, from /proc.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configuration.stores import open_event_store  # noqa: E402
from projections.replay import REPLAY_BATCH, rebuild, scratch_store  # noqa: E402
from projections.replay_workers import cpu_seconds  # noqa: E402
from projections.sources import EventStoreSource  # noqa: E402
from read_model import read_store  # noqa: E402


def _times(pid: int | str) -> list[int] | None:
    """utime, stime, cutime, cstime and the parent's pid of a process, in clock ticks; None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return [int(fields[11]), int(fields[12]), int(fields[13]), int(fields[14]), int(fields[1])]


def server_cpu(engine) -> float:
    """PostgreSQL (on this machine): CPU seconds so far of the whole server: the postmaster, its
    processes now (backends, writers, checkpointer, autovacuum) and those that ended (which the
    postmaster's children times hold once it has reaped them). The replay's own connections end
    within it (a replay reopens its pool: projections/replay.py), so they are counted either
    way. Other sessions' work would count too: measure on a quiet server."""
    if engine.dialect.name != "postgresql":
        return 0.0
    with engine.connect() as conn:
        backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    postmaster = _times(backend)[4]
    ticks = sum(_times(postmaster)[:4])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (times := _times(entry.name)) is not None and times[4] == postmaster:
            ticks += times[0] + times[1]
    return ticks / os.sysconf("SC_CLK_TCK")


def one_round(source: EventStoreSource, live, profile: str | None) -> dict:
    with scratch_store(live) as scratch:
        profiler = cProfile.Profile() if profile else None
        cpu, own, server = cpu_seconds(), time.process_time(), server_cpu(live)
        if profiler:
            profiler.enable()
        replay = rebuild(source, scratch)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        cpu = cpu_seconds() - cpu  # with the worker processes (projections/replay_workers.py)
        workers = cpu - (time.process_time() - own)
        server = server_cpu(live) - server
    return {
        "events": replay.events,
        "seconds": round(replay.seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "worker_cpu_seconds": round(workers, 3),
        "events_per_second": round(replay.events_per_second),
        "events_per_cpu_second": round(replay.events / cpu) if cpu else None,
        "server_cpu_seconds": round(server, 3),
        "events_per_cpu_second_with_server": round(replay.events / (cpu + server)) if cpu + server else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--event-store", required=True, help="event store URL")
    parser.add_argument(
        "--read-store",
        default="sqlite:///:memory:",
        help="a PostgreSQL URL to replay into a new schema there; default: a SQLite scratch file",
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", help="write a cProfile of the last round to this file")
    args = parser.parse_args()
    store = open_event_store(args.event_store, create_tables=False)
    source = EventStoreSource(store, REPLAY_BATCH)
    live = read_store.connect(args.read_store)
    rounds = []
    for number in range(args.rounds):
        rounds.append(one_round(source, live, args.profile if number == args.rounds - 1 else None))
        print(json.dumps(rounds[-1]), file=sys.stderr, flush=True)
    live.dispose()
    best = max(rounds, key=lambda r: r["events_per_cpu_second"] or 0)
    print(json.dumps({"rounds": rounds, "best": best}))


if __name__ == "__main__":
    main()
