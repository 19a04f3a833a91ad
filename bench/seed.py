#!/usr/bin/env python3
"""Bulk seeding through the EVENT STORE: the domain's aggregates (users, sites, flavors,
benchmarks, tags with their UniqueKeys and approvals, then N results, a few of them claimed)
saved in large batches with `store.save(*aggregates)`, then projected into the read tables.

    # the embedded default's data folder (SQLite event store + SQLite read store)
    .venv/bin/python bench/seed.py --results 100000 --data /var/tmp/eosc-perf/bench/embedded-1e5

    # PostgreSQL (the production topology); projected in-process by default
    .venv/bin/python bench/seed.py --results 100000 --event-store postgresql://... --read-store postgresql://...

`--project wait` leaves the projection to a running `eosc-perf project` and measures how fast
it catches up; `--project none` only writes events. The data set is deterministic (`--seed`):
the same seed and counts give the same catalog, documents, dates and ids. Seeding again into
the same stores appends results after those already there (the catalog is reused).

Progress goes to stderr; the last stdout line is a JSON summary (also written to --summary).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from uuid import NAMESPACE_URL, uuid5

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import dataset  # noqa: E402
from eventsourcing.application import AggregateNotFoundError  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from configuration.stores import open_event_store  # noqa: E402
from domain import benchmark as benchmarks  # noqa: E402
from domain import flavor as flavors  # noqa: E402
from domain.actor import Actor  # noqa: E402
from domain.benchmark import Benchmark  # noqa: E402
from domain.claim import Claim  # noqa: E402
from domain.flavor import Flavor  # noqa: E402
from domain.result import Result  # noqa: E402
from domain.site import Site  # noqa: E402
from domain.tag import Tag  # noqa: E402
from domain.unique_key import UniqueKey  # noqa: E402
from domain.user import User  # noqa: E402
from projections.projector import Projector  # noqa: E402
from projections.sources import EventStoreSource  # noqa: E402
from read_model import read_store  # noqa: E402
from read_model.migrations import migrate  # noqa: E402
from read_model.tables import results as results_table  # noqa: E402

BENCH_ISSUER = "https://bench.eosc-perf.invalid/oidc"
UPLOADER = Actor("bench-uploader", BENCH_ISSUER)
ADMIN = Actor("bench-admin", BENCH_ISSUER)
CLAIMANT = Actor("bench-claimant", BENCH_ISSUER)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make(cls, created, id, **fields):
    """A new aggregate with a given id (deterministic seeding): as `cls(**fields)`, which draws one."""
    return cls._create(created, id=id, **fields)


def create_catalog(store, catalog: dataset.Catalog) -> int:
    """Users, sites, flavors, benchmarks and tags with their UniqueKeys, approved. Returns the
    number of events written; 0 when this seed's catalog is already in the store."""
    first_key = UniqueKey.create_id("site", dataset.SITES[0][0])
    try:
        existing = store.repository.get(first_key)
    except AggregateNotFoundError:
        existing = None
    if existing is not None:
        if existing.owner_id != catalog.site_ids[0]:
            raise SystemExit("the store holds a catalog of another --seed; use an empty store or that seed")
        log("catalog already in the store: reused")
        return 0
    users = [User(sub=a.sub, iss=a.iss, email=f"{a.sub}@example.org", actor=a) for a in (UPLOADER, ADMIN, CLAIMANT)]
    written = len(store.save(*users))
    items = []
    for (name, address), site_id in zip(dataset.SITES, catalog.site_ids):
        site = make(
            Site, Site.Submitted, site_id, name=name, address=address, description=f"{name} cloud site", actor=UPLOADER
        )
        site.approve(ADMIN)
        items += [site, UniqueKey(scope="site", key=name, owner_id=site_id)]
    for spec in catalog.flavors:
        site_id = catalog.site_ids[spec.site_index]
        flavor = make(
            Flavor,
            Flavor.Submitted,
            spec.id,
            site_id=site_id,
            name=spec.name,
            description=f"{spec.cpus} vCPU, {spec.memory_gb} GB RAM" + (", 1 GPU" if spec.gpu else ""),
            actor=UPLOADER,
        )
        flavor.approve(ADMIN)
        items += [
            flavor,
            UniqueKey(scope=flavors.UNIQUE_SCOPE, key=flavors.unique_name(site_id, spec.name), owner_id=spec.id),
        ]
    for (image, tag, url, schema, description, _share), benchmark_id in zip(dataset.BENCHMARKS, catalog.benchmark_ids):
        benchmark = make(
            Benchmark,
            Benchmark.Submitted,
            benchmark_id,
            docker_image=image,
            docker_tag=tag,
            url=url,
            json_schema=schema,
            description=description,
            actor=UPLOADER,
        )
        benchmark.approve(ADMIN)
        items += [
            benchmark,
            UniqueKey(scope=benchmarks.UNIQUE_SCOPE, key=benchmarks.unique_name(image, tag), owner_id=benchmark_id),
        ]
    for name, tag_id in zip(dataset.TAGS, catalog.tag_ids):
        items += [
            make(Tag, Tag.Created, tag_id, name=name, description=f"results tagged {name}", actor=UPLOADER),
            UniqueKey(scope="tag", key=name, owner_id=tag_id),
        ]
    written += len(store.save(*items))
    return written


