"""The `eosc-perf` command: run the service and operate it."""

from __future__ import annotations

import argparse
import itertools
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
    from eosc_perf.server import serve_embedded, thread_count

    settings = _settings(args)
    settings.check()  # refuse unsafe settings with a message, before anything opens
    root = f"http://{args.host}:{args.port}"
    banner = (
        f"EOSC Performance API ({settings.mode} mode, data in {settings.data_dir}) on {root}\n"
        f"  Swagger UI: {root}/   OpenAPI document: {root}/api-spec.json"
        + ("\n  tokens: eosc-perf dev-token --help" if settings.development else "")
    )
    threads = thread_count(settings.read_waiters, settings.event_streams)
    serve_embedded(build(settings), args.host, args.port, threads, banner=banner)


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
    from eosc_perf.history import history_documents, history_lines

    settings = _settings(args)
    store = open_event_store(settings.event_store, create_tables=False, connection_wait=30)
    lines = list((history_documents if args.json else history_lines)(store, args.id))
    if not lines:
        raise ConfigurationError(f"no events for {args.id}")
    print("\n".join(lines))


def show(args: argparse.Namespace) -> None:
    """Answers one GET of the API from the read store, as the query service would over HTTP."""
    from io import BytesIO
    from urllib.parse import urlencode
    from wsgiref.util import setup_testing_defaults

    from eosc_perf import production
    from eosc_perf.apps import build_query_app

    settings = _settings(args)
    engine = production.serving_engine(settings, pool_size=1)
    path, _, query = args.path.partition("?")
    if args.as_of is not None:  # the query service's own argument (query_service/as_of.py)
        query = "&".join(part for part in (query, urlencode({"as_of": args.as_of})) if part)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": BytesIO()}
    if args.token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {args.token}"
    setup_testing_defaults(environ)
    answer: dict = {}

    def start_response(status: str, headers: list, exc_info=None) -> None:
        answer["status"] = status

    body = b"".join(build_query_app(settings, engine)(environ, start_response))
    engine.dispose()
    sys.stdout.write(body.decode() + "\n")
    if not answer["status"].startswith("2"):
        print(f"eosc-perf: GET {args.path} answered {answer['status']}", file=sys.stderr)
        raise SystemExit(1)


def init(args: argparse.Namespace) -> None:
    """Creates the event-store tables and migrates the read store; safe to re-run."""
    from configuration.stores import open_event_store
    from log_transfer.audit import first_unlinked
    from projections.rebuild import drop_left_versions
    from read_model.active_store import ActiveStore
    from read_model.migrations import migrate

    settings = _settings(args)
    store = open_event_store(settings.event_store, create_tables=True, connection_wait=30)
    active = ActiveStore(settings.read_store)
    applied = migrate(active.connect())  # a rebuilt store, once switched to
    print(f"event store ready; read store migrations applied: {applied or 'none (up to date)'}")
    if drop_left_versions(active):
        print("dropped the row versions an earlier rebuild left in the configured read store")
    unlinked = first_unlinked(store)
    if unlinked is not None:  # a store from before the hash chain
        print(f"events from position {unlinked} on have no chain link yet: run eosc-perf audit link once")


def check_config(args: argparse.Namespace) -> None:
    """Reads the environment as the production services will, and refuses what they would."""
    from eosc_perf import production

    settings = production.settings()
    print(
        f"configuration accepted: {settings.mode} mode, event store {_shown(settings.event_store)}, "
        f"read store {_shown(settings.read_store)}"
    )


def _serve_metrics(args: argparse.Namespace, settings: Settings, consumer, store) -> None:
    """GET /metrics of a long-running consumer on 127.0.0.1 (--metrics-port, else METRICS_PORT;
    none when 0): its counters, and its position and lag against the head of `store`."""
    from observability import exposition
    from observability.metrics import Positions
    from projections.sources import EventStoreSource

    port = settings.metrics_port if args.metrics_port is None else args.metrics_port
    if not port:
        return
    if not 0 < port < 65536:
        raise ConfigurationError(f"the metrics port must be 1..65535 (0: off), not {port}")
    try:
        exposition.serve(port, [Positions({consumer.name: consumer.position}, EventStoreSource(store).head)])
    except OSError as error:
        raise ConfigurationError(
            f"cannot serve metrics on 127.0.0.1:{port}: {error.strerror}; "
            "choose another port with --metrics-port or METRICS_PORT"
        ) from error
    print(f"metrics on http://127.0.0.1:{port}/metrics", flush=True)


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
    projector = Projector(production.projector_engine(settings))
    store = production.event_store(settings)
    _serve_metrics(args, settings, projector, store)
    print(f"projecting from event position {projector.position()}", flush=True)
    follow(store, projector, stop, linger=settings.projector_linger_ms / 1000)


