"""Waiting in tests: for a condition, with a deadline, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout: float = 10.0,
    what: str = "condition",
    interval: float = 0.02,
    explain: Callable[[], str] | None = None,
) -> T:
    """Polls `condition` until it returns something true, and returns that; fails the test after
    `timeout` seconds (generous: CI machines are shared and slow). `explain`: what the failure
    message should add, e.g. the state and logs of the processes waited for (a failure on a CI
    machine is often all one sees of it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout} s waiting for {what}"
            raise AssertionError(f"{message}\n{explain()}" if explain else message)
        time.sleep(interval)
