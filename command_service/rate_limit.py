"""A limit on writes per user: a token bucket per (sub, iss), in this worker process.

Each authenticated write takes one token; a user's bucket holds `per_minute` tokens and refills
at `per_minute` per minute, so a burst of that size passes and then about one write every
60/per_minute seconds. A write with no token left answers 429 with Retry-After, before its
body is parsed and before anything is stored. Refused, invalid and failed writes count too:
they cost the service as much.

Counted per process: gunicorn spreads one user's requests over its workers, so with N command
workers a user may reach up to N x per_minute writes a minute (docs/security.md).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable

from http_api.errors import ApiError
from identity.tokens import Identity

FORGET_ABOVE = 10_000  # tracked users; above it the idle ones (full buckets) are forgotten


class WriteRateLimit:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0  # tokens per second
        self.clock = clock
        self.buckets: dict[tuple[str, str], tuple[float, float]] = {}  # user -> (tokens, when)
        self.lock = threading.Lock()  # gunicorn threads share a worker's buckets

    def admit(self, identity: Identity) -> None:
        """Takes one write of the user's allowance, or refuses with 429."""
        user = (identity.sub, identity.iss)
        with self.lock:
            now = self.clock()
            tokens = self._tokens(user, now)
            if tokens < 1:
                self.buckets[user] = (tokens, now)
                wait = math.ceil((1 - tokens) / self.refill)
                raise ApiError(
                    429,
                    {
                        "code": 429,
                        "status": "Too Many Requests",
                        "errors": {
                            "error": (
                                f"Too many writes: at most {self.capacity:.0f} a minute per user; retry in {wait} s"
                            )
                        },
                    },
                    headers={"Retry-After": str(wait)},
                )
            self.buckets[user] = (tokens - 1, now)
            if len(self.buckets) > FORGET_ABOVE:
                self._forget_idle(now)

    def _tokens(self, user: tuple[str, str], now: float) -> float:
        tokens, when = self.buckets.get(user, (self.capacity, now))
        return min(self.capacity, tokens + (now - when) * self.refill)

    def _forget_idle(self, now: float) -> None:
        """A full bucket is the same as none: forgetting it changes no one's allowance."""
        for user in [user for user in self.buckets if self._tokens(user, now) >= self.capacity]:
            del self.buckets[user]