SHOWN_ROWS = 20  # differing rows `verify` names per table


def verify(args: argparse.Namespace) -> None:
    """Replays every event into a scratch store and compares it with the live read tables,
    and names the events the consumers parked (the replay parks the read model's too)."""
    from configuration.stores import open_event_store
    from projections.replay import (
        REPLAY_BATCH,
        compare,
        compared_tables,
        differing_rows,
        rebuild,
        scratch_store,
        snapshot,
    )
    from projections.sources import EventStoreSource
    from read_model.active_store import ActiveStore
    from read_model.migrations import pending

    settings = _settings(args)
    store = open_event_store(settings.event_store, create_tables=False, connection_wait=30)
    live = ActiveStore(settings.read_store).connect()
    missing = pending(live)
    if missing:  # the comparison would meet tables this code expects but the store lacks
        raise ConfigurationError(
            f"the read store lacks migrations {missing}: run `eosc-perf init` "
            "(or start the service once) before verifying it"
        )
    source = EventStoreSource(store, REPLAY_BATCH)
    # The live tables as they are at one event position, held there (one read transaction) while
    # the replay runs and the two are compared: a projector that moves on meanwhile changes
    # nothing compared. The tables are compared in key order, a table at a time, not held.
    with snapshot(live) as pinned:
        print(
            f"verifying the read store {_shown(settings.read_store)} against the event store "
            f"{_shown(settings.event_store)} at event position {pinned.position}",
            flush=True,
        )

        def progress(count: int) -> None:
            if count % 10_000 < source.batch:
                print(f"  replayed {count} of about {pinned.position} events", file=sys.stderr, flush=True)

        with scratch_store(live) as scratch:
            replay = rebuild(source, scratch, progress, stop=pinned.position)
            print(
                f"replayed {replay.events} events up to event position {pinned.position} (the live read model's; "
                f"the log's head: {source.head()}) in {replay.seconds:.2f} s ({replay.events_per_second:,.0f} events/s)"
            )
            parked = _parked_events(settings, live)
            unpublished = frozenset(notification_id for consumer, notification_id, *_ in parked if consumer == "relay")
            with snapshot(scratch) as replayed:
                found = compare(pinned, replayed, unpublished)
                if parked:
                    print(f"{len(parked)} events parked (passed over by a consumer that cannot handle them):")
                for consumer, notification_id, event_type, aggregate_id, version, error in parked:
                    print(
                        f"  parked by {consumer}: notification {notification_id} ({event_type} of {aggregate_id} "
                        f"v{version}): {error}"
                    )
                for table, (only_live, only_replayed) in sorted(found.items()):
                    print(f"  {table}: {only_live} rows only in the live tables, {only_replayed} only in the replay")
                    if table in compared_tables():
                        rows = differing_rows(pinned, replayed, table, unpublished)
                        for number, line in enumerate(itertools.islice(rows, SHOWN_ROWS + 1)):
                            print(f"    {line}" if number < SHOWN_ROWS else f"    ... (the first {SHOWN_ROWS} shown)")
                        rows.close()  # its cursors, within the snapshots' transactions
    if found:
        raise SystemExit(1)
    print(
        "read tables equal a fresh replay of the event store"
        + (f"; {len(parked)} events parked (listed above)" if parked else "")
    )


def _parked_events(settings: Settings, live) -> list[tuple]:
    """The events every consumer parked. The read model's are in its store; the mailer's stay in
    the configured one when a rebuild moved the read model (read_model/active_store.py)."""
    from projections import parking
    from read_model import READ_MODEL, read_store

    configured = read_store.connect(settings.read_store, pool_size=1)
    parked = []
    for engine, read_model_only in ((configured, False), (live, True)):
        with engine.connect() as conn:
            parked += [
                (row.consumer, row.notification_id, row.event_type, row.aggregate_id, row.aggregate_version, row.error)
                for row in parking.listed(conn)
                if (row.consumer == READ_MODEL) == read_model_only
            ]
    configured.dispose()
    return parked + [("relay", *row) for row in _relay_parked(settings)]


