"""Review bookkeeping shared by benchmarks, sites, flavors and claims: the pending submits."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from domain.actor import Actor
from read_model.rows import uploader_columns
from read_model.tables import STATUS, submits


def open_submit(conn: Connection, resource_type: str, resource_id, when, uploader: Actor) -> None:
    conn.execute(
        submits.insert().values(
            resource_id=str(resource_id),
            resource_type=resource_type,
            upload_datetime=when,
            **uploader_columns(uploader),
        )
    )


def approve(conn: Connection, table, resource_id) -> None:
    conn.execute(table.update().where(table.c.id == str(resource_id)).values(status=STATUS["approved"]))
    conn.execute(submits.delete().where(submits.c.resource_id == str(resource_id)))
