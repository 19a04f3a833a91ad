"""Read-your-writes: a client names the event position it has written (`X-Min-Position`
header or `min_position` argument); the read waits, boundedly, for the projection to reach it.

A wait holds a server thread, so it is granted sparingly: only to a request that has passed
the checks before it (query_service/admission.py), only for a position the projection can
reach within the wait, and only to `waiters` requests of a process at once. Any other request
that would wait is answered at once: 503 with Retry-After, as a wait that ran out would be."""

from __future__ import annotations

import re
import threading
from typing import Callable
from urllib.parse import parse_qsl, urlencode

import falcon

from http_api import errors
from read_model.read_store import wait_for_position

PARAMETER = "min_position"
POSITION = re.compile(r"[0-9]{1,19}")
LARGEST = 2**63 - 1  # notification ids are PostgreSQL bigints
# Events per second, far above the fastest catch-up measured (docs/performance.md: 1,300 to
# 3,600): a position further ahead than this rate reaches within the wait is not waited for.
CATCH_UP_RATE = 100_000


def not_reached(wanted: int) -> errors.ApiError:
    return errors.retry_shortly(f"The read model has not reached event position {wanted} yet")


def too_many_waiting() -> errors.ApiError:
    return errors.retry_shortly("Too many reads are waiting for the read model; retry shortly")


def _position(raw: str) -> int:
    if POSITION.fullmatch(raw) and int(raw) <= LARGEST:
        return int(raw)
    raise errors.message(
        400, f"X-Min-Position must be an event position (a whole number from 0 to {LARGEST}), not {raw[:40]!r}"
    )


class MinPosition:
    def __init__(self, current_position: Callable[[], int], wait_seconds: float, waiters: int):
        self.current_position = current_position
        self.wait_seconds = wait_seconds
        self.reachable = CATCH_UP_RATE * wait_seconds
        self.waiting = threading.BoundedSemaphore(waiters)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Takes the position out of the query string before anything parses it: it is no
        argument of any operation."""
        pairs = parse_qsl(req.query_string, keep_blank_values=True)
        given = [value for key, value in pairs if key == PARAMETER]
        if given:
            req.query_string = urlencode([(k, v) for k, v in pairs if k != PARAMETER])
        header = req.get_header("X-Min-Position")
        req.context.min_position = header if header is not None else (given[0] if given else None)

    def wanted(self, req: falcon.Request) -> int | None:
        """The position the request waits for, or None; a value that is no position is a 400."""
        raw = req.context.get("min_position")
        return None if raw is None else _position(raw)

    def wait(self, req: falcon.Request) -> None:
        """Returns once the read model has reached the position the request names (at once when
        it names none); raises a 503 otherwise."""
        wanted = self.wanted(req)
        if wanted is None:
            return
        current = self.current_position()
        if current >= wanted:
            return
        if wanted - current > self.reachable:
            raise not_reached(wanted)
        if not self.waiting.acquire(blocking=False):
            raise too_many_waiting()
        try:
            if not wait_for_position(self.current_position, wanted, self.wait_seconds):
                raise not_reached(wanted)
        finally:
            self.waiting.release()
