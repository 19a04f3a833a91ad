#!/usr/bin/env python3
"""Replay speed: every event of an event store replayed into a fresh, empty read store, the code
`eosc-perf verify` and `eosc-perf rebuild` run (projections/replay.py `rebuild`), in events per
second by the clock and per CPU second of this process (a PostgreSQL server's CPU comes on top).

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
from projections.sources import EventStoreSource  # noqa: E402
from read_model import read_store  # noqa: E402

# The replay's sessions name themselves, so that other sessions' backends are not counted.
APPLICATION = "bench-replay"


def server_cpu(engine) -> dict[int, float]:
    """PostgreSQL: CPU seconds so far of the server's processes (on this machine) that work for
    the replay: its own sessions' backends and the server's background processes (writers,
    checkpointer, autovacuum), as pg_stat_activity lists them."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as conn:
        pids = (
            conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE backend_type <> 'client backend' OR application_name = %s",
                (APPLICATION,),
            )
            .scalars()
            .all()
        )
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return seconds


def one_round(source: EventStoreSource, live, profile: str | None) -> dict:
    with scratch_store(live) as scratch:
        profiler = cProfile.Profile() if profile else None
        cpu, server = time.process_time(), server_cpu(live)
        if profiler:
            profiler.enable()
        replay = rebuild(source, scratch)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        cpu = time.process_time() - cpu
        # The scratch store's backends are still open here: their CPU counts from 0 where new.
        server = sum(seconds - server.get(pid, 0.0) for pid, seconds in server_cpu(scratch).items())
    return {
        "events": replay.events,
        "seconds": round(replay.seconds, 3),
        "cpu_seconds": round(cpu, 3),
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
    url = args.read_store
    if url.startswith("postgresql"):  # the scratch schema's engine is made from this URL
        url += ("&" if "?" in url else "?") + f"application_name={APPLICATION}"
    live = read_store.connect(url)
    rounds = []
    for number in range(args.rounds):
        rounds.append(one_round(source, live, args.profile if number == args.rounds - 1 else None))
        print(json.dumps(rounds[-1]), file=sys.stderr, flush=True)
    live.dispose()
    best = max(rounds, key=lambda r: r["events_per_cpu_second"] or 0)
    print(json.dumps({"rounds": rounds, "best": best}))


if __name__ == "__main__":
    main()