def result_aggregates(catalog: dataset.Catalog, specs: list[dataset.ResultSpec]) -> list:
    aggregates = []
    for spec in specs:
        result = make(
            Result,
            Result.Uploaded,
            spec.id,
            benchmark_id=catalog.benchmark_ids[spec.benchmark_index],
            flavor_id=spec.flavor.id,
            site_id=catalog.site_ids[spec.flavor.site_index],
            execution_datetime=spec.execution_datetime.replace(tzinfo=None),
            json=spec.json,
            tags_ids=[catalog.tag_ids[i] for i in spec.tag_indexes],
            actor=UPLOADER,
        )
        aggregates.append(result)
        if spec.claimed:
            claim = make(
                Claim,
                Claim.Submitted,
                uuid5(NAMESPACE_URL, f"/eosc-perf/bench/claim/{spec.id}"),
                result_id=spec.id,
                message="Score looks too high for this flavor",
                actor=CLAIMANT,
            )
            result.claim(claim.id, CLAIMANT)
            aggregates.append(claim)
    return aggregates


def existing_results(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(results_table)).scalar_one()


def project_in_process(source: EventStoreSource, consumer, label: str) -> dict:
    """Applies every event past the consumer's position, batch by batch (as `Follower.catch_up`)."""
    started, count, last_report = time.perf_counter(), 0, 0.0
    head = source.head()
    for batch in source.batches(consumer.position()):
        consumer.apply(batch)
        count += len(batch)
        now = time.perf_counter()
        if now - last_report >= 2.0:
            last_report = now
            log(
                f"  {label}: {count} events applied, at {batch[-1][0]} of {head} "
                f"({count / (now - started):,.0f} events/s)"
            )
    seconds = time.perf_counter() - started
    rate = count / seconds if seconds else 0.0
    log(f"{label}: {count} events in {seconds:.1f} s ({rate:,.0f} events/s)")
    return {"events": count, "seconds": round(seconds, 3), "events_per_second": round(rate)}


