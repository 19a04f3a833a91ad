"""The event store's transcoder against the library's, per event of a given event store
(docs/performance.md, "Import from the original").

Reads every stored event of a SQLite event store (e.g. one `bench/legacy_import.py` filled),
checks that both transcoders store the same bytes and read the same values, and prints the
process time per event of encoding and decoding with each, best of `--rounds` passes, for the
result uploads (large: a document each) and for the other events apart.

    .venv/bin/python bench/transcoding.py /tmp/bench-import/1/events.sqlite
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.persistence import JSONTranscoder  # noqa: E402

from domain.event_store import EventStore  # noqa: E402


def per_item(work: Callable, items: list, rounds: int) -> float:
    """Microseconds of process time per item, the best of the rounds."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for item in items:
            work(item)
        best = min(best, time.process_time() - started)
    return best / len(items) * 1e6


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("events", help="a SQLite event store file")
    arguments.add_argument("--rounds", type=int, default=5)
    args = arguments.parse_args()
    store = EventStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    fast = store.mapper.transcoder
    library = JSONTranscoder()
    store.register_transcodings(library)
    with sqlite3.connect(args.events) as db:
        stored = db.execute("SELECT topic, state FROM stored_events").fetchall()
    for label, texts in (
        ("result uploads", [state for topic, state in stored if topic.endswith("Result.Uploaded")]),
        ("other events", [state for topic, state in stored if not topic.endswith("Result.Uploaded")]),
    ):
        if not texts:
            continue
        states = [library.decode(text) for text in texts]
        if any(fast.encode(state) != text for state, text in zip(states, texts)):
            raise SystemExit("the transcoders store different bytes")
        if any(repr(fast.decode(text)) != repr(state) for state, text in zip(states, texts)):
            raise SystemExit("the transcoders read different values")
        encoding = (per_item(library.encode, states, args.rounds), per_item(fast.encode, states, args.rounds))
        decoding = (per_item(library.decode, texts, args.rounds), per_item(fast.decode, texts, args.rounds))
        print(
            f"{label}: {len(texts):,} events of {sum(map(len, texts)) // len(texts):,} bytes on average; "
            f"encode {encoding[0]:.1f} -> {encoding[1]:.1f} us, decode {decoding[0]:.1f} -> {decoding[1]:.1f} us "
            "(the library's -> the event store's)",
            flush=True,
        )


if __name__ == "__main__":
    main()
