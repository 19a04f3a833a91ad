"""The UserDirectory port (command_service/services/directory.py) on the read tables.

The read tables may lag behind the event store (another process projects them), so a
lookup first waits, boundedly, until they include every event committed before it."""

from __future__ import annotations

from typing import Callable
from uuid import UUID

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from domain.errors import Unavailable
from read_model import READ_MODEL, position_feed, read_store
from read_model.tables import claims, identity_is, users


class ReadModelUserDirectory:
    def __init__(
        self,
        engine: Engine,
        event_head: Callable[[], int],
        wait_seconds: float = 5.0,
        position: Callable[[], int] | None = None,
    ):
        """`position`: the read model's, as the process follows it (read_model/position_feed.py)."""
        self.engine = engine
        self.event_head = event_head
        self.wait_seconds = wait_seconds
        self.position = position or position_feed.feed(engine, READ_MODEL)

    def _caught_up(self) -> None:
        if not read_store.wait_for_position(self.position, self.event_head(), self.wait_seconds):
            raise Unavailable("The read model is catching up; retry shortly")

    def users(self, sub: str | None, iss: str | None, email: str | None) -> list[tuple[str, str]]:
        self._caught_up()
        statement = select(users.c.sub, users.c.iss)
        for column, value in ((users.c.sub, sub), (users.c.iss, iss), (users.c.email, email)):
            if value is not None:
                statement = statement.where(column == value)
        with self.engine.connect() as conn:
            return [(row.sub, row.iss) for row in conn.execute(statement)]

    def claims_by(self, sub: str, iss: str) -> list[tuple[UUID, UUID]]:
        self._caught_up()
        statement = select(claims.c.id, claims.c.result_id).where(
            and_(identity_is(claims.c.uploader_sub, sub), claims.c.uploader_iss == iss)
        )
        with self.engine.connect() as conn:
            return [(UUID(row.id), UUID(row.result_id)) for row in conn.execute(statement)]
