"""pytest fixture: a started LocalOpenIDProvider per test (load with `pytest_plugins` or import it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.oidc_provider import LocalOpenIDProvider


@pytest.fixture
def oidc_provider() -> Iterator[LocalOpenIDProvider]:
    """A real OpenID provider on 127.0.0.1 with a fresh key and zero hits; tweak it per test.

    Function-scoped because tests change its keys and knobs and count its hits; a fresh
    RSA key costs some tens of milliseconds.
    """
    with LocalOpenIDProvider() as provider:
        yield provider