def _relay_parked(settings: Settings) -> list[tuple]:
    """The events the Kafka relay parked (none without PostgreSQL): a read model fed by Kafka
    lacks them, a replay from the event store has them."""
    if not settings.event_store.startswith("postgres"):
        return []
    from projections.bus import relay

    return relay.parked_events(settings.event_store)


def rebuild(args: argparse.Namespace) -> None:
    """Builds a new read store from the event log while the old one serves, checks it, switches
    the services to it, and drops the old one after a grace period (projections/rebuild.py)."""
    from configuration.stores import open_event_store
    from log_transfer.transfer import Progress
    from projections.rebuild import RebuildRefused, SwitchedMeanwhile, build_and_switch, drop_after
    from projections.replay import REPLAY_BATCH
    from projections.sources import EventStoreSource
    from read_model.active_store import ActiveStore
    from read_model.migrations import pending

    if args.grace < 0:
        raise ConfigurationError(f"--grace takes seconds (0 or more), not {args.grace}")
    settings = _settings(args)
    store = open_event_store(settings.event_store, create_tables=False, connection_wait=30)
    active = ActiveStore(settings.read_store)
    old = active.location
    engine = active.connect()
    missing = pending(engine)
    engine.dispose()
    active.close()
    if missing:  # the live store would be compared with tables it lacks
        raise ConfigurationError(f"the read store lacks migrations {missing}: run `eosc-perf init` first")
    print(
        f"rebuilding the read store {_shown(settings.read_store)} ({old or 'the configured store'}) from the "
        f"event store {_shown(settings.event_store)}",
        flush=True,
    )
    shown = Progress("replayed", None)
    try:
        done = build_and_switch(
            settings.read_store,
            EventStoreSource(store, REPLAY_BATCH),
            lambda count, total: shown(count, total=total),
            lambda: {row[0] for row in _relay_parked(settings)},
        )
    except SwitchedMeanwhile:
        print("another rebuild switched the read store meanwhile: nothing switched; run it again if needed")
        raise SystemExit(1) from None
    except RebuildRefused as refused:
        for table, (only_live, only_rebuilt) in sorted(refused.differences.items()):
            print(f"  {table}: {only_live} rows only in the live tables, {only_rebuilt} only in the rebuild")
        print("the rebuilt store differs from the live one (eosc-perf verify names the rows): nothing switched")
        raise SystemExit(1) from None
    shown(done.events, final=True)
    print(
        f"switched to {done.location} at event position {done.position}: {done.events:,} events in "
        f"{done.seconds:.1f} s ({done.events_per_second:,.0f} events/s, {done.cpu_seconds:.1f} s CPU); "
        f"the projector's lock held {done.switch_seconds * 1000:.0f} ms",
        flush=True,
    )
    if args.keep:
        print(f"the old store is kept: {old or 'the configured store'}")
        return
    print(f"dropping the old store in {args.grace:g} s ...", flush=True)
    drop_after(settings.read_store, old, args.grace)
    print(f"dropped the old store ({old or 'the read tables of the configured store'})")


