"""One builder per API service: the deployments' entry points (embedded.py, command_wsgi.py,
query_wsgi.py) and the tests wire the services through these, and nothing else does."""

from __future__ import annotations

from typing import Callable

from sqlalchemy.engine import Engine

import command_service.app
import query_service.app
from command_service.adapters.user_directory import ReadModelUserDirectory
from command_service.services.aggregate_cache import AggregateCache
from configuration.settings import Settings
from domain.event_store import EventStore
from eosc_perf.production import token_verifier
from identity.tokens import TokenVerifier
from projections.sources import EventStoreSource

# Both apps are WSGI callables: falcon's, wrapped by observability.http_layer (/metrics, request logs).
WsgiApp = Callable[[dict, Callable], object]


def build_command_app(
    settings: Settings,
    store: EventStore,
    engine: Engine,
    *,
    verifier: TokenVerifier | None = None,
    on_saved: Callable[[int], None] = lambda position: None,
    position: Callable[[], int] | None = None,
    one_at_a_time: bool = False,
) -> WsgiApp:
    """`engine`: the read tables, which the command side reads only to find users and claims (a
    serving engine: its statements are bounded). `verifier` defaults to the settings' own;
    `on_saved` is called with the position of every saved write; `position`: the read model's,
    when this process commits it (read_model/position_feed.py); `one_at_a_time`: one command at a
    time in this process (the embedded default: command_service/services/session.py, Commands)."""
    directory = ReadModelUserDirectory(engine, EventStoreSource(store).head, settings.read_wait_seconds, position)
    return command_service.app.create_app(
        settings,
        store,
        verifier or token_verifier(settings),
        directory=directory,
        on_saved=on_saved,
        cache=AggregateCache(store.recorder.latest_events),
        one_at_a_time=one_at_a_time,
    )


def build_query_app(
    settings: Settings,
    engine: Engine,
    *,
    verifier: TokenVerifier | None = None,
    head: Callable[[], int] | None = None,
    position: Callable[[], int] | None = None,
) -> WsgiApp:
    """`engine`: the read tables the answers come from (a serving engine); `head`: the event
    log's newest position, for the read model's lag in /metrics; `position`: the read model's
    position, when this process commits it (read_model/position_feed.py)."""
    return query_service.app.create_app(
        settings, engine, verifier or token_verifier(settings), head=head, position=position
    )
