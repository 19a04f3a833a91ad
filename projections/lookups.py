"""Lookups the command side makes in read tables, where the event store has no index.
Whatever they return is re-checked on the aggregates before anything is changed.

The read tables may lag behind the event store (another process projects them), so a
lookup first waits, boundedly, until they include every event committed before it."""

from __future__ import annotations

import time
from typing import Callable
from uuid import UUID

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from eosc_perf import errors
from projections import read_store
from projections.tables import claims, users

PROJECTION = "read_model"


class Lookups:
    def __init__(self, engine: Engine, event_head: Callable[[], int], wait_seconds: float = 5.0):
        self.engine = engine
        self.event_head = event_head
        self.wait_seconds = wait_seconds

    def _caught_up(self) -> None:
        wanted = self.event_head()
        deadline = time.monotonic() + self.wait_seconds
        pause = 0.002
        while True:
            with self.engine.connect() as conn:
                if read_store.position(conn, PROJECTION) >= wanted:
                    return
            if time.monotonic() >= deadline:
                raise errors.ApiError(
                    503,
                    {"code": 503, "status": "Service Unavailable",
                     "errors": {"error": "The read model is catching up; retry shortly"}},
                    headers={"Retry-After": "1"},
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def users(self, sub: str | None, iss: str | None, email: str | None) -> list[tuple[str, str]]:
        """Candidates for `POST /users:remove`."""
        self._caught_up()
        statement = select(users.c.sub, users.c.iss)
        for column, value in ((users.c.sub, sub), (users.c.iss, iss), (users.c.email, email)):
            if value is not None:
                statement = statement.where(column == value)
        with self.engine.connect() as conn:
            return [(row.sub, row.iss) for row in conn.execute(statement)]

    def claims_by(self, sub: str, iss: str) -> list[tuple[UUID, UUID]]:
        """(claim id, result id) of the claims a user made that are not rejected."""
        self._caught_up()
        statement = select(claims.c.id, claims.c.result_id).where(
            and_(claims.c.uploader_sub == sub, claims.c.uploader_iss == iss)
        )
        with self.engine.connect() as conn:
            return [(UUID(row.id), UUID(row.result_id)) for row in conn.execute(statement)]