def _shown(url: str) -> str:
    """A store's URL as an operator may see it printed: without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


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
            print(
                f"importing {source.name} (Alembic revision {source.revision}) into "
                f"{'nothing: dry run' if store is None else settings.event_store.split('@')[-1]}",
                flush=True,
            )
            outcome = Importer(source, store, f"{getpass.getuser()}@{socket.gethostname()}", workers=args.workers).run()
    except (LegacySourceError, LegacyImportError) as error:
        raise ConfigurationError(str(error)) from None
    except (psycopg.Error, PersistenceError) as error:  # a lost connection, a full disk, ...
        raise ConfigurationError(
            f"the import stopped: {error}. The batches it wrote are kept: run the same "
            "command again to continue after them."
        ) from None
    if outcome.state == "already imported":
        record = outcome.record
        print(
            f"already imported from {record.source} by {record.operator}, completed "
            f"{record.modified_on:%Y-%m-%d %H:%M:%S} UTC: nothing to do"
        )
        return
    if args.report:
        Path(args.report).write_text(outcome.findings.as_json())
    rows = ", ".join(f"{count:,} {table}s" for table, count in outcome.rows.items())
    verb = "would write" if outcome.state == "dry run" else "wrote"
    print(
        f"{outcome.state}: {rows}; {verb} {outcome.events:,} events in {outcome.seconds:.1f} s "
        f"({outcome.rows_per_second:,.0f} rows/s)"
    )
    found = list(outcome.findings.lines())
    print(f"findings: {len(outcome.findings.found)}" + ("" if found else " (none)"))
    for line in found:
        print(line)
    if outcome.state == "imported":
        print(f"the import's own history: eosc-perf history {outcome.record.id}")
        _project_imported(settings, store, outcome.position)


def export_log(args: argparse.Namespace) -> None:
    """Writes the event log (after --since) to a file of JSON lines, or to stdout for `-`."""
    from configuration.stores import open_event_store
    from log_transfer.transfer import export

    if args.since < 0:
        raise ConfigurationError(f"--since takes an event position (0 or more), not {args.since}")
    settings = _settings(args)
    store = open_event_store(settings.event_store, create_tables=False, connection_wait=30)
    if args.file == "-":
        moved = export(store, sys.stdout.buffer, args.since)
    else:
        with open(args.file, "wb") as out:
            moved = export(store, out, args.since)
    print(
        f"exported {moved.events:,} events up to position {moved.position} in {moved.seconds:.1f} s "
        f"({moved.events_per_second:,.0f} events/s)",
        file=sys.stderr,
    )


def import_log(args: argparse.Namespace) -> None:
    """Loads an export into an empty event store, then builds the read model from it."""
    import psycopg
    from eventsourcing.persistence import PersistenceError

    from configuration.stores import open_event_store
    from log_transfer.file_format import ExportFileError
    from log_transfer.transfer import ImportRefused, import_file
    from projections.projector import Projector
    from read_model.active_store import ActiveStore
    from read_model.migrations import migrate

    settings = _settings(args)
    engine = ActiveStore(settings.read_store).connect()
    migrate(engine)
    store = open_event_store(settings.event_store, connection_wait=30)
    folded = Projector(engine).position()
    if folded > (store.recorder.max_notification_id() or 0):  # it would pass over the imported events
        raise ConfigurationError(
            f"the read store holds a read model up to event position {folded}, beyond the "
            "event store's: give an empty read store; nothing was written"
        )
    try:
        moved = import_file(store, Path(args.file), resume=args.resume)
    except (ExportFileError, ImportRefused) as error:
        raise ConfigurationError(f"{args.file}: {error}") from None
    except (psycopg.Error, PersistenceError) as error:  # a lost connection, a full disk, ...
        raise ConfigurationError(
            f"the import stopped: {error}. The batches it wrote are kept: run the same command "
            "with --resume to continue after them."
        ) from None
    print(
        f"imported {moved.events:,} events in {moved.seconds:.1f} s ({moved.events_per_second:,.0f} events/s); "
        f"event store at position {moved.position}"
    )
    _project_imported(settings, store, moved.position)


def seal_personal_data(args: argparse.Namespace) -> None:
    """Copies the event log into a new, empty event store with its personal data sealed."""
    from configuration.stores import open_event_store
    from log_transfer import audit as chain
    from log_transfer.sealing import SealingRefused, seal_copy

    source = open_event_store(_settings(args).event_store, create_tables=False, connection_wait=30)
    target = open_event_store(args.into, connection_wait=30)
    try:
        moved = seal_copy(source, target)
    except SealingRefused as error:
        raise ConfigurationError(f"{args.into}: {error}") from None
    position, link = chain.head(target)
    print(
        f"sealed {moved.events:,} events in {moved.seconds:.1f} s ({moved.events_per_second:,.0f} events/s) "
        f"into {args.into}\nnew chain head: {position} {link.hex()}"
    )


def audit(args: argparse.Namespace) -> None:
    """The event log's hash chain: verify it, print its head, or link a store's old events."""
    from configuration.stores import open_event_store
    from log_transfer import audit as chain
    from log_transfer.transfer import Progress

    store = open_event_store(_settings(args).event_store, create_tables=False, connection_wait=30)
    if args.action == "head":
        position, link = chain.head(store)
        print(f"{position} {link.hex()}")
    elif args.action == "link":
        done = chain.link_old_events(store, Progress("linked", None))
        print(f"linked {done:,} events" if done else "every event has its link: nothing to do")
    else:
        verdict = chain.verify(store, Progress("checked", None))
        if verdict.problem:
            raise ConfigurationError(f"the event log changed: {verdict.problem}")
        print(
            f"the chain holds: {verdict.events:,} events in {verdict.seconds:.1f} s "
            f"({verdict.events_per_second:,.0f} events/s); head {verdict.head} {verdict.head_link.hex()}"
        )


def _project_imported(settings: Settings, store, position: int) -> None:
    """Embedded default: the read tables follow now (as the next `serve` would); production:
    the projector follows the event store and folds the new events by itself."""
    if settings.event_store_url:
        print(
            f"the projector (eosc-perf project) folds the new events; the read model has them all when it "
            f"reaches event position {position} (eosc-perf lag)"
        )
        return
    from projections.follower import Follower
    from projections.projector import Projector
    from projections.sources import EventStoreSource
    from read_model.active_store import ActiveStore
    from read_model.migrations import migrate

    engine = ActiveStore(settings.read_store).connect()
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
    projector = Projector(production.projector_engine(settings))
    store = production.event_store(settings)
    _serve_metrics(args, settings, projector, store)
    source = KafkaSource(_bus(settings), group_id(projector.name), store.mapper.keyring, stop=stop)
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
        source = KafkaSource(
            _bus(settings), group_id(Mailer.name), store.mapper.keyring, head=store_source.head, stop=stop
        )
    else:
        source = store_source
    room = open_mail_room(settings, production.read_engine(settings, pool_size=2), source)
    _serve_metrics(args, settings, room.follower.consumer, store)
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
    from read_model.active_store import ActiveStore

    settings = _settings(args)
    bus = _bus(settings) if settings.extra.get("KAFKA_BOOTSTRAP_SERVERS") else None
    report = lag_report(
        open_event_store(settings.event_store, create_tables=False, connection_wait=30),
        settings.event_store,
        read_store.connect(settings.read_store, pool_size=1),
        bus,
        ActiveStore(settings.read_store).connect(pool_size=1),
    )
    print(json.dumps(report.as_dict()) if args.json else "\n".join(lines(report)))


METRICS_PORT_HELP = "serve GET /metrics on 127.0.0.1 at this port (default: METRICS_PORT; 0 or unset: off)"


class _WithDefaults(argparse.HelpFormatter):
    """Ends an option's help with its default, when it has one worth saying (not None or off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, argparse.SUPPRESS) or "%(default)" in (action.help or ""):
            return action.help or ""
        return f"{action.help} (default: %(default)s)"


