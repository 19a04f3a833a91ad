"""Shared fixtures: a real embedded service over real SQLite stores, a real local OpenID
provider for tokens, and callers of each class the contract distinguishes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import falcon.testing
import pytest

from eosc_perf.embedded import build
from observability import logs
from tests.support.api import (
    BACKENDS,
    CLIENT_ID,
    Api,
    Callers,
    service_settings,
    stack_environment,
)
from tests.support.oidc_provider import LocalOpenIDProvider
from tests.support.production_stack import HttpClient, ProductionStack

# Fixtures of the local fakes, for every test module that names them.
pytest_plugins = [
    "tests.support.fixtures_oidc",
    "tests.support.fixtures_registry",
    "tests.support.fixtures_smtp",
    "tests.support.log_stores",  # `source` (an exported log) and `target` (an empty store of each kind)
]

# The fixtures that start parts outside this process: PostgreSQL, gunicorn and nginx (and Kafka)
# for the stacks; a served `eosc-perf serve` for the others (test_served_process, test_fuzz, and
# Chromium with it in test_swagger_ui).
STACK_FIXTURES = {"production_stack", "kafka_stack", "checked_stack", "serve", "fuzzed", "rendering"}


def needs_stack(item: pytest.Item) -> bool:
    """Whether a test runs against the production topology: through a fixture that starts it, or
    as the `postgres` variant of a test parametrized by backend (which asks for the stack inside)."""
    if STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    params = getattr(getattr(item, "callspec", None), "params", {})
    for value in params.values():
        values = value if isinstance(value, tuple) else (value,)
        if "postgres" in values:
            return True
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`pytest -m "not stack"`: the tests that need no PostgreSQL, Kafka, nginx, gunicorn, Chromium
    or served `eosc-perf` process. A test that starts one itself says so with `@pytest.mark.stack`."""
    for item in items:
        if needs_stack(item):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(autouse=True)
def logging_as_found() -> Iterator[None]:
    """A test that runs `eosc-perf` in this process (cli.main) sets up the root logger for a
    command; afterwards the suite's own threads log through pytest's capture again, not onto the
    terminal between tests."""
    yield
    root = logging.getLogger()
    for handler in [handler for handler in root.handlers if isinstance(handler, logs.StderrHandler)]:
        root.removeHandler(handler)


@pytest.fixture(scope="session")
def identity_provider() -> Iterator[LocalOpenIDProvider]:
    """One OpenID provider for the API tests (the identity tests use their own per test)."""
    with LocalOpenIDProvider(audience=CLIENT_ID) as provider:
        yield provider


@pytest.fixture(scope="session")
def production_stack(tmp_path_factory, identity_provider: LocalOpenIDProvider) -> Iterator[ProductionStack]:
    stack = ProductionStack(tmp_path_factory.mktemp("stack"), stack_environment(identity_provider)).up()
    yield stack
    stack.down()


@pytest.fixture
def embedded_api(tmp_path: Path, identity_provider: LocalOpenIDProvider) -> Iterator[Api]:
    """The embedded default only: for tests that look inside the process (event store, files)."""
    service = build(service_settings(tmp_path / "data", identity_provider))
    yield Api(service, falcon.testing.TestClient(service.app), identity_provider)
    service.close()


@pytest.fixture(params=BACKENDS)
def api(request, identity_provider: LocalOpenIDProvider) -> Iterator[Api]:
    if request.param == "embedded":
        yield request.getfixturevalue("embedded_api")
        return
    stack: ProductionStack = request.getfixturevalue("production_stack")
    fence = stack.reset()
    yield Api(None, HttpClient(stack.base_url, fence), identity_provider)


@pytest.fixture
def callers(api: Api) -> Callers:
    return Callers(
        anonymous=None,
        unregistered=api.token("nobody"),
        user=api.register("alice"),
        other=api.register("bob"),
        admin=api.register("root", admin=True),
    )
