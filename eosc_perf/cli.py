"""The `eosc-perf` command: run the service and operate it."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from uuid import UUID

from configuration.settings import ConfigurationError, Settings


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
    from identity.dev_tokens import LocalIssuer

    settings = _settings(args)
    if not settings.development:
        raise ConfigurationError(
            "dev-token works only in development mode: set EOSC_PERF_ENV=development (the server must run in it too)"
        )
    entitlements = tuple(args.entitlement or ())
    print(LocalIssuer(settings.data_dir).mint(args.sub, args.email, entitlements, args.lifetime))


def history(args: argparse.Namespace) -> None:
    from configuration.stores import open_event_store
    from eosc_perf.history import history_lines

    settings = _settings(args)
    store = open_event_store(settings.event_store, create_tables=False, connection_wait=30)
    lines = list(history_lines(store, args.id))
    if not lines:
        raise ConfigurationError(f"no events for {args.id}")
    print("\n".join(lines))


def init(args: argparse.Namespace) -> None:
    """Creates the event-store tables and migrates the read store; safe to re-run."""
    from configuration.stores import open_event_store
    from read_model import read_store
    from read_model.migrations import migrate

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
    from configuration.stores import open_event_store
    from projections import parking
    from projections.bus import relay
    from projections.replay import REPLAY_BATCH, differences, rebuild, scratch_store
    from projections.sources import EventStoreSource
    from read_model import read_store
    from read_model.migrations import pending

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


def import_legacy(args: argparse.Namespace) -> None:
    """Imports a database of the original backend into the event store, then (embedded default)
    projects it; in production the running projector folds the new events."""
    import getpass
    import socket

    import psycopg
    from eventsourcing.persistence import PersistenceError

    from configuration.stores import open_event_store
    from legacy_import.importer import Importer, LegacyImportError
    from legacy_import.source import LegacySource, LegacySourceError

    settings = _settings(args)
    try:
        with LegacySource(args.url) as source:
            store = None if args.dry_run else open_event_store(settings.event_store, connection_wait=30)
            print(f"importing {source.name} (Alembic revision {source.revision}) into "
                  f"{'nothing: dry run' if store is None else settings.event_store.split('@')[-1]}", flush=True)
            outcome = Importer(source, store, f"{getpass.getuser()}@{socket.gethostname()}", workers=args.workers).run()
    except (LegacySourceError, LegacyImportError) as error:
        raise ConfigurationError(str(error)) from None
    except (psycopg.Error, PersistenceError) as error:  # a lost connection, a full disk, ...
        raise ConfigurationError(f"the import stopped: {error}. The batches it wrote are kept: run the same "
                                 "command again to continue after them.") from None
    if outcome.state == "already imported":
        record = outcome.record
        print(f"already imported from {record.source} by {record.operator}, completed "
              f"{record.modified_on:%Y-%m-%d %H:%M:%S} UTC: nothing to do")
        return
    if args.report:
        Path(args.report).write_text(outcome.findings.as_json())
    rows = ", ".join(f"{count:,} {table}s" for table, count in outcome.rows.items())
    verb = "would write" if outcome.state == "dry run" else "wrote"
    print(f"{outcome.state}: {rows}; {verb} {outcome.events:,} events in {outcome.seconds:.1f} s "
          f"({outcome.rows_per_second:,.0f} rows/s)")
    found = list(outcome.findings.lines())
    print(f"findings: {len(outcome.findings.found)}" + ("" if found else " (none)"))
    for line in found:
        print(line)
    if outcome.state == "imported":
        print(f"the import's own history: eosc-perf history {outcome.record.id}")
        _project_imported(settings, store, outcome.position)


def _project_imported(settings: Settings, store, position: int) -> None:
    """Embedded default: the read tables follow now (as the next `serve` would); production:
    the projector follows the event store and folds the new events by itself."""
    if settings.event_store_url:
        print(f"the projector (eosc-perf project) folds the new events; the read model has them all when it "
              f"reaches event position {position} (eosc-perf lag)")
        return
    from projections.follower import Follower
    from projections.projector import Projector
    from projections.sources import EventStoreSource
    from read_model import read_store
    from read_model.migrations import migrate

    engine = read_store.connect(settings.read_store)
    migrate(engine)
    print(f"projecting into {settings.read_store} ...", flush=True)
    print(f"read model at event position {Follower(EventStoreSource(store), Projector(engine)).catch_up()}")


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

    from configuration.stores import open_event_store
    from projections.bus.lag import lag_report, lines
    from read_model import read_store

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
    from legacy_import.workers import default_workers

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

    importing = command("import-legacy", import_legacy,
                        "Import a database of the original EOSC Performance backend (read only) into the event store.")
    importing.add_argument("url", help="the legacy database: postgresql://USER:PASSWORD@HOST:PORT/DB")
    importing.add_argument("--dry-run", action="store_true", help="read and translate everything, write nothing")
    importing.add_argument("--report", help="also write the findings to this file as JSON")
    importing.add_argument("--workers", type=int, default=default_workers(),
                           help="processes that translate results (default: one per CPU; 0: none besides this one)")

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
