"""Lookups the command side makes in read tables, where the event store has no index.
Whatever they return is re-checked on the aggregates before anything is changed."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from projections.tables import claims, users


class Lookups:
    def __init__(self, engine: Engine):
        self.engine = engine

    def users(self, sub: str | None, iss: str | None, email: str | None) -> list[tuple[str, str]]:
        """Candidates for `POST /users:remove`."""
        statement = select(users.c.sub, users.c.iss)
        for column, value in ((users.c.sub, sub), (users.c.iss, iss), (users.c.email, email)):
            if value is not None:
                statement = statement.where(column == value)
        with self.engine.connect() as conn:
            return [(row.sub, row.iss) for row in conn.execute(statement)]

    def claims_by(self, sub: str, iss: str) -> list[tuple[UUID, UUID]]:
        """(claim id, result id) of the claims a user made that are not rejected."""
        statement = select(claims.c.id, claims.c.result_id).where(
            and_(claims.c.uploader_sub == sub, claims.c.uploader_iss == iss)
        )
        with self.engine.connect() as conn:
            return [(UUID(row.id), UUID(row.result_id)) for row in conn.execute(statement)]
