"""Speed of the admins' audit search (GET /reports/events) over a large events index.

Fills `events_index` of an empty read store with synthetic rows (the shape the projector
writes: items with a few events each, claims about results, a few hundred actors, a year of
timestamps), then times the search's queries as the query service runs them
(query_service/views/history.py), each `--repeat` times, and prints p50 and p99 in ms.

    .venv/bin/python bench/audit_search.py --events 1000000 --read-store postgresql://.../bench_audit
    .venv/bin/python bench/audit_search.py --events 100000 --read-store sqlite:////tmp/audit.sqlite
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select

from query_service.views import history
from read_model import counts, read_store
from read_model.migrations import migrate
from read_model.tables import counters, events_index

TYPES = ("Result.Uploaded", "Result.Claimed", "Claim.Submitted", "Claim.Rejected", "Site.Updated", "Result.Deleted")
START = datetime(2026, 1, 1)


def fill(engine, events: int, seed: int = 1) -> dict:
    """Synthetic rows; returns values the queries look for (an item, an actor, a time window)."""
    rng = random.Random(seed)
    actors = [f"user-{n}" for n in range(500)]
    items = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(max(1, events // 4))]
    chunk, position = [], 0
    with engine.begin() as conn:
        for position in range(1, events + 1):
            type_name = rng.choice(TYPES)
            chunk.append(
                {
                    "position": position,
                    "item_id": rng.choice(items),
                    "related_id": rng.choice(items) if type_name.startswith("Claim.") else None,
                    "version": 1 + position % 4,
                    "topic": f"domain.x:{type_name}",
                    "type": type_name,
                    "timestamp": START + timedelta(seconds=position * 31_536_000 // events),
                    "actor_sub": rng.choice(actors),
                    "actor_iss": "https://aai.example.org",
                    "role": "user",
                    "data": '{"message":"x"}',
                }
            )
            if len(chunk) == 10_000:
                conn.execute(events_index.insert(), chunk)
                chunk = []
        if chunk:
            conn.execute(events_index.insert(), chunk)
        # The counts the projector keeps with the rows (read_model/counts.py).
        conn.execute(counters.delete())
        conn.execute(
            counters.insert(), [{"name": name, "value": value} for name, value in counts.recount(conn).items()]
        )
    return {"item_id": items[0], "actor_sub": actors[0], "middle": START + timedelta(days=182)}


def timed(engine, query: dict, repeat: int) -> tuple[float, float]:
    full = {"page": 1, "per_page": 100, "sort_by": "+position", **query}
    durations = []
    for _ in range(repeat):
        begin = time.perf_counter()
        with engine.connect() as conn:
            history.search(conn, full)
        durations.append((time.perf_counter() - begin) * 1000)
    durations.sort()
    return statistics.median(durations), durations[min(len(durations) - 1, int(len(durations) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="rows of the events index")
    parser.add_argument("--read-store", required=True, help="an empty read store (SQLAlchemy URL)")
    parser.add_argument("--repeat", type=int, default=50, help="runs of each query")
    args = parser.parse_args()
    engine = read_store.connect(args.read_store)
    migrate(engine, quiet=True)
    with engine.connect() as conn:
        present = conn.execute(select(func.count()).select_from(events_index)).scalar_one()
    began = time.perf_counter()
    found = fill(engine, args.events) if present == 0 else None
    if found is None:
        raise SystemExit("the read store's events index is not empty")
    print(f"filled {args.events} events in {time.perf_counter() - began:.0f} s ({engine.dialect.name})")
    if (
        engine.dialect.name == "postgresql"
    ):  # as autovacuum leaves a table: its visibility map set, for index-only scans
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE events_index")
    queries = {
        "all, first page": {},
        "all, newest first": {"sort_by": "-position"},
        "all, page 1000": {"page": 1000},
        "item_id": {"item_id": found["item_id"]},
        "type": {"type": "Result.Deleted"},
        "actor": {"actor_sub": found["actor_sub"], "actor_iss": "https://aai.example.org"},
        "a day": {"after": found["middle"], "before": found["middle"] + timedelta(days=1)},
        "from_position near the head": {"from_position": args.events - 50},
        "from_position near the start": {"from_position": 50},
        "after (half the year)": {"after": found["middle"]},
        "after (the whole year)": {"after": START},
        "type in a day": {
            "type": "Result.Claimed",
            "after": found["middle"],
            "before": found["middle"] + timedelta(days=1),
        },
    }
    for name, query in queries.items():
        p50, p99 = timed(engine, query, args.repeat)
        print(f"{name:32} p50 {p50:8.1f} ms   p99 {p99:8.1f} ms")


if __name__ == "__main__":
    main()
