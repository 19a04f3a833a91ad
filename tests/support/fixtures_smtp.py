"""pytest fixture: a started SmtpSink per test (import it into a test module or conftest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.smtp_sink import SmtpSink


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server on a free 127.0.0.1 port, empty, accepting every recipient."""
    with SmtpSink() as sink:
        yield sink
