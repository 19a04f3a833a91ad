"""The API tests' view of a deployment: its settings, a client with tokens for each class of
caller, and the deployments the API tests run against."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import falcon.testing
from sqlalchemy import event

from configuration.settings import Settings
from eosc_perf.embedded import EmbeddedService
from projections.replay import differences, rebuild, scratch_store
from projections.sources import EventStoreSource
from tests.support.oidc_provider import LocalOpenIDProvider
from tests.support.production_stack import HttpClient

ADMIN_ENTITLEMENT = "urn:mace:egi.eu:group:eosc-perf:role=admin"
# The services under test accept only tokens issued for this client (OIDC_CLIENT_IDS), and the
# provider of the API tests mints its tokens for it unless a test says otherwise.
CLIENT_ID = "eosc-perf-tests"
# The suite's callers write far faster than people do (hundreds of writes a minute by one user):
# the write rate limit is off here, and its own tests (test_rate_limit.py) set one.
NO_WRITE_LIMIT = 0
# The local provider answers from a thread of a busy test process; a loaded CI machine has made
# its discovery document take longer than the production default of 1.2 s.
PROVIDER_TIMEOUT = 15.0
# The API tests run against each deployment: the embedded default (in-process, SQLite) and the
# production topology (PostgreSQL, gunicorn services, projector, nginx) over real HTTP.
BACKENDS = os.environ.get("EOSC_PERF_TEST_BACKENDS", "embedded,postgres").split(",")


# A test reads an event stream whole: it ends this soon (production: 30 s).
EVENT_STREAM_SECONDS = 2.0


def service_settings(data_dir: Path, provider: LocalOpenIDProvider, **overrides) -> Settings:
    return Settings.from_env(
        {},
        mode="production",
        data_dir=data_dir,
        trusted_op_list=(provider.issuer,),
        oidc_client_ids=(CLIENT_ID,),
        admin_entitlements=(ADMIN_ENTITLEMENT,),
        **{
            "write_rate_per_minute": NO_WRITE_LIMIT,
            "oidc_timeout": PROVIDER_TIMEOUT,
            "event_stream_seconds": EVENT_STREAM_SECONDS,
            **overrides,
        },
    )


def stack_environment(identity_provider: LocalOpenIDProvider) -> dict[str, str]:
    """The API tests' configuration of a production stack."""
    return {
        "EOSC_PERF_ENV": "production",
        "TRUSTED_OP_LIST": identity_provider.issuer,
        "OIDC_CLIENT_IDS": CLIENT_ID,
        "WRITE_RATE_PER_MINUTE": str(NO_WRITE_LIMIT),
        "OIDC_TIMEOUT": str(PROVIDER_TIMEOUT),
        "ADMIN_ENTITLEMENTS": ADMIN_ENTITLEMENT,
        "IMAGE_CHECK": "off",
        "MAIL_SERVER": "",
        "EVENT_STREAM_SECONDS": str(EVENT_STREAM_SECONDS),
    }


@dataclass
class Api:
    """A deployment of the service behind a test client, with tokens for each class of caller.
    `service` is the in-process EmbeddedService, or None for the production topology."""

    service: EmbeddedService | None
    client: falcon.testing.TestClient | HttpClient
    provider: LocalOpenIDProvider

    def token(self, sub: str, *, admin: bool = False, email: str | None = None, **claims) -> str:
        entitlements = (ADMIN_ENTITLEMENT,) if admin else ()
        return self.provider.mint(sub, email=email or f"{sub}@example.org", entitlements=entitlements, **claims)

    def headers(self, token: str | None) -> dict:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def register(self, sub: str, *, admin: bool = False) -> str:
        token = self.token(sub, admin=admin)
        answer = self.client.simulate_post("/users:register", headers=self.headers(token))
        assert answer.status_code == 201, answer.text
        return token

    def request(self, method: str, path: str, token: str | None = None, **kwargs) -> falcon.testing.Result:
        headers = {**self.headers(token), **kwargs.pop("headers", {})}
        return self.client.simulate_request(method, path, headers=headers, **kwargs)

    def get(self, path: str, token: str | None = None, **kwargs):
        return self.request("GET", path, token, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs):
        return self.request("POST", path, token, **kwargs)

    def put(self, path: str, token: str | None = None, **kwargs):
        return self.request("PUT", path, token, **kwargs)

    def delete(self, path: str, token: str | None = None, **kwargs):
        return self.request("DELETE", path, token, **kwargs)


@dataclass
class Callers:
    anonymous: None
    unregistered: str
    user: str
    other: str
    admin: str


def read_store_url(api: Api, request, tmp_path: Path) -> str:
    """The read store of the deployment `api` runs on: the embedded one under `tmp_path`, or the stack's."""
    if api.service is None:
        return request.getfixturevalue("production_stack").database_url
    return service_settings(tmp_path / "data", api.provider).read_store


def settled(api: Api, request) -> None:
    """The projector has applied every event (the production stack's runs on its own; the
    embedded service answers a write once it is projected)."""
    if api.service is None:
        request.getfixturevalue("production_stack").wait_until_projected(30)


def assert_equal_to_a_replay(api: Api, request, engine) -> None:
    """The read store `engine` reads equals a replay of the event log: `eosc-perf verify` on the
    production stack, a replay into a scratch store beside the embedded one."""
    if api.service is None:
        verified = request.getfixturevalue("production_stack").run_eosc_perf("verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        return
    with scratch_store(engine) as scratch:
        rebuild(EventStoreSource(api.service.store), scratch)
        assert differences(engine, scratch) == {}


@contextmanager
def statements(api: Api):
    """The SQL statements the read store runs meanwhile for requests of this thread (the
    engine the embedded API reads through), as SQLite runs them: those SQLAlchemy sends and those
    the driver runs by itself (query_service/driver_reads.py), their values written in."""
    engine = api.service.reads
    seen: list[str] = []
    requests = threading.get_ident()  # falcon's test client calls the app in this thread

    def record(statement: str) -> None:
        if threading.get_ident() == requests:
            seen.append(statement)

    def traced(dbapi_connection, *_):
        dbapi_connection.set_trace_callback(record)

    def untraced(dbapi_connection, *_):
        dbapi_connection.set_trace_callback(None)

    event.listen(engine, "checkout", traced)
    event.listen(engine, "checkin", untraced)
    try:
        yield seen
    finally:
        event.remove(engine, "checkout", traced)
        event.remove(engine, "checkin", untraced)
