"""Lookups the command side makes in read tables, where the event store has no index."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine

from projections.tables import users


def user_finder(engine: Engine):
    """Candidates for `POST /users:remove`; each is re-checked on its aggregate before removal."""

    def find(sub: str | None, iss: str | None, email: str | None) -> list[tuple[str, str]]:
        statement = select(users.c.sub, users.c.iss)
        for column, value in ((users.c.sub, sub), (users.c.iss, iss), (users.c.email, email)):
            if value is not None:
                statement = statement.where(column == value)
        with engine.connect() as conn:
            return [(row.sub, row.iss) for row in conn.execute(statement)]

    return find
