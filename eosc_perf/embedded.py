"""The embedded default: one process, SQLite event store and read store in a data folder,
projections in-process. A write answers only after its events are projected."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from configuration.settings import Settings
from configuration.stores import open_event_store
from domain.event_store import EventStore
from eosc_perf.apps import build_command_app, build_query_app
from eosc_perf.production import serving_engine, token_verifier
from eosc_perf.wsgi import behind_proxy, reads_and_writes
from projections.follower import Follower
from projections.mail.room import MailRoom, open_mail_room
from projections.projector import Projector
from projections.rebuild import drop_left_versions
from projections.sources import EventStoreSource
from read_model import active_store, position_feed, read_store
from read_model.active_store import ActiveStore
from read_model.migrations import migrate

log = logging.getLogger(__name__)


@dataclass
class EmbeddedService:
    app: object
    store: EventStore
    projection: Follower
    reads: Engine  # what the API reads the read tables through, each statement bounded
    stop: threading.Event
    mail: MailRoom | None = None

    def close(self) -> None:
        self.stop.set()
        if self.mail is not None:
            self.mail.join()
        self.reads.dispose()


def build(settings: Settings) -> EmbeddedService:
    settings.check()
    store = open_event_store(settings.event_store)
    # The read model lives in the store `eosc-perf rebuild` last switched to; the mailer's tables
    # stay in the configured one (read_model/active_store.py).
    active = ActiveStore(settings.read_store)
    engine = active.connect()
    migrate(engine)
    if drop_left_versions(active):
        log.info("dropped the row versions an earlier rebuild left in the configured read store")
    source = EventStoreSource(store)
    projector = Projector(engine)
    # The projector runs only here: the API is told each position it commits, and asks none.
    read_model_position = position_feed.Counted(projector.position())
    projection = Follower(source, projector, on_applied=read_model_position.advance)
    position = projection.catch_up()  # a new or deleted read store is rebuilt from the events here
    log.info("read model at event position %d", position)
    verifier = token_verifier(settings)
    mail = open_mail_room(settings, read_store.connect(settings.read_store), source)
    # The API's reads get their own connections, each statement bounded in time; the
    # projector's writes keep theirs, unbounded.
    reads = serving_engine(settings, active=active)

    def on_saved(position: int) -> None:
        """Reads see the write at once; its mails go out from the mail thread, never delaying
        or failing the answer."""
        try:
            projection.catch_up()
        finally:
            mail.wake.set()

    commands = build_command_app(
        settings, store, reads, verifier=verifier, on_saved=on_saved, position=read_model_position, one_at_a_time=True
    )
    queries = build_query_app(settings, reads, verifier=verifier, head=source.head, position=read_model_position)
    stop = threading.Event()
    mail.start(stop)
    threading.Thread(
        target=_watch_pointer, args=(active, projection, stop), name="read-store-pointer", daemon=True
    ).start()
    return EmbeddedService(behind_proxy(reads_and_writes(queries, commands)), store, projection, reads, stop, mail)


POINTER_WATCH_SECONDS = 0.05  # how soon reads move to a store `eosc-perf rebuild` switched to


def _watch_pointer(active: ActiveStore, projection: Follower, stop: threading.Event) -> None:
    """Moves this process to the store the pointer names once a rebuild has switched it: the
    projector (between two batches) and the reads, told the new store's position. One look at
    the pointer file each time, not per request: requests only compare the location. A
    pointer that names another store is followed once the served store is marked retired: the
    switch's transaction has committed then (the rebuild writes the file just before)."""
    while not stop.wait(POINTER_WATCH_SECONDS):
        try:
            if active.pointed() != active.location and _retired(projection.consumer.engine):
                projection.follow_pointer(active)
        except Exception:  # a half-written store folder; the next look tries again
            log.exception("following the read store pointer failed")


def _retired(engine: Engine) -> bool:
    with engine.connect() as conn:
        return active_store.is_retired(conn)
