"""Small pieces every read-model handler needs: times, uploader columns, existence checks."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import and_, exists, select
from sqlalchemy.engine import Connection

from domain.actor import Actor
from projections.tables import users


def utc(value: datetime) -> datetime:
    """Read tables store naive UTC, as the original stores naive server time."""
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def uploader_columns(actor: Actor) -> dict:
    return {"uploader_sub": actor.sub, "uploader_iss": actor.iss}


def is_registered(conn: Connection, actor: Actor) -> bool:
    """An upload whose uploader was removed before it was projected is gone by the cascade."""
    return conn.execute(select(exists().where(and_(users.c.sub == actor.sub, users.c.iss == actor.iss)))).scalar()


def row_exists(conn: Connection, table, id) -> bool:
    return conn.execute(select(exists().where(table.c.id == str(id)))).scalar()
