"""The `eosc-perf` command: run the service and operate it."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from uuid import UUID

from eosc_perf.settings import ConfigurationError, Settings


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if getattr(args, "data", None):
        settings = replace(settings, data_dir=Path(args.data))
    if getattr(args, "dev", False):
        settings = replace(settings, mode="development")
    return settings


def serve(args: argparse.Namespace) -> None:
    from eosc_perf.embedded import build
    from eosc_perf.server import serve_embedded

    settings = _settings(args)
    settings.check()  # refuse unsafe settings with a message, before anything opens
    print(f"EOSC Performance API ({settings.mode} mode, data in {settings.data_dir}) on http://{args.host}:{args.port}",
          flush=True)
    serve_embedded(build(settings), args.host, args.port)


def dev_token(args: argparse.Namespace) -> None:
    from eosc_perf.dev_tokens import LocalIssuer

    settings = _settings(args)
    if not settings.development:
        raise ConfigurationError(
            "dev-token works only in development mode: set EOSC_PERF_ENV=development (the server must run in it too)"
        )
    entitlements = tuple(args.entitlement or ())
    print(LocalIssuer(settings.data_dir).mint(args.sub, args.email, entitlements, args.lifetime))


def history(args: argparse.Namespace) -> None:
    from eosc_perf.history import history_lines
    from eosc_perf.stores import open_event_store

    settings = _settings(args)
    store = open_event_store(settings.event_store, create_tables=False, connection_wait=30)
    lines = list(history_lines(store, args.id))
    if not lines:
        raise ConfigurationError(f"no events for {args.id}")
    print("\n".join(lines))


def init(args: argparse.Namespace) -> None:
    """Creates the event-store tables and migrates the read store; safe to re-run."""
    from projections import read_store
    from projections.migrations import migrate
    from eosc_perf.stores import open_event_store

    settings = _settings(args)
    open_event_store(settings.event_store, create_tables=True, connection_wait=30)
    applied = migrate(read_store.connect(settings.read_store))
    print(f"event store ready; read store migrations applied: {applied or 'none (up to date)'}")


def project(args: argparse.Namespace) -> None:
    """Runs the read-model projector until SIGTERM/SIGINT."""
    import signal
    import threading

    from eosc_perf import production
    from projections.live import follow
    from projections.projector import Projector

    settings = production.settings()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    projector = Projector(production.read_engine(settings, pool_size=2))
    print(f"projecting from event position {projector.position()}", flush=True)
    follow(production.event_store(settings), projector, stop)


def verify(args: argparse.Namespace) -> None:
    """Replays every event into a scratch store and compares it with the live read tables,
    and names the events the consumers parked (the replay parks the read model's too)."""
    from projections import parking, read_store
    from projections.bus import relay
    from projections.migrations import pending
    from projections.replay import REPLAY_BATCH, differences, rebuild, scratch_store
    from projections.sources import EventStoreSource
    from eosc_perf.stores import open_event_store

    settings = _settings(args)
    store = open_event_store(settings.event_store, create_tables=False, connection_wait=30)
    live = read_store.connect(settings.read_store)
    missing = pending(live)
    if missing:  # the comparison would meet tables this code expects but the store lacks
        raise ConfigurationError(f"the read store lacks migrations {missing}: run `eosc-perf init` "
                                 "(or start the service once) before verifying it")
    source = EventStoreSource(store, REPLAY_BATCH)
    head = source.head()

    def progress(count: int) -> None:
        if count % 10_000 < source.batch:
            print(f"  replayed {count} of about {head} events", file=sys.stderr, flush=True)

    with scratch_store(live) as scratch:
        replay = rebuild(source, scratch, progress)
        found = differences(live, scratch)
    print(f"replayed {replay.events} events in {replay.seconds:.2f} s ({replay.events_per_second:,.0f} events/s)")
    with live.connect() as conn:
        parked = [(row.consumer, row.notification_id, row.event_type, row.aggregate_id, row.aggregate_version,
                   row.error) for row in parking.listed(conn)]
    if settings.event_store.startswith("postgres"):
        parked += [("relay", *row) for row in relay.parked_events(settings.event_store)]
    if parked:
        print(f"{len(parked)} events parked (passed over by a consumer that cannot handle them):")
    for consumer, notification_id, event_type, aggregate_id, version, error in parked:
        print(f"  parked by {consumer}: notification {notification_id} ({event_type} of {aggregate_id} v{version}): "
              f"{error}")
    if found:
        for table, (only_live, only_replayed) in sorted(found.items()):
            print(f"  {table}: {only_live} rows only in the live tables, {only_replayed} only in the replay")
        raise SystemExit(1)
    print("read tables equal a fresh replay of the event store"
          + (f"; {len(parked)} events parked (listed above)" if parked else ""))


def _stop_on_signals():
    """An event set by SIGTERM/SIGINT: long-running processes finish their round and exit."""
    import signal
    import threading

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def _bus(settings: Settings):
    from projections.bus.broker import BusSettings

    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python narrates every connection at INFO
    return BusSettings.from_environment(settings.extra)


def relay(args: argparse.Namespace) -> None:
    """Publishes the event log to Kafka until SIGTERM/SIGINT; a second instance stands by."""
    from eosc_perf import production
    from projections.bus.relay import Relay

    settings = production.settings()
    bus = _bus(settings)
    stop = _stop_on_signals()
    print(f"relay: event store -> kafka {bus.bootstrap_servers} topic {bus.topic}", flush=True)
    Relay(production.event_store(settings), settings.event_store_url, bus).run(stop)


def project_from(args: argparse.Namespace) -> None:
    """`project --source store` (the event store, LISTEN/NOTIFY) or `--source kafka` (the topic)."""
    if args.source == "store":
        project(args)
        return
    from eosc_perf import production
    from projections.bus.broker import group_id
    from projections.bus.source import KafkaSource
    from projections.follower import Follower
    from projections.projector import Projector

    settings = production.settings()
    stop = _stop_on_signals()
    projector = Projector(production.read_engine(settings, pool_size=2))
    source = KafkaSource(_bus(settings), group_id(projector.name), stop=stop)
    print(f"projecting from kafka group {source.group}, event position {projector.position()}", flush=True)
    try:
        Follower(source, projector).run(stop, interval=0.0)  # each round waits in Kafka's poll
    finally:
        source.close()


def mailer(args: argparse.Namespace) -> None:
    """Runs the mailer (projections/mail) as its own consumer until SIGTERM/SIGINT."""
    from eosc_perf import production
    from projections.bus.broker import group_id
    from projections.bus.source import KafkaSource
    from projections.mail.mailer import Mailer
    from projections.mail.room import open_mail_room
    from projections.sources import EventStoreSource

    settings = production.settings()
    stop = _stop_on_signals()
    store = production.event_store(settings)
    store_source = EventStoreSource(store)
    if args.source == "kafka":
        source = KafkaSource(_bus(settings), group_id(Mailer.name), head=store_source.head, stop=stop)
    else:
        source = store_source
    room = open_mail_room(settings, production.read_engine(settings, pool_size=2), source)
    if args.source == "kafka":
        room.interval = 0.0  # each round already waits in Kafka's poll
    print(f"mailer: events from {args.source}, mail via {settings.mail_server or 'the log'}", flush=True)
    try:
        room.run(stop)
    finally:
        if isinstance(source, KafkaSource):
            source.close()


def lag(args: argparse.Namespace) -> None:
    """Prints each consumer's position against the head of the event log (and Kafka's offsets)."""
    import json

    from projections import read_store
    from projections.bus.lag import lag_report, lines
    from eosc_perf.stores import open_event_store

    settings = _settings(args)
    bus = _bus(settings) if settings.extra.get("KAFKA_BOOTSTRAP_SERVERS") else None
    report = lag_report(
        open_event_store(settings.event_store, create_tables=False, connection_wait=30),
        settings.event_store,
        read_store.connect(settings.read_store, pool_size=1),
        bus,
    )
    print(json.dumps(report.as_dict()) if args.json else "\n".join(lines(report)))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="eosc-perf", description="EOSC Performance API, event-sourced")
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, function, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(function=function)
        sub.add_argument("--data", help="data folder (default: ./data, or EOSC_PERF_DATA)")
        sub.add_argument("--dev", action="store_true", help="development mode (same as EOSC_PERF_ENV=development)")
        return sub

    run = command("serve", serve, "Run the embedded default: one process, SQLite stores, in-process projections.")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=5000)

    token = command("dev-token", dev_token, "Print a token of the local development issuer (development mode only).")
    token.add_argument("--sub", default="dev-user")
    token.add_argument("--email", default="dev@example.org")
    token.add_argument("--entitlement", action="append", help="eduperson_entitlement value (repeatable)")
    token.add_argument("--lifetime", type=int, default=3600, help="seconds")

    command("init", init, "Create the event-store tables and migrate the read store (run once per deploy).")
    projecting = command("project", project_from, "Run the read-model projector (production).")
    projecting.add_argument("--source", choices=("store", "kafka"), default="store",
                            help="follow the event store (default) or the Kafka topic")
    command("relay", relay, "Publish the event log to Kafka (one active relay; others stand by).")
    mailing = command("mailer", mailer, "Run the mailer: the contract's e-mails from the events (production).")
    mailing.add_argument("--source", choices=("store", "kafka"), default="store",
                         help="read the events from the event store (default) or the Kafka topic")
    lagging = command("lag", lag, "Show each consumer's position against the head of the event log.")
    lagging.add_argument("--json", action="store_true", help="one JSON object instead of a table")

    command("verify", verify, "Replay all events into a scratch store and compare with the live read tables.")

    trail = command("history", history, "Print the event history of any aggregate (item id).")
    trail.add_argument("id", type=UUID)
    return top


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        args.function(args)
    except ConfigurationError as error:
        print(f"eosc-perf: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