def parser() -> argparse.ArgumentParser:
    from legacy_import.workers import default_workers

    top = argparse.ArgumentParser(prog="eosc-perf", description="EOSC Performance API, event-sourced")
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, function, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, formatter_class=_WithDefaults)
        sub.set_defaults(function=function)
        sub.add_argument("--data", help="data folder of the embedded default (EOSC_PERF_DATA, else ./data)")
        sub.add_argument("--dev", action="store_true", help="development mode (same as EOSC_PERF_ENV=development)")
        return sub

    run = command("serve", serve, "Run the embedded default: one process, SQLite stores, in-process projections.")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on")
    run.add_argument("--port", type=int, default=5000, help="port to listen on")

    token = command("dev-token", dev_token, "Print a token of the local development issuer (development mode only).")
    token.add_argument("--sub", default="dev-user", help="the token's subject: who you are to the service")
    token.add_argument("--email", default="dev@example.org", help="the token's verified e-mail address")
    token.add_argument(
        "--entitlement",
        action="append",
        help="eduperson_entitlement value (repeatable; one of ADMIN_ENTITLEMENTS makes an admin)",
    )
    token.add_argument("--lifetime", type=int, default=3600, help="seconds until the token expires")

    command("init", init, "Create the event-store tables and migrate the read store (run once per deploy).")
    command(
        "check-config",
        check_config,
        "Check the environment's configuration as the production services read it, and exit (2: refused).",
    )
    projecting = command("project", project_from, "Run the read-model projector (production).")
    projecting.add_argument(
        "--source", choices=("store", "kafka"), default="store", help="follow the event store or the Kafka topic"
    )
    projecting.add_argument("--metrics-port", type=int, help=METRICS_PORT_HELP)
    command("relay", relay, "Publish the event log to Kafka (one active relay; others stand by).")
    mailing = command("mailer", mailer, "Run the mailer: the contract's e-mails from the events (production).")
    mailing.add_argument(
        "--source",
        choices=("store", "kafka"),
        default="store",
        help="read the events from the event store or the Kafka topic",
    )
    mailing.add_argument("--metrics-port", type=int, help=METRICS_PORT_HELP)
    lagging = command("lag", lag, "Show each consumer's position against the head of the event log.")
    lagging.add_argument("--json", action="store_true", help="one JSON object instead of a table")

    command("verify", verify, "Replay all events into a scratch store and compare with the live read tables.")
    rebuilding = command(
        "rebuild",
        rebuild,
        "Build a new read store from the event log while the old one serves, check it, and switch to it.",
    )
    rebuilding.add_argument("--keep", action="store_true", help="keep the old store after the switch")
    rebuilding.add_argument(
        "--grace",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long the old store stays for requests still running in it before it is dropped",
    )
    chain = command("audit", audit, "The event log's hash chain (tamper evidence): verify it, print its head.")
    chain.add_argument(
        "action",
        choices=("verify", "head", "link"),
        help="verify: recompute every link and name the first changed event (exit 2); head: print the last "
        "event position and its link, to publish elsewhere; link: give events without a link theirs "
        "(a store from before the chain)",
    )

    importing = command(
        "import-legacy",
        import_legacy,
        "Import a database of the original EOSC Performance backend (read only) into the event store.",
    )
    importing.add_argument("url", help="the legacy database: postgresql://USER:PASSWORD@HOST:PORT/DB")
    importing.add_argument("--dry-run", action="store_true", help="read and translate everything, write nothing")
    importing.add_argument("--report", help="also write the findings to this file as JSON")
    importing.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="processes that translate results (one per CPU; 0: none besides this one)",
    )

    exporting = command("export", export_log, "Write the event log to a file of JSON lines (a backup, or a move).")
    exporting.add_argument("file", help="the file to write, - for stdout")
    exporting.add_argument(
        "--since", type=int, default=0, metavar="POSITION", help="only the events after this event position"
    )
    loading = command("import", import_log, "Load an exported event log into an empty event store, then project it.")
    loading.add_argument("file", help="a file written by eosc-perf export")
    loading.add_argument(
        "--resume", action="store_true", help="continue an interrupted import of this file after the events it wrote"
    )

    sealing = command(
        "seal-personal-data",
        seal_personal_data,
        "Copy an event log stored before crypto-shredding into a new, empty event store, sealing its "
        "e-mail addresses (once per store; prints the new chain head).",
    )
    sealing.add_argument("--into", required=True, help="the new event store: sqlite:///PATH or postgresql://...")

    trail = command("history", history, "Print the event history of any aggregate (item id).")
    trail.add_argument("id", type=UUID, help="id of a benchmark, site, flavor, tag, result, claim or user")
    trail.add_argument("--json", action="store_true", help="one JSON object per event, values as the API writes them")
    showing = command("show", show, "Answer one GET of the API from the read store, e.g. /results/ID/history.")
    showing.add_argument("path", help="the path with its query, as after the API's base URL: '/events?after=10'")
    showing.add_argument("--token", help="a bearer token, for what is not public (eosc-perf dev-token in development)")
    showing.add_argument(
        "--as-of",
        metavar="POSITION|TIME",
        help="answer as the read model was at this event position, or at this time (ISO 8601 with offset)",
    )
    return top


def main(argv: list[str] | None = None) -> int:
    from observability import logs

    args = parser().parse_args(argv)
    try:
        # JSON lines in production, plain text in development (the mode as the command reads it)
        logs.configure(development=_settings(args).development)
        args.function(args)
    except ConfigurationError as error:
        print(f"eosc-perf: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
