"""pytest fixture: a started LocalRegistry per test (load with `pytest_plugins` or import it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.container_registry import LocalRegistry


@pytest.fixture
def container_registry() -> Iterator[LocalRegistry]:
    """A real Docker Registry v2 server on 127.0.0.1, empty and without auth; tweak it per test."""
    with LocalRegistry() as registry:
        yield registry