def wait_for_projector(source: EventStoreSource, engine, timeout: float) -> dict:
    """Polls the read model's position until it reaches the head (a running `eosc-perf project`)."""
    head = source.head()
    with engine.connect() as conn:
        start_position = read_store.position(conn, "read_model")
    started = time.perf_counter()
    position = start_position
    while position < head:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"the projector reached {position} of {head} in {timeout} s: gave up")
        time.sleep(0.5)
        with engine.connect() as conn:
            position = read_store.position(conn, "read_model")
        log(f"  projector at {position} of {head}")
    seconds = time.perf_counter() - started
    count = head - start_position
    rate = count / seconds if seconds else 0.0
    log(f"running projector: {count} events in {seconds:.1f} s ({rate:,.0f} events/s, polled every 0.5 s)")
    return {"events": count, "seconds": round(seconds, 3), "events_per_second": round(rate)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, required=True, help="how many results to add (10^3 .. 10^6)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", help="embedded data folder (events.sqlite, read.sqlite)")
    parser.add_argument("--event-store", help="event store URL (sqlite:///... or postgresql://...)")
    parser.add_argument("--read-store", help="read store URL")
    parser.add_argument("--batch", type=int, default=2000, help="results per store.save() (one transaction)")
    parser.add_argument(
        "--project",
        choices=("inprocess", "wait", "none"),
        default="inprocess",
        help="bring the read tables up to date here (default), wait for a running projector, or not",
    )
    parser.add_argument(
        "--mailer",
        choices=("auto", "yes", "no"),
        default="auto",
        help="also catch the mailer up (auto: for --data, where the embedded server runs it)",
    )
    parser.add_argument("--wait-timeout", type=float, default=3600)
    parser.add_argument("--summary", help="write the JSON summary to this file too")
    args = parser.parse_args(argv)

    if args.data:
        data = Path(args.data)
        data.mkdir(parents=True, exist_ok=True)
        event_url = args.event_store or f"sqlite:///{data / 'events.sqlite'}"
        read_url = args.read_store or f"sqlite:///{data / 'read.sqlite'}"
    elif args.event_store and args.read_store:
        event_url, read_url = args.event_store, args.read_store
    else:
        parser.error("give --data DIR, or --event-store URL and --read-store URL")
    mailer = args.mailer == "yes" or (args.mailer == "auto" and bool(args.data))

    store = open_event_store(event_url, create_tables=True)
    engine = read_store.connect(read_url)
    migrate(engine)
    source = EventStoreSource(store)
    catalog = dataset.Catalog.draw(args.seed)

    head_before = source.head()
    started = time.perf_counter()
    catalog_events = create_catalog(store, catalog)
    start_number = existing_results(engine)
    if start_number:
        log(f"{start_number} results already in the read store: adding results #{start_number}..")
    stream = dataset.ResultStream(catalog, args.seed, start=start_number)

    written, generating, saving, last_report = 0, 0.0, 0.0, 0.0
    remaining = args.results
    while remaining > 0:
        count = min(args.batch, remaining)
        remaining -= count
        t0 = time.perf_counter()
        aggregates = result_aggregates(catalog, stream.take(count))
        t1 = time.perf_counter()
        written += len(store.save(*aggregates))
        t2 = time.perf_counter()
        generating += t1 - t0
        saving += t2 - t1
        if t2 - last_report >= 2.0 or remaining == 0:
            last_report = t2
            done = args.results - remaining
            log(
                f"  event store: {done}/{args.results} results, {written} events "
                f"({written / (t2 - started):,.0f} events/s; building {generating:.1f} s, saving {saving:.1f} s)"
            )
    seconds = time.perf_counter() - started
    events = catalog_events + written
    store_rate = events / seconds if seconds else 0.0
    log(
        f"event store: {events} events in {seconds:.1f} s ({store_rate:,.0f} events/s, "
        f"of which building aggregates {generating:.1f} s, store.save {saving:.1f} s)"
    )

    summary = {
        "results_added": args.results,
        "results_total": start_number + args.results,
        "seed": args.seed,
        "event_store": {
            "events": events,
            "seconds": round(seconds, 3),
            "events_per_second": round(store_rate),
            "build_seconds": round(generating, 3),
            "save_seconds": round(saving, 3),
            "head_before": head_before,
            "head": source.head(),
        },
    }
    if args.project == "inprocess":
        summary["projection"] = project_in_process(source, Projector(engine), "read model")
    elif args.project == "wait":
        summary["projection"] = wait_for_projector(source, engine, args.wait_timeout)
    if mailer:
        from projections.mail import directory
        from projections.mail.mailer import Mailer

        # As the embedded server does on its first start: events up to the head send no mail.
        quiet = directory.silent_until(engine, head=source.head())
        summary["mailer"] = project_in_process(source, Mailer(engine, "", quiet), "mailer")
    line = json.dumps(summary)
    if args.summary:
        Path(args.summary).write_text(line + "\n")
    print(line, flush=True)
    return summary


if __name__ == "__main__":
    main()
