"""The caller's own registration."""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from read_model.tables import users


def registration(conn: Connection, sub: str, iss: str) -> str | None:
    return conn.execute(select(users.c.doc).where(and_(users.c.sub == sub, users.c.iss == iss))).scalar()
