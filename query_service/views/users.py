"""The caller's own registration."""

from __future__ import annotations

from sqlalchemy import and_, bindparam, select
from sqlalchemy.engine import Connection

from query_service.driver_reads import DriverRead
from read_model.tables import users

_REGISTRATION = DriverRead(
    select(users.c.doc).where(and_(users.c.sub == bindparam("sub"), users.c.iss == bindparam("iss")))
)


def registration(conn: Connection, sub: str, iss: str) -> str | None:
    """Asked by the access gate on every request with a token."""
    return _REGISTRATION.value(conn, {"sub": sub, "iss": iss})
