"""Wiring shared by the production processes (gunicorn services, projector, relay, mailer).

They run against PostgreSQL with table creation off: `eosc-perf init` creates the schema
once, because concurrent start-ups creating tables race (eventsourcing-notes §2)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from configuration.settings import Settings
from configuration.stores import open_event_store
from domain.event_store import EventStore
from identity.dev_tokens import LocalIssuer
from identity.tokens import TokenVerifier
from read_model import read_store
from read_model.active_store import ActiveStore


def settings() -> Settings:
    loaded = Settings.from_env(image_check_default=True)
    loaded.check(stores_required=True)
    return loaded


def event_store(loaded: Settings) -> EventStore:
    return open_event_store(loaded.event_store, create_tables=False)


def read_engine(loaded: Settings, *, pool_size: int = 5) -> Engine:
    """The configured read store, whatever store a rebuild switched the read model to: the
    mailer's tables stay there (read_model/active_store.py)."""
    return read_store.connect(loaded.read_store, pool_size=pool_size)


def projector_engine(loaded: Settings, *, pool_size: int = 2, active: ActiveStore | None = None) -> Engine:
    """The read model's projector's engine, in the active read store: its writes run as long as they need."""
    return (active or ActiveStore(loaded.read_store)).connect(pool_size=pool_size)


def serving_engine(loaded: Settings, *, pool_size: int = 5, active: ActiveStore | None = None) -> Engine:
    """An engine of the API services, which only read the read tables (of the active store):
    every statement is bounded by QUERY_TIMEOUT_SECONDS, so no request holds a worker and the
    database longer. No ping per checkout: it was a round trip on every request, to spare the few
    requests that meet a database restart a 503 they may retry; no parallel workers: CPU per
    request counts more than one request's latency (issue 16). Reads only: on PostgreSQL the server
    refuses a write on it, and the statements psycopg prepares stay prepared (read_store.connect)."""
    return (active or ActiveStore(loaded.read_store)).connect(
        pool_size=pool_size, statement_seconds=loaded.query_timeout_seconds, ping=False, parallel=False, reads_only=True
    )


def token_verifier(loaded: Settings) -> TokenVerifier:
    """Development mode also trusts the local dev-token issuer; production never does."""
    local = LocalIssuer(loaded.data_dir) if loaded.development else None
    return TokenVerifier(
        loaded.trusted_op_list,
        client_ids=loaded.oidc_client_ids,
        timeout=loaded.oidc_timeout,
        keys_max_age=loaded.oidc_keys_max_age,
        local_issuer=local,
    )
