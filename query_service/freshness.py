"""Read-your-writes: a client names the event position it has written (`X-Min-Position`
header or `min_position` argument); the read waits, boundedly, for the projection to reach it."""

from __future__ import annotations

import time
from typing import Callable
from urllib.parse import parse_qsl, urlencode

import falcon

from eosc_perf import errors

PARAMETER = "min_position"


class MinPosition:
    def __init__(self, current_position: Callable[[], int], wait_seconds: float):
        self.current_position = current_position
        self.wait_seconds = wait_seconds

    def _wanted(self, req: falcon.Request) -> int | None:
        header = req.get_header("X-Min-Position")
        pairs = parse_qsl(req.query_string, keep_blank_values=True)
        given = [value for key, value in pairs if key == PARAMETER]
        if given:  # not an argument of the operation: take it out before validation
            req.query_string = urlencode([(k, v) for k, v in pairs if k != PARAMETER])
        raw = header if header is not None else (given[0] if given else None)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise errors.message(400, f"X-Min-Position must be an integer, not {raw!r}") from None

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        wanted = self._wanted(req)
        if wanted is None:
            return
        deadline = time.monotonic() + self.wait_seconds
        pause = 0.002
        while self.current_position() < wanted:
            if time.monotonic() >= deadline:
                raise errors.ApiError(
                    503,
                    {"code": 503, "status": "Service Unavailable",
                     "errors": {"error": f"The read model has not reached event position {wanted} yet"}},
                    headers={"Retry-After": "1"},
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
