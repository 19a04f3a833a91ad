"""The embedded default: one process, SQLite event store and read store in a data folder,
projections in-process. A write answers only after its events are projected."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from domain.event_store import EventStore
from eosc_perf.dev_tokens import LocalIssuer
from eosc_perf.identity import TokenVerifier
from eosc_perf.settings import Settings
from eosc_perf.stores import open_event_store
from eosc_perf.wsgi import behind_proxy, reads_and_writes
from projections import read_store
from projections.follower import Follower
from projections.lookups import user_finder
from projections.projector import Projector
from projections.sources import EventStoreSource
import command_service.app
import query_service.app

log = logging.getLogger(__name__)


def token_verifier(settings: Settings) -> TokenVerifier:
    """Development mode also trusts the local dev-token issuer; production never does."""
    local = LocalIssuer(settings.data_dir) if settings.development else None
    return TokenVerifier(settings.trusted_op_list, timeout=settings.oidc_timeout, local_issuer=local)


@dataclass
class EmbeddedService:
    app: object
    store: EventStore
    projection: Follower
    stop: threading.Event

    def close(self) -> None:
        self.stop.set()


def build(settings: Settings) -> EmbeddedService:
    settings.check()
    store = open_event_store(settings.event_store)
    engine = read_store.connect(settings.read_store)
    read_store.create_tables(engine)
    source = EventStoreSource(store)
    projection = Follower(source, Projector(engine))
    position = projection.catch_up()  # a new or deleted read store is rebuilt from the events here
    log.info("read model at event position %d", position)
    verifier = token_verifier(settings)
    commands = command_service.app.create_app(
        settings, store, verifier, find_users=user_finder(engine), on_saved=projection.catch_up
    )
    queries = query_service.app.create_app(settings, engine, verifier)
    stop = threading.Event()
    return EmbeddedService(behind_proxy(reads_and_writes(queries, commands)), store, projection, stop)
